"""``virtaudit show``: one guest's PCI tree and findings."""

from __future__ import annotations

from typing import Annotated

import typer

from virtaudit.cli import EXIT_OK, EXIT_UNREADABLE, console
from virtaudit.cli.options import (
    DEFAULT_BATCH_FILES,
    HostFactsOpt,
    HostFromDirOpt,
    HostFromOpt,
    HostNameOpt,
    HostRegexOpt,
    TargetOpt,
    check_host_from,
    check_target,
    limits,
    load_facts,
    usage_error,
)
from virtaudit.pipeline import ScanOptions, load_scan, merge_facts
from virtaudit.reports._common import printable

__all__ = ["show_command"]


def show_command(
    path: Annotated[
        str, typer.Argument(help="A status XML file (or any input `audit` takes).", show_default=False)
    ],
    guest: Annotated[
        str | None, typer.Option("--guest", "-g", help="Only the guest of this name or UUID.")
    ] = None,
    target_libvirt: TargetOpt = None,
    host_facts: HostFactsOpt = None,
    host_from: HostFromOpt = None,
    host_from_dir: HostFromDirOpt = None,
    host_name: HostNameOpt = None,
    host_regex: HostRegexOpt = None,
) -> None:
    """One guest at a glance: its PCI topology as a tree, with QEMU's bus names now and the ones libvirt
    would use after a restart, then its findings. Built from the scan tables only (no file content).

    Exit codes: 0 shown; 2 usage error or no such guest; 3 the input could not be read.
    """
    import polars as pl
    import typer

    from virtaudit import topology
    from virtaudit.auditing import audit as run_audit

    target = check_target(target_libvirt)
    host_naming = check_host_from(host_from, host_from_dir, host_name, host_regex)
    facts = load_facts(host_facts)
    options = ScanOptions(None, host_naming, limits(None, None, None), DEFAULT_BATCH_FILES, True)
    scan, recorded = load_scan([path], options)
    merged_facts = merge_facts(recorded, facts)
    domains = scan.domains
    if guest is not None:
        domains = domains.filter((pl.col("name") == guest) | (pl.col("uuid") == guest))
        if domains.height == 0 and scan.errors.height == 0:
            raise usage_error(f"no guest named {guest!r} in {printable(path)}", "--guest")
    out = console.stdout_console()
    findings = run_audit(scan, target_libvirt=target, host_facts=merged_facts)
    for doc in domains.iter_rows(named=True):
        tree = topology.render(
            scan, doc["path"], target_libvirt=target, host_facts=merged_facts, findings=findings
        )
        out.print(console.Sanitised(tree))
        out.print()
    if scan.errors.height:
        from rich.text import Text

        for err in scan.errors.iter_rows(named=True):
            line = f"could not read {err['path']}: {err['kind']}: {err['message']}"
            out.print(Text(printable(line, 10_000), style="red"))
        raise typer.Exit(EXIT_UNREADABLE)
    if domains.height == 0:
        console.warn(f"no status XML found in {path}")
    raise typer.Exit(EXIT_OK)
