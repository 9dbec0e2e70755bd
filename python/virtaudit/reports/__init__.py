"""Reports: what ``virtaudit audit`` prints or writes, and the counts behind them.

Every format takes one :class:`AuditReport` (the findings, the inputs that could not be read, the guests
that were scanned, and how the run was judged) and writes it to a binary stream. Formats are imported on
first use so that the CLI stays quick to start.

``summary(findings)`` gives the per-severity, per-rule and per-host counts as DataFrames, for notebooks
and plots (``virtaudit.summary``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Final

# (defined in virtaudit.schema, their one home; re-exported here for the report writers)
from virtaudit.reports._common import machine_family as machine_family
from virtaudit.schema import FINDINGS_COLUMNS, SEVERITIES, severity_rank

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports.tally import Tally

__all__ = [
    "ERROR_COLUMNS",
    "FINDINGS_COLUMNS",
    "FORMATS",
    "GUEST_COLUMNS",
    "SEVERITIES",
    "AuditReport",
    "empty_errors",
    "empty_findings",
    "failing_count",
    "guests_of",
    "machine_family",
    "severity_rank",
    "summary",
    "summary_html",
    "write_report",
]

ERROR_COLUMNS: Final = ("path", "host", "kind", "message", "line", "column")

GUEST_COLUMNS: Final = ("host", "path", "guest", "uuid", "kind", "state", "arch", "machine")
"""What the reports keep of the ``domains`` table: one row per document that parsed."""

FORMATS: Final = ("table", "json", "jsonl", "csv", "parquet", "junit", "sarif", "html", "github", "gitlab")
"""``--output-format`` values; module ``virtaudit.reports.<name>`` writes each."""

BINARY_FORMATS: Final = frozenset({"parquet"})


def empty_findings() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema={c: pl.String for c in FINDINGS_COLUMNS})


def empty_errors() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(
        schema={
            "path": pl.String,
            "host": pl.String,
            "kind": pl.String,
            "message": pl.String,
            "line": pl.UInt32,
            "column": pl.UInt32,
        }
    )


def normalize_findings(findings: pl.DataFrame) -> pl.DataFrame:
    """The contract columns in order, as strings (an Enum or Categorical severity becomes a string)."""
    import polars as pl

    missing = [c for c in FINDINGS_COLUMNS if c not in findings.columns]
    if missing:
        raise ValueError(f"findings lack the columns {missing}")
    return findings.select(pl.col(c).cast(pl.String) for c in FINDINGS_COLUMNS)


def guests_of(domains: pl.DataFrame) -> pl.DataFrame:
    """The report's view of a ``domains`` table (see :data:`GUEST_COLUMNS`)."""
    import polars as pl

    return domains.select(
        pl.col("host").cast(pl.String),
        pl.col("path").cast(pl.String),
        pl.col("name").cast(pl.String).alias("guest"),
        pl.col("uuid").cast(pl.String),
        pl.col("kind").cast(pl.String),
        pl.col("state").cast(pl.String),
        pl.col("arch").cast(pl.String),
        pl.col("machine").cast(pl.String),
    )


def failing_count(findings: pl.DataFrame, fail_on: str) -> int:
    """Findings at or above ``fail_on`` (``none``: never)."""
    import polars as pl

    if fail_on == "none" or findings.height == 0:
        return 0
    levels = SEVERITIES[: severity_rank(fail_on) + 1]
    return findings.filter(pl.col("severity").cast(pl.String).is_in(levels)).height


