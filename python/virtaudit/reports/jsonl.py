"""``--output-format jsonl``: one JSON object a line (docs/findings.schema.json, ``#/$defs/line``).

Lines of ``"type": "finding"``, then ``"type": "error"`` (inputs that could not be read), then
``"type": "host"`` (each host's verdict), then one ``"type": "summary"`` line with the run's metadata and
counts.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from virtaudit.reports._common import dumps, header, host_rows, ndjson_rows
from virtaudit.reports._spool import BucketFiles, by_severity

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport


class Spool:
    """Finding lines per severity, written as the batches arrive."""

    def __init__(self, **_run: object) -> None:
        self.rows = BucketFiles()

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        for rank, part in by_severity(findings):
            lines = ndjson_rows(part, "finding")
            self.rows.write(rank, ("\n".join(lines) + "\n").encode(), len(lines))

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None:
        self.rows.copy_to(stream)
        self.rows.close()
        lines = ndjson_rows(report.errors, "error") + host_rows(report, "host")
        lines.append(dumps({"type": "summary", **header(report)}))
        stream.write(("\n".join(lines) + "\n").encode())


def render(report: AuditReport) -> str:
    import io

    buffer = io.BytesIO()
    write(report, buffer)
    return buffer.getvalue().decode()


def write(report: AuditReport, stream: IO[bytes]) -> None:
    spool = Spool()
    spool.add(report.findings)
    spool.finish(report, stream)
