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


VERDICT_STYLES: Final = {"at-risk": "bold red", "unknown": "bold yellow", "restart-safe": "green"}


def _hosts_table(report: AuditReport, limit: int, console: Console) -> None:
    """The verdict per host: what an operator wants first (which hosts can be restarted now)."""
    from rich.table import Table
    from rich.text import Text

    hosts = report.host_verdicts()
    if hosts.height == 0:
        return
    counts = {v: int((hosts["verdict"] == v).sum()) for v in ("restart-safe", "at-risk", "unknown")}
    title = (
        f"Hosts: {counts['restart-safe']} restart-safe, {counts['at-risk']} at-risk, "
        f"{counts['unknown']} unknown"
    )
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("host", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("guests", justify="right", no_wrap=True)
    table.add_column("worst", no_wrap=True)
    table.add_column("judged with", overflow="fold", ratio=1)
    shown = hosts if limit <= 0 else hosts.head(limit)
    for row in shown.iter_rows(named=True):
        worst = Text("none", style="dim")
        if row["worst_severity"]:
            worst = Text(
                f"{SHORT.get(row['worst_severity'], row['worst_severity'])} ",
                style=SEVERITY_STYLES.get(row["worst_severity"], ""),
            )
            worst.append(printable(row["worst_code"]), style="")
        guests = str(row["guests"]) + (f" +{row['unreadable']}?" if row["unreadable"] else "")
        table.add_row(
            Text(printable(row["host"])),
            Text(row["verdict"], style=VERDICT_STYLES.get(row["verdict"], "")),
            guests,
            worst,
            Text(printable(_judged_with(row, report))),
        )
    console.print(table)
    if shown.height < hosts.height:
        console.print(Text(f"… {hosts.height - shown.height} more hosts (--limit 0 shows all)", style="dim"))
    if counts["unknown"]:
        console.print(
            Text("unknown: some input of the host could not be read (+N?: unreadable inputs)", style="dim")
        )


def _judged_with(row: dict[str, object], report: AuditReport) -> str:
    target = f"libvirt {report.target_libvirt or 'newest'}"
    if not (row["libvirt_version"] or row["qemu_version"]):
        return f"{target} (no host facts)"
    libvirt = f"libvirt {row['libvirt_version']}" if row["libvirt_version"] else target
    return f"{libvirt}, QEMU {row['qemu_version'] or '?'} from {row['facts_source']}"


def _header(report: AuditReport, console: Console) -> None:
    from rich.text import Text

    judged = report.judged_against()
    head = Text(f"virtaudit {report.version}", style="bold")
    head.append(
        f" · {report.files} files from {report.hosts} hosts · {report.guest_total} guests"
        f" · fail on {report.fail_on}"
    )
    if report.min_severity:
        head.append(f" · showing {report.min_severity} and above")
    console.print(head)
    console.print(Text(f"judged against: {judged['means']}"))
    if judged["warning"]:
        console.print(Text(f"warning: {judged['warning']}", style="bold yellow"))
    console.print()


def statistics(report: AuditReport) -> str:
    """Findings per rule, one line each, the most severe and most frequent first (as ``ruff
    --statistics``), then the unreadable inputs per kind."""
    import polars as pl

    by_rule = report.summary()["by_rule"].with_columns(pl.col("severity").cast(pl.String))
    lines = [
        f"{n:>7}  {printable(code):<7} {s:<8} {printable(rule)} ({guests} guests)"
        for code, rule, s, n, guests in by_rule.iter_rows()
    ]
    for kind, n in report.errors.group_by("kind").len().sort("kind").iter_rows():
        lines.append(f"{n:>7}  {'INPUT':<7} {'error':<8} {printable(kind)} (unreadable inputs)")
    if report.baseline is not None:
        lines.append(f"{report.suppressed:>7}  {'':<7} {'':<8} suppressed by the baseline")
    return "\n".join(lines) + ("\n" if lines else "")


def _repeated_names(findings: pl.DataFrame) -> bool:
    """Whether one guest name of a host stands for more than one file among ``findings`` (two sosreports
    of one host, /etc and /run): then a path column tells them apart (the host column tells hosts apart)."""
    if findings.height == 0:
        return False
    pairs = findings.select("host", "guest", "path").unique().drop_nulls("guest")
    return pairs.height > pairs.select("host", "guest").unique().height


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
    table.add_column("host", overflow="fold")
    table.add_column("guest", overflow="fold")
    with_path = _repeated_names(shown)
    if with_path:
        table.add_column("path", overflow="fold", ratio=1)
    table.add_column("code", no_wrap=True)
    table.add_column("message", ratio=2, overflow="fold")
    for row in shown.iter_rows(named=True):
        cells = [
            _sev(row["severity"]),
            Text(printable(row["host"])),
            Text(printable(row["guest"] or row["path"])),
            *([Text(printable(row["path"]))] if with_path else []),
            Text(printable(row["code"])),
            Text(printable(row["message"])),
        ]
        table.add_row(*cells)
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
        width=width or shutil.get_terminal_size((140, 24)).columns,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )
    if not quiet:
        _header(report, console)
    _hosts_table(report, limit, console)
    console.print()
    if not quiet:
        _summary_tables(report, console)
        console.print()
    _findings_table(report.findings, limit, console, report.finding_total)
    if (line := report.suppressed_line()) is not None:
        console.print(Text(printable(line), style="dim"))
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