def summary(findings: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Counts for plotting: ``by_severity`` (every severity, most severe first, zeros included),
    ``by_rule`` (code, rule, severity, findings, guests) and ``by_host`` (host, findings, guests, one
    column per severity), the most severe first."""
    import polars as pl

    f = normalize_findings(findings)
    sev_enum = pl.Enum(list(SEVERITIES))
    by_severity = (
        pl.DataFrame({"severity": list(SEVERITIES)})
        .join(
            f.group_by("severity").agg(pl.len().cast(pl.UInt32).alias("findings")), on="severity", how="left"
        )
        .with_columns(pl.col("findings").fill_null(0).cast(pl.UInt32))
        .with_columns(pl.col("severity").cast(sev_enum))
    )
    guest_key = pl.concat_str(pl.col("host"), pl.lit("\x00"), pl.col("path"))
    by_rule = (
        f.with_columns(pl.col("severity").cast(sev_enum))
        .group_by("code", "rule", "severity")
        .agg(
            pl.len().cast(pl.UInt32).alias("findings"),
            guest_key.n_unique().cast(pl.UInt32).alias("guests"),
        )
        .sort(["severity", "findings", "code"], descending=[False, True, False])
    )
    per_sev = [(pl.col("severity") == s).sum().cast(pl.UInt32).alias(s) for s in SEVERITIES]
    by_host = (
        f.group_by("host")
        .agg(
            pl.len().cast(pl.UInt32).alias("findings"),
            guest_key.n_unique().cast(pl.UInt32).alias("guests"),
            *per_sev,
        )
        .sort([*SEVERITIES, "host"], descending=[True] * len(SEVERITIES) + [False])
    )
    return {"by_severity": by_severity, "by_rule": by_rule, "by_host": by_host}


def summary_html(findings: pl.DataFrame, *, top: int = 10) -> str:
    """A compact HTML summary of findings for notebooks (``_repr_html_``): counts by severity, then the
    rules and hosts with the most findings. Every value is escaped."""
    from html import escape

    import polars as pl

    counts = summary(findings)
    colors = {
        "critical": "#7f1d1d",
        "high": "#dc2626",
        "medium": "#f59e0b",
        "low": "#3b82f6",
        "info": "#94a3b8",
    }
    sev = " ".join(
        f"<span style='background:{colors[s]};color:#fff;border-radius:9px;padding:1px 8px;margin-right:4px'>"
        f"{escape(s)} {n}</span>"
        for s, n in counts["by_severity"].select(pl.col("severity").cast(pl.String), "findings").iter_rows()
    )

    def table(df: pl.DataFrame, columns: list[str]) -> str:
        head = "".join(f"<th style='text-align:left'>{escape(c)}</th>" for c in columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
            for row in df.select(columns).head(top).iter_rows()
        )
        more = f"<tr><td colspan={len(columns)}>… {df.height - top} more</td></tr>" if df.height > top else ""
        return f"<table><tr>{head}</tr>{rows}{more}</table>"

    by_rule = counts["by_rule"].with_columns(pl.col("severity").cast(pl.String))
    return (
        f"<div><b>virtaudit findings</b>: {findings.height} in "
        f"{findings.select(pl.concat_str('host', pl.lit(chr(0)), 'path').n_unique()).item()} guests "
        f"on {findings['host'].n_unique()} hosts<div style='margin:6px 0'>{sev}</div>"
        "<div style='display:flex;gap:24px;align-items:flex-start'>"
        f"<div><b>By rule</b>{table(by_rule, ['code', 'rule', 'severity', 'findings'])}</div>"
        f"<div><b>By host</b>{table(counts['by_host'], ['host', 'findings', *SEVERITIES])}</div>"
        "</div></div>"
    )


@dataclass(frozen=True)
class AuditReport:
    """Everything a format needs to describe one audit run."""

    findings: pl.DataFrame
    """The reported findings (contract columns, strings), in the order :func:`virtaudit.audit` gave."""
    errors: pl.DataFrame
    """Inputs that could not be read (the ``errors`` table)."""
    guests: pl.DataFrame
    """One row per document that parsed: :data:`GUEST_COLUMNS`, or the ones the format uses (always
    ``host``; ``path`` and ``guest`` for JUnit; ``path``, ``arch`` and ``machine`` for HTML). Ignored for
    the counts when ``guests_per_host`` is given."""
    guests_per_host: pl.DataFrame | None = None
    """(host, guests): how many documents parsed per host, for runs that keep no row per guest (the CLI,
    for the formats that print only counts: its memory then does not grow with the fleet). None: counted
    from ``guests``."""
    fail_on: str = "high"
    target_libvirt: str | None = None
    min_severity: str | None = None
    failing: int = 0
    """Findings at or above ``fail_on`` (counted before ``min_severity`` hides any)."""
    exit_code: int = 0
    catalog: pl.DataFrame | None = None
    sources: tuple[str, ...] = ()
    generated: str = ""
    """When the report was made (ISO 8601, UTC)."""
    version: str = ""
    options: dict[str, str] = field(default_factory=dict)
    tally: Tally | None = None
    """The counts of every finding of the run, for runs that keep only some finding rows (the command
    line streams them: ``findings`` then holds only the ones a format shows, the worst first). None:
    counted from ``findings``."""
    host_rows: pl.DataFrame | None = None
    """One row per host with its verdict (:data:`virtaudit.reports.hosts.HOST_COLUMNS`), as the command
    line counted it batch by batch. None: worked out from ``findings``, ``guests`` and ``errors``."""
    baseline: dict[str, Any] | None = None
    """The baseline the run applied (``--baseline``): ``file``, ``entries``, ``suppressed`` (findings
    left out of the report, at or above ``min_severity``), ``by_severity`` (the same per severity),
    ``expired`` and ``stale`` (entries). None: no baseline."""

    def host_verdicts(self) -> pl.DataFrame:
        """Per host: ``restart-safe``, ``at-risk`` or ``unknown``, guests, the worst finding, the facts."""
        if self.host_rows is not None:
            return self.host_rows
        from virtaudit.reports.hosts import verdicts_of

        return verdicts_of(self.findings, self.guests, self.errors, self.fail_on)

    def judged_against(self) -> dict[str, object]:
        """What the run judged against: the target release, what "newest" means, any warning."""
        from virtaudit.reports.hosts import judged_against

        return judged_against(self.target_libvirt)

    def tallied(self) -> Tally:
        """The counts of every finding (see :attr:`tally`)."""
        if self.tally is not None:
            return self.tally
        from virtaudit.reports.tally import Tally

        return Tally.of(self.findings)

    @property
    def finding_total(self) -> int:
        """Findings of the run (more than ``findings.height`` when only some rows were kept)."""
        return self.tally.total if self.tally is not None else self.findings.height

    def summary(self) -> dict[str, pl.DataFrame]:
        """:func:`summary` of every finding of the run."""
        return self.tallied().summary() if self.tally is not None else summary(self.findings)

    def guest_counts(self) -> pl.DataFrame:
        """Documents parsed per host: (host, guests)."""
        if self.guests_per_host is not None:
            return self.guests_per_host
        return self.guests.group_by("host", maintain_order=True).len("guests")

    @property
    def guest_total(self) -> int:
        """Documents parsed."""
        if self.guests_per_host is not None:
            return int(self.guests_per_host["guests"].sum())
        return self.guests.height

    @property
    def files(self) -> int:
        return self.guest_total + self.errors.height

    @property
    def hosts(self) -> int:
        import polars as pl

        hosts = self.guest_counts()["host"].cast(pl.String)
        return pl.concat([hosts, self.errors["host"].cast(pl.String)]).n_unique()

    @property
    def suppressed(self) -> int:
        """Findings the baseline left out of the report (0 without one)."""
        return int(self.baseline["suppressed"]) if self.baseline is not None else 0

    def suppressed_line(self) -> str | None:
        """The baseline's effect in one sentence (None without a baseline)."""
        if self.baseline is None:
            return None
        b = self.baseline
        detail = ", ".join(f"{s} {n}" for s, n in (b.get("by_severity") or {}).items() if n)
        line = f"{b['suppressed']} finding(s) suppressed by the baseline {b['file']}"
        line += f" ({detail})" if detail else ""
        extra = [f"{b[k]} {k} entr{'y' if b[k] == 1 else 'ies'}" for k in ("expired", "stale") if b.get(k)]
        return line + ("; " + ", ".join(extra) if extra else "")

    def counts(self) -> dict[str, int]:
        import polars as pl

        tally = self.tallied()
        by_sev = {s: 0 for s in SEVERITIES}
        for sev, n in tally.keys().group_by("severity").agg(pl.col("findings").sum()).iter_rows():
            if sev in by_sev:
                by_sev[sev] = int(n)
        return {
            "files": self.files,
            "hosts": self.hosts,
            "guests": self.guest_total,
            "guests_with_findings": tally.guests_with_findings,
            "findings": tally.total,
            "failing": self.failing,
            "unreadable": self.errors.height,
            **by_sev,
            "suppressed": self.suppressed,
        }

    def verdict(self) -> str:
        """One sentence on what the exit code means (and how many findings a baseline suppressed: a
        green run with a baseline says so)."""
        text = self._verdict()
        if self.baseline is not None:
            text += f" ({self.suppressed} suppressed by the baseline)"
        return text

    def _verdict(self) -> str:
        if self.errors.height:
            return (
                f"exit 3: {self.errors.height} input(s) could not be read; the findings above cover only "
                "what could be read"
            )
        if self.failing:
            return f"exit 1: {self.failing} finding(s) at or above '{self.fail_on}'"
        if self.fail_on == "none":
            return "exit 0: --fail-on none"
        return f"exit 0: nothing at or above '{self.fail_on}'"


def write_report(
    fmt: str,
    report: AuditReport,
    stream: IO[bytes],
    *,
    color: bool = False,
    quiet: bool = False,
    limit: int | None = None,
) -> None:
    """Write ``report`` as ``fmt`` (one of :data:`FORMATS`) to a binary stream. ``color``, ``quiet``
    and ``limit`` (rows per table; 0 for all) apply to the table format only."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    module = importlib.import_module(f"virtaudit.reports.{fmt}")
    if fmt == "table":
        extra: dict[str, object] = {"color": color, "quiet": quiet}
        if limit is not None:
            extra["limit"] = limit
        module.write(report, stream, **extra)
    else:
        module.write(report, stream)
