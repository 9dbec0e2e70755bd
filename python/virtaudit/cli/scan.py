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

    from virtaudit.hostnames import HostFrom
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
    replace_hosts: Annotated[
        bool,
        typer.Option(
            "--replace-hosts",
            help="Replace a host's data even when the dataset recorded it from another input (another "
            "sosreport, files instead of an archive); without it such a host is refused (exit 3).",
        ),
    ] = False,
) -> None:
    """Scan status XML into a Parquet dataset partitioned by host, which `virtaudit audit DIR` reads.

    Tables: domains, devices, caps, live_aliases, errors (docs/schema.md), findings (the audit at
    --target-libvirt) and facts (--host-facts, or the versions a sosreport recorded). Hosts scan locally,
    one place audits: a host's partitions are replaced, other hosts' are kept, so datasets fetched from
    many hosts can share one directory. Each host's data is replaced whole when the run ends (staged
    beside it, then renamed into place), and a host the dataset recorded from another input is refused
    unless --replace-hosts. Exit codes: 0 everything was read; 2 usage error; 3 some inputs could not be
    read (listed in the errors table) or a host was refused.
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
    writer = DatasetWriter(out, covered_hosts(host_naming))
    try:
        writer.run(pieces, target_libvirt=target, facts=facts)
        writer.commit(replace=replace_hosts)
    except InputProblem as exc:
        raise usage_error(str(exc), "PATHS") from exc
    finally:
        writer.discard()
    warn_unseen_facts(facts, pieces.hosts.claims)
    console.note(
        quiet,
        f"wrote {writer.guests} guests, {writer.findings} findings and {writer.errors} unreadable "
        f"inputs from {len(writer.written)} hosts to {out}",
    )
    if writer.errors:
        console.warn(f"{writer.errors} input(s) could not be read; see {out}/errors")
    for host, before, now_from in writer.refused:
        console.warn(
            f"host {host!r}: the dataset has it from {before}, this run from {now_from}: not replaced "
            "(--replace-hosts replaces it)"
        )
    raise typer.Exit(EXIT_UNREADABLE if writer.errors or writer.refused else EXIT_OK)


def covered_hosts(host_naming: HostFrom) -> list[str]:
    """The hosts a run covers whatever it finds: a fixed host name (the default status directory, named
    after this host, or --host-name), written even with no guest so that old guests do not linger."""
    from virtaudit.hostnames import host_mode

    mode, value = host_mode(host_naming)
    return [value] if mode == "fixed" and value else []


class DatasetWriter:
    """Stages each checked batch as it comes, keeping only counts; :meth:`commit` swaps the hosts in."""

    def __init__(self, out: Path, covered: list[str]) -> None:
        from virtaudit.dataset_writer import StagedDataset

        try:
            self.staged = StagedDataset(out)
        except OSError as exc:
            raise usage_error(f"cannot write the dataset: {exc}", "--out") from exc
        self.out = out
        self.covered = covered
        self.written: set[str] = set()
        self.refused: list[tuple[str, str, str]] = []
        self.guests = self.findings = self.errors = 0
        self.per_host: dict[str, int] = {}

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
            self.staged.write(
                scan, findings=batch.findings, facts=facts_df, source=_source_of(batch.piece.source)
            )
        except OSError as exc:
            raise usage_error(f"cannot write the dataset: {exc}", "--out") from exc
        self.guests += scan.domains.height
        for host, n in scan.domains["host"].value_counts().iter_rows():
            self.per_host[host] = self.per_host.get(host, 0) + n
        self.findings += batch.findings.height
        self.errors += scan.errors.height

    def commit(self, *, replace: bool) -> None:
        from virtaudit import __version__, sources

        try:
            if missing := [h for h in self.covered if h not in self.staged.sources]:
                empty = sources.scan_from(sources.empty_tables(), ())
                findings = _empty_findings()
                self.staged.write(
                    empty, findings=findings, facts=sources.empty_facts(), source="files", extra_hosts=missing
                )
            done, self.refused = self.staged.commit(replace=replace, version=__version__)
        except OSError as exc:
            raise usage_error(f"cannot write the dataset: {exc}", "--out") from exc
        self.written = set(done)
        # (the guests of hosts refused were read, not written)
        self.guests -= sum(self.per_host.get(host, 0) for host, _b, _n in self.refused)

    def discard(self) -> None:
        self.staged.discard()


def _source_of(source: str | None) -> str:
    """The input a host's data came from, as the dataset records it: ``files``, or the absolute path of
    the archive, sosreport or dataset (so that the same input named two ways is the same input)."""
    import os

    return "files" if source is None else os.path.abspath(source)


def _empty_findings() -> pl.DataFrame:
    import polars as pl

    from virtaudit.reports import FINDINGS_COLUMNS

    return pl.DataFrame(schema={c: pl.String for c in FINDINGS_COLUMNS})
