"""``virtaudit scan --out DIR``: the scan tables and findings as a Parquet dataset, batch by batch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from virtaudit.cli import EXIT_OK, EXIT_UNREADABLE, console
from virtaudit.cli.options import (
    DEFAULT_BATCH_FILES,
    BatchOpt,
    HostFactsOpt,
    HostFromDirOpt,
    HostFromOpt,
    HostNameOpt,
    HostRegexOpt,
    JobsOpt,
    MaxDepthOpt,
    MaxElementsOpt,
    MaxFileSizeOpt,
    PathsArg,
    QuietOpt,
    TargetOpt,
    check_host_from,
    check_target,
    expand_paths,
    limit_threads,
    limits,
    load_facts,
    usage_error,
    warn_unseen_facts,
)
from virtaudit.pipeline import InputProblem, Pieces, ScanOptions

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.pipeline import Audited

__all__ = ["scan_command"]


def scan_command(
    paths: PathsArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            file_okay=False,
            help="Write the scan tables and the findings here, partitioned by host: "
            "DIR/TABLE/host=NAME/part-0.parquet (required).",
        ),
    ] = None,
    target_libvirt: TargetOpt = None,
    host_facts: HostFactsOpt = None,
    host_from: HostFromOpt = None,
    host_from_dir: HostFromDirOpt = None,
    host_name: HostNameOpt = None,
    host_regex: HostRegexOpt = None,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
    max_file_size: MaxFileSizeOpt = None,
    max_depth: MaxDepthOpt = None,
    max_elements: MaxElementsOpt = None,
    batch_files: BatchOpt = DEFAULT_BATCH_FILES,
) -> None:
    """Scan status XML into a Parquet dataset partitioned by host, which `virtaudit audit DIR` reads.

    Tables: domains, devices, caps, live_aliases, errors (docs/schema.md), findings (the audit at
    --target-libvirt) and facts (--host-facts, or the versions a sosreport recorded). Hosts scan locally,
    one place audits: a host's partitions are replaced, other hosts' are kept, so datasets fetched from
    many hosts can share one directory. Exit codes: 0 everything was read; 2 usage error; 3 some inputs
    could not be read (listed in the errors table).
    """
    limit_threads(jobs)
    if out is None:
        raise usage_error("give the dataset directory with --out DIR", "--out")
    target = check_target(target_libvirt)
    host_naming = check_host_from(host_from, host_from_dir, host_name, host_regex)
    facts = load_facts(host_facts)
    scan_paths, host_naming, default = expand_paths(paths, host_naming)
    if default:
        console.note(quiet, f"reading {scan_paths[0]} as host {host_naming!r}")
    options = ScanOptions(
        jobs,
        host_naming,
        limits(max_file_size, max_depth, max_elements),
        batch_files,
        quiet,
        note=console.warn,
    )
    pieces = Pieces(scan_paths, options)  # (scanning starts now)
    writer = DatasetWriter(out)
    try:
        writer.run(pieces, target_libvirt=target, facts=facts)
    except InputProblem as exc:
        raise usage_error(str(exc), "PATHS") from exc
    warn_unseen_facts(facts, pieces.hosts.claims)
    console.note(
        quiet,
        f"wrote {writer.guests} guests, {writer.findings} findings and {writer.errors} unreadable "
        f"inputs from {len(writer.written)} hosts to {out}",
    )
    if writer.errors:
        console.warn(f"{writer.errors} input(s) could not be read; see {out}/errors")
    raise typer.Exit(EXIT_UNREADABLE if writer.errors else EXIT_OK)


class DatasetWriter:
    """Writes each checked batch to the dataset as it comes, keeping only counts."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: set[str] = set()
        self.part = 0
        self.guests = self.findings = self.errors = 0

    def run(self, pieces: Pieces, *, target_libvirt: str | None, facts: pl.DataFrame | None) -> None:
        from virtaudit.pipeline import audit_pieces

        for batch in audit_pieces(pieces, target_libvirt=target_libvirt, facts=facts, note=console.warn):
            self.write(batch)
            del batch

    def write(self, batch: Audited) -> None:
        import polars as pl

        from virtaudit import sources

        scan = batch.scan
        facts_df = batch.facts if batch.facts is not None else sources.empty_facts()
        hosts = set(scan.domains["host"].to_list()) | set(scan.errors["host"].to_list())
        facts_df = facts_df.filter(pl.col("host").is_in(sorted(hosts)))
        try:
            sources.write_dataset(
                self.out,
                scan,
                findings=batch.findings,
                facts=facts_df,
                part=self.part,
                fresh_hosts=self.written,
            )
        except OSError as exc:
            raise usage_error(f"cannot write the dataset: {exc}", "--out") from exc
        self.part += 1
        self.guests += scan.domains.height
        self.findings += batch.findings.height
        self.errors += scan.errors.height
