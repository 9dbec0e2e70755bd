"""A report written batch by batch: what ``virtaudit audit`` uses so that its memory does not grow with
the fleet.

:class:`ReportSink` takes each batch's scan tables and findings as they come. It keeps the counts the
summaries need (:class:`~virtaudit.reports.tally.Tally`, guests per host), the unreadable inputs, and
only what the format prints row by row:

* JSON, JSONL, CSV, Parquet, SARIF, JUnit: rows spooled to temporary files as each batch arrives
  (``Spool`` of each format module), written out when the run is over;
* table and HTML: the worst ``limit`` findings (table: ``--limit``, 0 for all; HTML: 20,000), with the
  totals and how many more there are.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from virtaudit.pipeline.collect import KeptRows
from virtaudit.pipeline.inputs import detached
from virtaudit.reports import SEVERITIES, AuditReport, severity_rank

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.scanning import Scan

SPOOLED: Final = frozenset({"json", "jsonl", "csv", "parquet", "sarif", "junit", "github", "gitlab"})
"""Formats that write every finding (spooled); the others show the worst ones."""

GUEST_COLUMNS_FOR: Final = {
    "junit": ("host", "path", "guest"),
    "html": ("host", "path", "arch", "machine"),
}
"""The guest columns a format reads from each batch (JUnit: a test case per guest; HTML: the platform
chart). They are used batch by batch, never kept."""

TOP_ORDER: Final = {
    "table": ("_rank", "host", "guest", "path", "code"),
    "html": ("_rank", "host", "guest", "code"),
}


class Spool(Protocol):
    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None: ...

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None: ...


@runtime_checkable
class ShowsSuppressed(Protocol):
    """A spool that lists suppressed findings as such (SARIF: results with ``suppressions``)."""

    def add_suppressed(self, suppressed: pl.DataFrame) -> None: ...


@dataclass
class TopRows:
    """The worst ``limit`` findings seen so far, in a format's order (``limit`` 0: all of them)."""

    order: tuple[str, ...]
    limit: int
    kept: pl.DataFrame | None = None

    def add(self, findings: pl.DataFrame) -> None:
        import polars as pl

        from virtaudit.reports._spool import rank_expr

        if findings.height == 0:
            return
        if self.limit <= 0:
            frames = [] if self.kept is None else [self.kept]
            self.kept = detached(pl.concat([*frames, findings], how="vertical_relaxed"))
            return
        ranked = findings.with_columns(rank_expr().alias("_rank"))
        merged = ranked if self.kept is None else pl.concat([self.kept, ranked], how="vertical_relaxed")
        top = merged.sort(list(self.order), nulls_last=True, maintain_order=True).head(self.limit)
        self.kept = detached(top)

    def rows(self, empty: pl.DataFrame) -> pl.DataFrame:
        if self.kept is None:
            return empty
        return self.kept.drop("_rank") if "_rank" in self.kept.columns else self.kept


@dataclass
class _Output:
    """What one format keeps: spooled rows, or the worst rows."""

    fmt: str
    spool: Spool | None = None
    top: TopRows | None = None


