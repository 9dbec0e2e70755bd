"""``--output-format csv``: the findings columns with a header row.

Inputs that could not be read follow the findings as rows with code ``INPUT``, severity ``error`` and
the error kind as the rule, so that a spreadsheet never looks clean when a file was skipped; then one row
per host with code ``HOST``, the verdict (``restart-safe``, ``at-risk``, ``unknown``) as the rule, an
empty severity and the verdict in a sentence as the message. A cell that
would start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return starts with ``'`` instead, so that
a spreadsheet shows it and never runs it as a formula.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Final

from virtaudit.reports._common import error_rows, verdict_rows
from virtaudit.reports._spool import BucketFiles, by_severity

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport


FORMULA_START: Final = r"^[=+\-@\t\r]"
"""What a spreadsheet may run as a formula at the start of a cell (OWASP, "CSV injection")."""


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """String cells that start like a formula get a leading ``'`` (OWASP's advice): shown, never run."""
    import polars as pl

    strings = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in strings
    )


def _csv(frame: pl.DataFrame, *, header: bool = False) -> bytes:
    return neutralised(frame).write_csv(include_header=header).encode()


class Spool:
    """CSV rows per severity (no header), written as the batches arrive."""

    def __init__(self, **_run: object) -> None:
        self.rows = BucketFiles()

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        for rank, part in by_severity(findings):
            self.rows.write(rank, _csv(part), part.height)

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None:
        from virtaudit.reports import empty_findings

        stream.write(_csv(empty_findings(), header=True))
        self.rows.copy_to(stream)
        self.rows.close()
        errors = error_rows(report)
        if errors.height:
            stream.write(_csv(errors))
        hosts = verdict_rows(report)
        if hosts.height:
            stream.write(_csv(hosts))


def write(report: AuditReport, stream: IO[bytes]) -> None:
    spool = Spool()
    spool.add(report.findings)
    spool.finish(report, stream)
