"""``virtaudit audit``: scan, check, report, with memory that does not grow with the fleet.

The batches come from :class:`virtaudit.pipeline.Pieces` and are checked as they arrive
(:func:`virtaudit.pipeline.audit_pieces`); the report keeps counts and spools rows
(:class:`virtaudit.reports.stream.ReportSink`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from virtaudit.cli import console
from virtaudit.cli.baselines import (
    BaselineOpt,
    NoBaselineOpt,
    ReasonOpt,
    WriteBaselineOpt,
    chosen_baseline,
    prepare_baseline,
)
from virtaudit.cli.options import (
    DEFAULT_BATCH_FILES,
    BatchOpt,
    FailOn,
    HostFactsOpt,
    HostFromDirOpt,
    HostFromOpt,
    HostNameOpt,
    HostRegexOpt,
    JobsOpt,
    MaxAgeOpt,
    MaxDepthOpt,
    MaxElementsOpt,
    MaxFileSizeOpt,
    OutputFormat,
    PathsArg,
    QuietOpt,
    Severity,
    TargetOpt,
    check_host_from,
    check_max_age,
    check_target,
    expand_paths,
    limit_threads,
    limits,
    load_facts,
    now,
    resolve_outputs,
    split_codes,
    usage_error,
    validate_codes,
    warn_unseen_facts,
)
from virtaudit.pipeline import InputProblem, Pieces, ScanOptions

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport
    from virtaudit.reports.stream import ReportSink

__all__ = ["audit_command"]


def audit_command(
    ctx: typer.Context,
    paths: PathsArg = None,
    target_libvirt: TargetOpt = None,
    host_facts: HostFactsOpt = None,
    host_from: HostFromOpt = None,
    host_from_dir: HostFromDirOpt = None,
    host_name: HostNameOpt = None,
    host_regex: HostRegexOpt = None,
    max_age: MaxAgeOpt = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            metavar="CODES",
            help="Run only these rule codes or families (PCI001, ALS, ...; repeat or separate with commas).",
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", metavar="CODES", help="Skip these rule codes or families."),
    ] = None,
    min_severity: Annotated[
        Severity | None,
        typer.Option(
            "--min-severity",
            case_sensitive=False,
            help="Report only findings at or above this severity (the exit code still counts "
            "every finding at or above --fail-on).",
        ),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            case_sensitive=False,
            help="Exit 1 when a finding is at or above this severity ('none': never).",
        ),
    ] = FailOn.high,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--output-format",
            "-f",
            case_sensitive=False,
            help="Default: table, or guessed from the --output file's suffix.",
        ),
    ] = None,
    output: Annotated[
        list[Path] | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            dir_okay=False,
            help="Write the report here instead of standard output. Repeat for several reports from "
            "the one run (-o report.html -o findings.sarif): each format follows the file's suffix.",
        ),
    ] = None,
    statistics: Annotated[
        bool,
        typer.Option(
            "--statistics",
            help="Print the number of findings per rule instead of the table (the -o reports are "
            "still written).",
        ),
    ] = False,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Table format: rows per table (0: all).")] = 50,
    baseline: BaselineOpt = None,
    no_baseline: NoBaselineOpt = False,
    write_baseline: WriteBaselineOpt = None,
    reason: ReasonOpt = None,
    max_file_size: MaxFileSizeOpt = None,
    max_depth: MaxDepthOpt = None,
    max_elements: MaxElementsOpt = None,
    batch_files: BatchOpt = DEFAULT_BATCH_FILES,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="On a hypervisor: check each PCI controller finding against the running QEMU's command "
            "line (/proc/PID/cmdline; read only, the guest is not touched or tainted) and mark it "
            "[live: confirmed|refuted|unverified].",
        ),
    ] = False,
) -> None:
    """Scan status XML and report the guests a libvirtd restart or upgrade would break."""
    started = time.monotonic()
    limit_threads(jobs)
    outputs = resolve_outputs(output_format.value if output_format else None, output or [])
    target = check_target(target_libvirt)
    host_naming = check_host_from(host_from, host_from_dir, host_name, host_regex)
    select_l, ignore_l = split_codes(select), split_codes(ignore)
    validate_codes(select_l, ignore_l)
    max_age_s = check_max_age(max_age)
    facts = load_facts(host_facts)
    scan_paths, host_naming, default = expand_paths(paths, host_naming)
    named = [*scan_paths, *(str(p) for p in [host_facts, *(output or [])] if p is not None)]
    min_sev = min_severity.value if min_severity else None
    accepted = prepare_baseline(
        chosen_baseline(baseline, no_baseline, ctx),
        write_baseline,
        reason,
        min_severity=min_sev,
        named=named,
        codes=(select_l, ignore_l),
    )
    if default:
        console.note(quiet, f"reading {scan_paths[0]} as host {host_naming!r}")
    options = ScanOptions(
        jobs,
        host_naming,
        limits(max_file_size, max_depth, max_elements),
        batch_files,
        quiet,
        audit_only=True,
        audit_targets=(target, facts),
        require_rows=not default,
        note=console.warn,
        info=lambda line: console.note(quiet, line),
        max_age=max_age_s,
        # (scanning the next batch while the rules check this one would keep two cores busy)
        prefetch=jobs != 1,
    )
    progress = console.Progress(enabled=not quiet and sys.stderr.isatty())
    # Scanning starts here, in a worker thread, while the rules (and polars) are imported below.
    pieces = Pieces(scan_paths, options, on_start=progress.start, on_batch=progress.advance)
    from virtaudit import __version__
    from virtaudit.pipeline import audit_pieces
    from virtaudit.reports.hosts import facts_origin

    if statistics and outputs == [("table", None)]:
        outputs = []  # (the statistics take the table's place on standard output)
    sink = _sink(outputs, statistics, fail_on=fail_on.value, min_severity=min_sev, limit=limit)
    given = _given_facts(host_facts, facts)
    try:
        for batch in audit_pieces(
            pieces, target_libvirt=target, facts=facts, select=select_l, ignore=ignore_l, note=console.warn
        ):
            findings = batch.findings
            if live:
                from virtaudit.live import annotate

                findings = annotate(batch.scan, findings)
            findings, suppressed = accepted.split(findings)
            sink.add(batch.scan, findings, suppressed)
            recorded = batch.piece.facts
            origin = facts_origin(batch.scan.sources) if recorded is not None else ""
            sink.hosts.add_facts(batch.facts, recorded, given, origin)
            del batch
    except InputProblem as exc:
        raise usage_error(str(exc), "PATHS") from exc
    finally:
        progress.stop()
    warn_unseen_facts(facts, pieces.hosts.claims)
    run = {
        "target_libvirt": target,
        "sources": tuple(scan_paths),
        "generated": now(),
        "version": __version__,
        "options": {"elapsed_s": f"{time.monotonic() - started:.3f}"},
        "baseline": accepted.outcome(sink.suppressed, sink.hosts.hosts),
    }
    report = _write_all(sink, outputs, run, quiet=quiet, statistics=statistics)
    accepted.write(quiet=quiet)
    raise typer.Exit(report.exit_code)


def _given_facts(host_facts: Path | None, facts: pl.DataFrame | None) -> tuple[str, frozenset[str]] | None:
    """The --host-facts file and the hosts it names (None: no such file)."""
    return (str(host_facts), frozenset(facts["host"].to_list())) if host_facts and facts is not None else None


def _sink(
    outputs: list[tuple[str, Path | None]],
    statistics: bool,
    *,
    fail_on: str,
    min_severity: str | None,
    limit: int,
) -> ReportSink:
    """The sink of every output of the run (and of the statistics, which read the table's counts)."""
    from virtaudit.catalog import rules as catalog_rules
    from virtaudit.reports.stream import ReportSink

    formats = tuple(fmt for fmt, _path in outputs) + (("table",) if statistics else ())
    return ReportSink(
        formats[0],
        fail_on=fail_on,
        min_severity=min_severity,
        limit=limit,
        catalog=catalog_rules(),
        formats=formats,
    )


def _write_all(
    sink: ReportSink,
    outputs: list[tuple[str, Path | None]],
    run: dict[str, Any],
    *,
    quiet: bool,
    statistics: bool,
) -> AuditReport:
    """Every report of the run, each from what the sink kept (the audit ran once)."""
    report = sink.report(**run)
    if report.files == 0:
        console.note(quiet, "no status XML found in the given paths")
    if (warning := report.judged_against()["warning"]) is not None:
        console.warn(f"warning: {warning}")
    if (line := report.suppressed_line()) is not None:
        console.note(False, line)  # (even with --quiet: a gate that suppresses findings says so)
    for fmt, path in outputs:
        console.emit(
            _writer(sink, sink.report(fmt, **run), fmt, color=console.color(path), quiet=quiet), path
        )
        if path is not None:
            console.note(quiet, f"wrote {fmt} report to {path}")
    if statistics:
        from virtaudit.reports.table import statistics as stats_text

        sys.stdout.write(stats_text(report))
        sys.stdout.flush()
    return report


def _writer(
    sink: ReportSink, report: AuditReport, fmt: str, *, color: bool, quiet: bool
) -> Callable[[IO[bytes]], None]:
    def write(stream: IO[bytes]) -> None:
        sink.write(report, stream, color=color, quiet=quiet, fmt=fmt)

    return write
