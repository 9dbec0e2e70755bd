"""``--output-format table``: what a person reads at a glance (rich).

A summary by severity, rule and host, then the findings that matter most (most severe first), then the
inputs that could not be read, then what the exit code means. Every value from the inputs is printed as
plain text (never interpreted as rich markup).
"""

from __future__ import annotations

import io
import shutil
from typing import IO, TYPE_CHECKING, Final

from virtaudit.reports import SEVERITIES
from virtaudit.reports._common import printable
from virtaudit.schema import SEVERITY_STYLES as SEVERITY_STYLES  # (re-export; home: virtaudit.schema)

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Console
    from rich.text import Text

    from virtaudit.reports import AuditReport

SHORT: Final = {"critical": "crit", "high": "high", "medium": "med", "low": "low", "info": "info"}
DEFAULT_LIMIT: Final = 50
TOP: Final = 12


def _sev(severity: str) -> Text:
    from rich.text import Text

    return Text(severity, style=SEVERITY_STYLES.get(severity, ""))


def _summary_tables(report: AuditReport, console: Console) -> None:
    import polars as pl
    from rich.columns import Columns
    from rich.table import Table

    counts = report.summary()
    sev = Table(title="Findings by severity", title_justify="left", show_edge=False)
    sev.add_column("severity")
    sev.add_column("findings", justify="right")
    for s, n in counts["by_severity"].select(pl.col("severity").cast(pl.String), "findings").iter_rows():
        sev.add_row(_sev(s), str(n))

    rules = Table(title="By rule", title_justify="left", show_edge=False)
    for col, just in (("code", "left"), ("rule", "left"), ("severity", "left"), ("findings", "right")):
        rules.add_column(col, justify=just)  # type: ignore[arg-type]
    by_rule = counts["by_rule"].with_columns(pl.col("severity").cast(pl.String))
    for code, rule, s, n, _g in by_rule.head(TOP).iter_rows():
        rules.add_row(printable(code), printable(rule), _sev(s), str(n))
    if by_rule.height > TOP:
        rules.add_row("…", f"{by_rule.height - TOP} more rules", "", "")

    hosts = Table(title="By host", title_justify="left", show_edge=False)
    hosts.add_column("host")
    hosts.add_column("guests", justify="right")
    hosts.add_column("with findings", justify="right")
    for s in SEVERITIES:
        hosts.add_column(SHORT[s], justify="right", style=SEVERITY_STYLES[s])
    scanned = report.guest_counts().rename({"guests": "scanned"})
    unread = report.errors.group_by("host").len("unreadable")
    by_host = (
        scanned.join(counts["by_host"], on="host", how="full", coalesce=True)
        .join(unread, on="host", how="full", coalesce=True)
        .fill_null(0)
        .sort([*SEVERITIES, "unreadable", "host"], descending=[True] * (len(SEVERITIES) + 1) + [False])
    )
    for row in by_host.head(TOP).iter_rows(named=True):
        name = printable(row["host"])
        if row["unreadable"]:
            name += f" ({row['unreadable']} unreadable)"
        hosts.add_row(
            name,
            str(row["scanned"]),
            str(row["guests"]),
            *[str(row[s]) if row[s] else "·" for s in SEVERITIES],
        )
    if by_host.height > TOP:
        hosts.add_row(f"… {by_host.height - TOP} more hosts", "", "", *[""] * len(SEVERITIES))
    console.print(Columns([sev, rules], padding=(0, 4)))
    console.print()
    console.print(hosts)


def _findings_table(findings: pl.DataFrame, limit: int, console: Console, total: int | None = None) -> None:
    """The ``limit`` most severe of ``findings``; ``total``: how many the run had (``findings`` may hold
    only the most severe of them)."""
    import polars as pl
    from rich.table import Table
    from rich.text import Text

    total = findings.height if total is None else total
    if total == 0:
        console.print(Text("No findings.", style="green"))
        return
    ordered = findings.with_columns(
        pl.col("severity")
        .replace_strict(
            {s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES), return_dtype=pl.Int32
        )
        .alias("_rank")
    ).sort(["_rank", "host", "guest", "path", "code"], nulls_last=True, maintain_order=True)
    shown = ordered if limit <= 0 else ordered.head(limit)
    title = "Findings" if shown.height == total else (f"Findings (the {shown.height} most severe of {total})")
    table = Table(title=title, title_justify="left", show_lines=False, expand=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("host", no_wrap=True, overflow="fold")
    table.add_column("guest", overflow="fold")
    table.add_column("code", no_wrap=True)
    table.add_column("message", ratio=1, overflow="fold")
    for row in shown.iter_rows(named=True):
        table.add_row(
            _sev(row["severity"]),
            Text(printable(row["host"])),
            Text(printable(row["guest"] or row["path"])),
            Text(printable(row["code"])),
            Text(printable(row["message"])),
        )
    console.print(table)
    if shown.height < total:
        console.print(
            Text(
                f"… {total - shown.height} more; --limit 0 shows all, "
                "--output-format json/csv/html gives every finding.",
                style="dim",
            )
        )


def _errors_table(errors: pl.DataFrame, limit: int, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    if errors.height == 0:
        return
    shown = errors if limit <= 0 else errors.head(limit)
    table = Table(
        title=f"Could not read ({errors.height})", title_justify="left", title_style="bold red", expand=True
    )
    table.add_column("path", overflow="fold", ratio=1)
    table.add_column("kind", no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)
    for row in shown.iter_rows(named=True):
        table.add_row(
            Text(printable(row["path"])), Text(printable(row["kind"])), Text(printable(row["message"]))
        )
    console.print(table)
    if shown.height < errors.height:
        console.print(Text(f"… {errors.height - shown.height} more unreadable inputs", style="dim"))


def render(
    report: AuditReport,
    *,
    color: bool = False,
    quiet: bool = False,
    limit: int = DEFAULT_LIMIT,
    width: int | None = None,
) -> str:
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width or max(100, shutil.get_terminal_size((140, 24)).columns),
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )
    if not quiet:
        target = report.target_libvirt or "newest"
        head = Text(f"virtaudit {report.version}", style="bold")
        head.append(
            f" · {report.files} files from {report.hosts} hosts · {report.guest_total} guests"
            f" · target libvirt {target} · fail on {report.fail_on}"
        )
        if report.min_severity:
            head.append(f" · showing {report.min_severity} and above")
        console.print(head)
        console.print()
        _summary_tables(report, console)
        console.print()
    _findings_table(report.findings, limit, console, report.finding_total)
    _errors_table(report.errors, limit, console)
    if not quiet:
        console.print()
        style = "bold red" if report.exit_code else "bold green"
        console.print(Text(report.verdict(), style=style))
    return buffer.getvalue()


def write(
    report: AuditReport,
    stream: IO[bytes],
    *,
    color: bool = False,
    quiet: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> None:
    stream.write(render(report, color=color, quiet=quiet, limit=limit).encode())
