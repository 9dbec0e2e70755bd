"""``virtaudit diff``: what changed between two scans of the same fleet."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Annotated

import typer

from virtaudit.cli import EXIT_FINDINGS, EXIT_OK, EXIT_UNREADABLE, console
from virtaudit.cli.options import (
    DEFAULT_BATCH_FILES,
    DiffFormat,
    HostFromDirOpt,
    HostFromOpt,
    HostNameOpt,
    HostRegexOpt,
    JobsOpt,
    QuietOpt,
    TargetOpt,
    check_host_from,
    check_target,
    limit_threads,
    limits,
)
from virtaudit.pipeline import ScanOptions, load_scan

__all__ = ["diff_command"]


def diff_command(
    before: Annotated[
        str, typer.Argument(help="The earlier scan: any input `audit` takes.", show_default=False)
    ],
    after: Annotated[str, typer.Argument(help="The later scan of the same fleet.", show_default=False)],
    target_libvirt: TargetOpt = None,
    host_from: HostFromOpt = None,
    host_from_dir: HostFromDirOpt = None,
    host_name: HostNameOpt = None,
    host_regex: HostRegexOpt = None,
    output_format: Annotated[DiffFormat, typer.Option("--output-format", "-f", case_sensitive=False)] = (
        DiffFormat.table
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE", dir_okay=False)] = None,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare two scans of the same fleet (say, before and after a libvirtd restart or upgrade): per
    guest, the devices, aliases and bus names that appeared, vanished or changed, and the findings that
    are new or resolved.

    Guests are matched by host and UUID (by UUID alone when a guest moved host); devices by controller
    index, PCI address, DIMM slot or alias. Exit codes: 0 no difference; 1 differences; 2 usage error;
    3 some inputs could not be read.
    """
    limit_threads(jobs)
    import typer

    from virtaudit import diffing

    target = check_target(target_libvirt)
    host_naming = check_host_from(host_from, host_from_dir, host_name, host_regex)
    options = ScanOptions(jobs, host_naming, limits(None, None, None), DEFAULT_BATCH_FILES, quiet)

    (old, old_facts), (new, new_facts) = load_scan([before], options), load_scan([after], options)
    changes = diffing.diff(old, new, target_libvirt=target)
    # The findings too: what the restart or upgrade between the two scans fixed, and what it broke.
    from virtaudit.auditing import audit
    from virtaudit.pipeline.collect import modelled_facts

    found_old = audit(old, target_libvirt=target, host_facts=modelled_facts(old_facts))
    found_new = audit(new, target_libvirt=target, host_facts=modelled_facts(new_facts))
    findings = diffing.finding_changes(found_old, found_new)
    if findings.height:
        import polars as pl

        changes = pl.concat([changes, findings], how="vertical_relaxed")
    errors = diffing.errors_of(old, new)
    fmt = output_format.value

    def write(stream: IO[bytes]) -> None:
        diffing.write(fmt, changes, errors, stream, color=console.color(output), quiet=quiet)

    console.emit(write, output)
    if errors.height:
        raise typer.Exit(EXIT_UNREADABLE)
    raise typer.Exit(EXIT_FINDINGS if changes.height else EXIT_OK)