@dataclass
class ReportSink:
    """One audit's reports, fed batch by batch (see the module docstring): one format, or several
    (``formats``: every output of ``virtaudit audit -o A -o B``, written from the one run)."""

    fmt: str
    fail_on: str = "high"
    min_severity: str | None = None
    limit: int = 50
    catalog: pl.DataFrame | None = None
    formats: tuple[str, ...] = ()
    errors: KeptRows = field(default_factory=KeptRows)
    guest_counts: dict[str | None, int] = field(default_factory=dict)
    failing: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    """Findings a baseline suppressed, per severity (at or above ``min_severity``, as the findings)."""
    _outputs: list[_Output] = field(default_factory=list)
    _tally: Any = None
    _hosts: Any = None

    def __post_init__(self) -> None:
        from virtaudit.reports.hosts import HostBook
        from virtaudit.reports.tally import Tally

        self.formats = tuple(dict.fromkeys(self.formats or (self.fmt,)))
        self._tally = Tally(platforms=[] if "html" in self.formats else None)
        self._hosts = HostBook(fail_on=self.fail_on)
        for fmt in self.formats:
            if fmt in SPOOLED:
                module = importlib.import_module(f"virtaudit.reports.{fmt}")
                self._outputs.append(
                    _Output(fmt, spool=module.Spool(fail_on=self.fail_on, catalog=self.catalog))
                )
            else:
                limit = self.limit if fmt == "table" else _html_rows()
                self._outputs.append(_Output(fmt, top=TopRows(TOP_ORDER.get(fmt, TOP_ORDER["table"]), limit)))

    @property
    def hosts(self) -> Any:
        """The per-host counts (:class:`~virtaudit.reports.hosts.HostBook`)."""
        return self._hosts

    def add(self, scan: Scan, findings: pl.DataFrame, suppressed: pl.DataFrame | None = None) -> None:
        """One batch: its tables and its findings (the contract's columns, strings); ``suppressed``: the
        findings a baseline took out of them (counted, and listed as such by SARIF)."""
        from virtaudit.reports import failing_count, guests_of

        self.errors.add(scan.errors)
        for host, n in scan.domains.group_by("host").len().iter_rows():
            self.guest_counts[host] = self.guest_counts.get(host, 0) + n
        self.failing += failing_count(findings, self.fail_on)
        self._hosts.add(scan.domains, findings, scan.errors)
        findings = self._shown(findings)
        if suppressed is not None and suppressed.height:
            # (per host before --min-severity, as the host's findings; in the summary after it, as the
            # findings there)
            self._hosts.add_suppressed(suppressed)
            self._add_suppressed(self._shown(suppressed))
        columns = tuple(dict.fromkeys(c for f in self.formats for c in GUEST_COLUMNS_FOR.get(f, ())))
        guests = guests_of(scan.domains).select(columns) if columns else None
        self._tally.add(findings, guests)
        for out in self._outputs:
            if out.spool is not None:
                needed = GUEST_COLUMNS_FOR.get(out.fmt)
                out.spool.add(findings, guests.select(needed) if guests is not None and needed else None)
            if out.top is not None:
                out.top.add(findings)

    def _shown(self, findings: pl.DataFrame) -> pl.DataFrame:
        """The findings at or above ``--min-severity``."""
        import polars as pl

        if self.min_severity is None:
            return findings
        shown = SEVERITIES[: severity_rank(self.min_severity) + 1]
        return findings.filter(pl.col("severity").is_in(shown))

    def _add_suppressed(self, suppressed: pl.DataFrame) -> None:
        for severity, n in suppressed.group_by("severity").len().iter_rows():
            self.suppressed[severity] = self.suppressed.get(severity, 0) + n
        for out in self._outputs:
            if isinstance(out.spool, ShowsSuppressed):
                out.spool.add_suppressed(suppressed)

    def report(self, fmt: str | None = None, **run: Any) -> AuditReport:
        """The report of everything added, as ``fmt`` shows it (default: the first format; ``run``:
        target_libvirt, sources, generated, version)."""
        import polars as pl

        from virtaudit.reports import empty_errors, empty_findings

        errors = self.errors.merged(empty_errors()).cast(empty_errors().schema)
        per_host = pl.DataFrame(
            {"host": list(self.guest_counts), "guests": list(self.guest_counts.values())},
            schema={"host": pl.String, "guests": pl.UInt32},
        )
        top = self._output(fmt or self.formats[0]).top
        findings = top.rows(empty_findings()) if top is not None else empty_findings()
        code = 3 if errors.height else 1 if self.failing else 0
        return AuditReport(
            findings=findings,
            errors=errors,
            guests=pl.DataFrame(schema={"host": pl.String}),
            guests_per_host=per_host,
            fail_on=self.fail_on,
            min_severity=self.min_severity,
            failing=self.failing,
            exit_code=code,
            catalog=self.catalog,
            tally=self._tally,
            host_rows=self._hosts.frame(),
            **run,
        )

    def _output(self, fmt: str) -> _Output:
        return next(out for out in self._outputs if out.fmt == fmt)

    def write(
        self, report: AuditReport, stream: IO[bytes], *, color: bool, quiet: bool, fmt: str | None = None
    ) -> None:
        """Write the report as ``fmt`` (default: the first format): the spooled rows, or the kept ones
        with the totals. Each format is written once (its spool is emptied)."""
        out = self._output(fmt or self.formats[0])
        if out.spool is not None:
            out.spool.finish(report, stream)
            return
        from virtaudit.reports import write_report

        write_report(out.fmt, report, stream, color=color, quiet=quiet, limit=self.limit)


def _html_rows() -> int:
    from virtaudit.reports.html import MAX_TABLE_ROWS

    return MAX_TABLE_ROWS
