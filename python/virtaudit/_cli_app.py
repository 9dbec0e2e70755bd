"""The commands of the ``virtaudit`` command line (see :mod:`virtaudit.cli`, which registers them).

This module is imported only when a command runs (never for ``virtaudit --version``). Typer, rich,
polars and the native core are imported inside the commands, and the annotated option types are built
once Typer is loaded (:func:`_option_types`).
"""

from __future__ import annotations

import enum
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Final

if TYPE_CHECKING:
    import polars as pl
    import typer

    from virtaudit import _core
    from virtaudit.reports import AuditReport
    from virtaudit.scanning import Scan

    # What the checker sees of the annotated option types (_option_types builds the real ones).
    PathsArg = list[str] | None
    TargetOpt = str | None
    HostFactsOpt = Path | None
    HostFromOpt = str | None
    JobsOpt = int | None
    QuietOpt = bool
    MaxFileSizeOpt = int | None
    MaxDepthOpt = int | None
    MaxElementsOpt = int | None
    BatchOpt = int

from virtaudit.cli import EXIT_FINDINGS, EXIT_OK, EXIT_UNREADABLE
from virtaudit.schema import SEVERITIES

DEFAULT_STATUS_DIR: Final = "/run/libvirt/qemu"
DEFAULT_BATCH_FILES: Final = 2000
PROGRESS_MIN_FILES: Final = 2000
"""A scan of fewer inputs than this shows no progress bar."""

SEVERITY_NAMES: Final = SEVERITIES  # (one home: virtaudit.schema)


class Severity(enum.StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class FailOn(enum.StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"
    none = "none"


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    junit = "junit"
    sarif = "sarif"
    html = "html"


class DiffFormat(enum.StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class RulesFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


# --output FILE without --output-format: the format from the file's suffix.
SUFFIX_FORMATS: Final = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".xml": "junit",
    ".junit": "junit",
    ".sarif": "sarif",
    ".html": "html",
    ".htm": "html",
    ".txt": "table",
}


# --------------------------------------------------------------------------------------------------
# helpers shared by the commands


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def _stdout_console() -> Any:
    """Standard output for people: the terminal's width, or 140 columns (at least 100) when piped."""
    import shutil

    from rich.console import Console

    width = max(100, shutil.get_terminal_size((140, 24)).columns)
    return Console(width=width, highlight=False, markup=False, emoji=False, no_color="NO_COLOR" in os.environ)


def _note(quiet: bool, message: str) -> None:
    if not quiet:
        _stderr().print(message, style="dim", soft_wrap=True)


def _warn(message: str) -> None:
    _stderr().print(message, style="yellow", soft_wrap=True)


def _usage_error(message: str, param: str | None = None) -> typer.BadParameter:
    import typer

    return typer.BadParameter(message, param_hint=param)


def _limits(max_file_size: int | None, max_depth: int | None, max_elements: int | None) -> dict[str, int]:
    from virtaudit import _core

    return {
        "max_file_size": _core.DEFAULT_MAX_FILE_SIZE if max_file_size is None else max_file_size,
        "max_depth": _core.DEFAULT_MAX_DEPTH if max_depth is None else max_depth,
        "max_elements": _core.DEFAULT_MAX_ELEMENTS if max_elements is None else max_elements,
    }


def _expand_paths(paths: list[str] | None, host_from: str | None) -> tuple[list[str], str | None, bool]:
    """Paths to scan (``-`` replaced by the lines of stdin), the host naming, and whether the default
    (the local host's status directory) was used."""
    if not paths:
        import socket

        return [DEFAULT_STATUS_DIR], host_from or socket.gethostname(), True
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.extend(line.rstrip("\r\n") for line in sys.stdin if line.strip())
        else:
            out.append(p)
    if not out:
        raise _usage_error("no paths on standard input", "PATHS")
    return out, host_from, False


def _check_target(target_libvirt: str | None) -> str | None:
    if target_libvirt is None:
        return None
    from virtaudit.versions import libvirt_label

    try:
        label = libvirt_label(target_libvirt)
    except ValueError as exc:
        raise _usage_error(str(exc), "--target-libvirt") from exc
    return None if label == "newest" else label


def _check_host_from(host_from: str | None) -> str | None:
    if host_from is None:
        return None
    from virtaudit.hostnames import host_mode

    try:
        host_mode(host_from)
    except ValueError as exc:
        raise _usage_error(str(exc), "--host-from") from exc
    return host_from


def _split_codes(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part for v in values for part in v.replace(",", " ").split() if part]


def _load_facts(path: Path | None) -> pl.DataFrame | None:
    if path is None:
        return None
    from virtaudit.auditing import load_host_facts

    try:
        facts = load_host_facts(path)
    except (OSError, ValueError) as exc:
        raise _usage_error(f"{path}: {exc}", "--host-facts") from exc
    except Exception as exc:  # polars' parse errors
        raise _usage_error(f"{path}: cannot read host facts: {exc}", "--host-facts") from exc
    return facts.select("host", "libvirt_version", "qemu_version")


def _merge_facts(recorded: pl.DataFrame | None, given: pl.DataFrame | None) -> pl.DataFrame | None:
    """Facts a source recorded (sosreport packages, a dataset's facts), overridden by --host-facts."""
    import polars as pl

    frames = [
        f.select("host", "libvirt_version", "qemu_version")
        for f in (recorded, given)
        if f is not None and f.height
    ]
    if not frames:
        return None
    merged = pl.concat([f.cast(pl.String) for f in frames], how="vertical_relaxed")
    return merged.unique(subset=["host"], keep="last", maintain_order=True)


@dataclass
class ScanOptions:
    jobs: int | None
    host_from: str | None
    limits: dict[str, int]
    batch_files: int = DEFAULT_BATCH_FILES
    quiet: bool = False
    audit_only: bool = False
    """The batches only feed the rules: the caps flags no rule reads are dropped as each batch arrives."""
    prefetch: bool = False
    """Scan the next batch in a background thread while the consumer works on this one (see
    :class:`PlainScan`): two batches are alive at once instead of one."""


def _limit_threads(jobs: int | None) -> None:
    """``--jobs`` caps polars' thread pool too (the rules' queries), not only the scan's: an operator
    who asks for one thread on a busy hypervisor means the whole command. polars sizes its pool once,
    from ``POLARS_MAX_THREADS``, when it is first imported, so every command that takes ``--jobs`` calls
    this before anything imports polars. (In a process that has imported polars already, such as a test
    runner's, it cannot take effect and changes nothing.)"""
    if jobs is not None and "polars" not in sys.modules:
        os.environ["POLARS_MAX_THREADS"] = str(jobs)


def _caps_flags_used() -> list[str] | None:
    """The caps rows an audit keeps; None: all (a rule reads every flag, see ALL_CAPS_FLAGS)."""
    from virtaudit.catalog import CAPS_FLAGS_USED
    from virtaudit.schema import ALL_CAPS_FLAGS

    return None if ALL_CAPS_FLAGS in CAPS_FLAGS_USED else list(CAPS_FLAGS_USED)


def _for_audit(scan: Scan) -> Scan:
    """``scan`` without the caps rows no rule reads (copied out, so the full table's memory goes now).

    The caps table holds a couple of hundred flags per status file, more than half of a batch's memory,
    and the rules read only :data:`virtaudit.catalog.CAPS_FLAGS_USED`.
    """
    import dataclasses

    import polars as pl

    flags = _caps_flags_used()
    if flags is None:
        return scan
    caps = _detached(scan.caps.filter(pl.col("flag").is_in(flags)))
    return dataclasses.replace(scan, caps=caps)


@dataclass
class Piece:
    """One batch of a scan: tables, and the host facts its source recorded."""

    scan: Scan
    facts: pl.DataFrame | None = None


@dataclass
class Progress:
    """A rich progress bar on stderr, only on a terminal and for large scans."""

    enabled: bool
    total: int = 0
    _bar: Any = None
    _task: Any = None

    def start(self, total: int) -> None:
        self.total = total
        if not self.enabled or total < PROGRESS_MIN_FILES:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=_stderr(),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("scan", total=total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class PlainScan:
    """The core's batch scan of plain files and directories, begun when it is made.

    The first batch is scanned in a worker thread at once, so that it overlaps whatever the caller does
    meanwhile: an audit imports polars and the rules (about 0.35 s, as long as scanning a few thousand
    files takes), and the core runs with the GIL released. With ``prefetch`` the
    second batch follows the first (the import outlasts one 2,000-file batch), and from then on batch k+1
    is scanned while the consumer works on batch k (polars' queries release the GIL too). Without it,
    each later batch is scanned when asked for. One worker makes one scan at a time, and none starts
    while two batches are alive (the consumer's and one waiting or being built); the scanner is never
    used by two threads at once.
    """

    def __init__(
        self, scanner: _core.Scanner, batch_files: int, sources: tuple[str, ...], *, prefetch: bool
    ) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self._scanner = scanner
        self._batch_files = batch_files
        self._sources = sources
        self._prefetch = prefetch
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="virtaudit-scan")
        self._pending: deque[Future[Any]] = deque([self._pool.submit(self._next_tables)])
        if prefetch:
            self._pending.append(self._pool.submit(self._next_tables))

    def _next_tables(self) -> Any:
        return self._scanner.next_batch(self._batch_files)

    def __iter__(self) -> Iterator[Scan]:
        from virtaudit.scanning import scan_of_tables

        try:
            while self._pending:
                tables = self._pending.popleft().result()
                if tables is None:
                    return
                # The frames take the core's tables over without copying; once they hold them nothing
                # else does (dropped before the next scan starts).
                batch = scan_of_tables(tables, self._sources)
                del tables
                if self._prefetch and not self._pending:
                    self._pending.append(self._pool.submit(self._next_tables))
                yield batch
                del batch
                if not self._prefetch:
                    self._pending.append(self._pool.submit(self._next_tables))
        finally:
            self.close()

    def close(self) -> None:
        """Stop scanning: waits for the batch in flight (a scan cannot be interrupted), starts no other."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class Pieces:
    """Scan ``paths`` batch by batch: plain files and directories through the core's batch scanner
    (memory bounded by ``batch_files``), then archives and datasets one source at a time.

    The plain files' scan starts when this is made (see :class:`PlainScan`): make it before importing
    polars and the rules, and check the arguments before making it.
    """

    def __init__(self, paths: list[str], options: ScanOptions) -> None:
        from virtaudit import sources

        self._options = options
        plain: list[str] = []
        self._special: list[Path] = []
        for p in paths:
            if p and sources.is_special(Path(p)):
                self._special.append(Path(p))
            elif p:
                plain.append(p)
        self._plain: PlainScan | None = None
        self._input_count = 0
        if plain:
            # The scanner is made in this thread (its walk lists the inputs): made in the scan's worker, it
            # raised the peak memory of large audits (150,000 files: 200 MB instead of 190, measured), as
            # if the walk's memory stayed in the worker's allocator arena.
            scanner = _open_scanner(plain, options)
            # (read now: once scanning, the scanner is held by the scan in flight, and the core refuses any
            # other call on it meanwhile)
            self._input_count = scanner.input_count
            self._plain = PlainScan(scanner, options.batch_files, tuple(plain), prefetch=options.prefetch)

    def __iter__(self) -> Iterator[Piece]:
        from virtaudit import sources

        options = self._options
        progress = Progress(enabled=not options.quiet and sys.stderr.isatty())
        try:
            if self._plain is not None:
                progress.start(self._input_count)
                for batch in self._plain:
                    progress.advance(batch.files)
                    yield Piece(batch)
                    # Not kept once the consumer is done with it (it drops its own reference too): a batch
                    # lives while the rules run on it and, with prefetch, the next one is scanned.
                    del batch
            progress.stop()
            for path in self._special:
                try:
                    source = sources.read_special(
                        path, jobs=options.jobs, host_from=options.host_from, **options.limits
                    )
                except ValueError as exc:  # a dataset of another schema version, unreadable metadata
                    raise _usage_error(str(exc), "PATHS") from exc
                piece = Piece(source.scan, source.facts if source.facts.height else None)
                del source
                if options.audit_only:
                    piece.scan = _for_audit(piece.scan)
                yield piece
                del piece
        finally:
            progress.stop()
            if self._plain is not None:
                self._plain.close()


def _open_scanner(paths: list[str], options: ScanOptions) -> _core.Scanner:
    """The core's batch scanner of ``paths`` (its walk has listed the inputs)."""
    from virtaudit import _core
    from virtaudit.hostnames import host_mode

    mode, value = host_mode(options.host_from)
    # For an audit the core keeps only the caps rows the rules read: the rest are never built.
    caps_flags = _caps_flags_used() if options.audit_only else None
    return _core.Scanner(
        paths,
        jobs=options.jobs,
        host_mode=mode,
        host_value=value,
        caps_flags=caps_flags,
        **options.limits,
    )


def _load_scan(paths: list[str], options: ScanOptions) -> tuple[Scan, pl.DataFrame | None]:
    """All of a (small) scan in memory, and the host facts its sources recorded."""
    import polars as pl

    from virtaudit import sources
    from virtaudit.scanning import Scan

    scan: Scan | None = None
    facts: list[pl.DataFrame] = []
    for piece in Pieces(paths, options):
        scan = piece.scan if scan is None else scan.concat(piece.scan)
        if piece.facts is not None:
            facts.append(piece.facts)
    if scan is None:
        scan = Scan.from_tables(sources.empty_tables(), tuple(paths))
    return scan, (pl.concat(facts, how="vertical_relaxed") if facts else None)


# The guest columns each format needs beyond the per-host counts: one row per guest is kept for the whole
# run only for these formats (they print a line per guest); the others keep counters, so that memory does
# not grow with the number of files.
GUEST_COLUMNS_FOR: Final = {
    "junit": ("host", "path", "guest"),
    "html": ("host", "path", "arch", "machine"),
}


def _detached(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its strings copied out of the scan batch they were selected from.

    Polars strings are views into shared buffers, so a few findings of a batch would keep all of its text
    alive until the report is written: thousands of batches' worth on a large fleet. Concatenating each
    string column with nothing writes new buffers holding only these rows (nulls stay null).
    """
    import polars as pl

    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(pl.concat_str(pl.col(name), pl.lit("")).alias(name) for name in strings)


MERGE_EVERY: Final = 32
"""Kept frames are merged into one every this many batches (see :class:`KeptRows`)."""


@dataclass
class KeptRows:
    """Rows kept from batch after batch, copied out of their batches.

    Every small frame owns buffers of its own (tens of KB, whatever its few rows need), so one frame per
    batch would grow by that much per batch over thousands of batches: they are merged into one frame
    every :data:`MERGE_EVERY` batches.
    """

    frames: list[pl.DataFrame] = field(default_factory=list)

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        self.frames.append(_detached(frame))
        if len(self.frames) >= MERGE_EVERY:
            self.frames = [self.merged()]

    def merged(self, empty: pl.DataFrame | None = None) -> pl.DataFrame:
        """All rows in one frame (``empty`` gives the schema when there are none)."""
        import polars as pl

        frames = self.frames if empty is None else [empty, *self.frames]
        return _detached(pl.concat(frames, how="vertical_relaxed"))


@dataclass
class Collected:
    """What the batches leave for the report: findings and unreadable inputs (copied out of their
    batches), guest counts per host, and guest rows only when ``guest_columns`` asks for them."""

    findings: KeptRows = field(default_factory=KeptRows)
    errors: KeptRows = field(default_factory=KeptRows)
    guests: KeptRows = field(default_factory=KeptRows)
    guest_counts: dict[str | None, int] = field(default_factory=dict)
    guest_columns: tuple[str, ...] | None = None
    """Columns of the guest rows to keep (None: counts only)."""

    def add(self, scan: Scan, findings: pl.DataFrame) -> None:
        self.findings.add(findings)
        self.errors.add(scan.errors)
        for host, n in scan.domains.group_by("host").len().iter_rows():
            self.guest_counts[host] = self.guest_counts.get(host, 0) + n
        if self.guest_columns is not None:
            from virtaudit.reports import guests_of

            self.guests.add(guests_of(scan.domains).select(self.guest_columns))

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Findings, errors and guest rows (only the ``host`` column, empty, when no rows were kept)."""
        import polars as pl

        from virtaudit.reports import empty_errors, empty_findings

        findings = self.findings.merged(empty_findings())
        errors = self.errors.merged(empty_errors()).cast(empty_errors().schema)
        columns = self.guest_columns or ("host",)
        guests = self.guests.merged(pl.DataFrame(schema=dict.fromkeys(columns, pl.String)))
        return findings, errors, guests

    def guests_per_host(self) -> pl.DataFrame:
        """(host, guests), in the order hosts were first seen."""
        import polars as pl

        return pl.DataFrame(
            {"host": list(self.guest_counts), "guests": list(self.guest_counts.values())},
            schema={"host": pl.String, "guests": pl.UInt32},
        )

    @property
    def guest_total(self) -> int:
        return sum(self.guest_counts.values())


def _audit_pieces(
    pieces: Iterable[Piece],
    *,
    target_libvirt: str | None,
    facts: pl.DataFrame | None,
    select: list[str] | None,
    ignore: list[str] | None,
    each: Callable[[Piece, pl.DataFrame, pl.DataFrame | None], None] | None = None,
    guest_columns: tuple[str, ...] | None = None,
) -> Collected:
    from virtaudit.auditing import audit as run_audit
    from virtaudit.reports import normalize_findings

    out = Collected(guest_columns=guest_columns)
    for piece in pieces:
        host_facts = _merge_facts(piece.facts, facts)
        found = normalize_findings(
            run_audit(
                piece.scan, target_libvirt=target_libvirt, host_facts=host_facts, select=select, ignore=ignore
            )
        )
        if each is not None:
            each(piece, found, host_facts)
        out.add(piece.scan, found)
        # Release this batch before the generator builds another (with prefetch, the next one is already
        # being scanned: see PlainScan).
        del piece, found
    return out


def _sort_findings(findings: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    from virtaudit.reports import SEVERITIES

    rank = pl.col("severity").replace_strict(
        {s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES), return_dtype=pl.Int32
    )
    return findings.sort(rank, "host", "path", "code", maintain_order=True)


def _open_output(output: Path | None) -> IO[bytes]:
    if output is None:
        return sys.stdout.buffer
    try:
        return output.open("wb")
    except OSError as exc:
        raise _usage_error(f"cannot write {output}: {exc.strerror or exc}", "--output") from exc


def _emit(write: Callable[[IO[bytes]], None], output: Path | None) -> None:
    stream = _open_output(output)
    try:
        write(stream)
        stream.flush()
    finally:
        if output is not None:
            stream.close()


def _resolve_format(output_format: str | None, output: Path | None, choices: tuple[str, ...]) -> str:
    if output_format is not None:
        return output_format
    if output is not None:
        guessed = SUFFIX_FORMATS.get(output.suffix.lower())
        if guessed in choices:
            return guessed
    return "table"


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _color(output: Path | None) -> bool:
    return output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _validate_codes(select: list[str] | None, ignore: list[str] | None) -> None:
    from virtaudit.catalog import select_codes

    try:
        select_codes(select, ignore)
    except ValueError as exc:
        raise _usage_error(str(exc), "--select/--ignore") from exc


# --------------------------------------------------------------------------------------------------
# commands


def _version_callback(value: bool) -> None:
    if value:
        import typer

        from virtaudit import __version__

        typer.echo(f"virtaudit {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="Print the version and exit.", callback=_version_callback, is_eager=True
        ),
    ] = False,
) -> None:
    """Find the running libvirt guests that a libvirtd restart or upgrade would break.

    virtaudit reads libvirt's status XML (/run/libvirt/qemu/GUEST.xml), directly, from archives
    (sosreports, tarballs, zips) or from Parquet datasets written by `virtaudit scan --out`, and runs a
    catalog of rules over it.
    """


def _option_types() -> dict[str, Any]:
    """The annotated parameter types shared by the commands, built once Typer is imported (the command
    signatures name them in string annotations, resolved in this module's globals)."""
    import typer

    PathsArg = Annotated[
        list[str] | None,
        typer.Argument(
            help="Status XML files, directories (searched for *.xml), glob patterns, archives (.tar, "
            ".tar.gz, .tar.xz, .zip, sosreports) or datasets written by `virtaudit scan --out`. `-` reads "
            "paths from standard input, one a line. Default: /run/libvirt/qemu, named after this host.",
            show_default=False,
            metavar="PATHS...",
        ),
    ]
    TargetOpt = Annotated[
        str | None,
        typer.Option(
            "--target-libvirt",
            metavar="X.Y.Z",
            help="The libvirt release that will read the files after the restart or upgrade "
            "(default: the newest behaviour known). A host's own version in --host-facts wins.",
        ),
    ]
    HostFactsOpt = Annotated[
        Path | None,
        typer.Option(
            "--host-facts",
            metavar="FILE",
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV or JSON of host, libvirt_version, qemu_version. Overrides the versions a "
            "sosreport or dataset recorded.",
        ),
    ]
    HostFromOpt = Annotated[
        str | None,
        typer.Option(
            "--host-from",
            metavar="parent|grandparent|REGEX|NAME",
            help="How to name each file's host: its parent directory (default), the directory above, "
            "the one capture group of a regular expression applied to the path, or a fixed name.",
        ),
    ]
    JobsOpt = Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Threads of the scan, and of polars for the rules (default: one per core). "
            "-j 1 keeps an audit on one core: it scans and checks in turn.",
        ),
    ]
    QuietOpt = Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress bar or notes on stderr; the table "
            "format prints only findings and unreadable inputs.",
        ),
    ]
    MaxFileSizeOpt = Annotated[
        int | None,
        typer.Option(
            "--max-file-size",
            min=1,
            metavar="BYTES",
            help="Larger files are not read (an error row). Default 64 MiB.",
        ),
    ]
    MaxDepthOpt = Annotated[
        int | None, typer.Option("--max-depth", min=1, help="Deepest XML nesting accepted. Default 256.")
    ]
    MaxElementsOpt = Annotated[
        int | None,
        typer.Option("--max-elements", min=1, help="Most XML elements per file. Default 1,000,000."),
    ]
    BatchOpt = Annotated[
        int,
        typer.Option("--batch-files", min=1, hidden=True, help="Files scanned per batch (bounds memory)."),
    ]
    return {
        "PathsArg": PathsArg,
        "TargetOpt": TargetOpt,
        "HostFactsOpt": HostFactsOpt,
        "HostFromOpt": HostFromOpt,
        "JobsOpt": JobsOpt,
        "QuietOpt": QuietOpt,
        "MaxFileSizeOpt": MaxFileSizeOpt,
        "MaxDepthOpt": MaxDepthOpt,
        "MaxElementsOpt": MaxElementsOpt,
        "BatchOpt": BatchOpt,
    }


def audit_command(
    paths: PathsArg = None,
    target_libvirt: TargetOpt = None,
    host_facts: HostFactsOpt = None,
    host_from: HostFromOpt = None,
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
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            dir_okay=False,
            help="Write the report here instead of standard output.",
        ),
    ] = None,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Table format: rows per table (0: all).")] = 50,
    max_file_size: MaxFileSizeOpt = None,
    max_depth: MaxDepthOpt = None,
    max_elements: MaxElementsOpt = None,
    batch_files: BatchOpt = DEFAULT_BATCH_FILES,
) -> None:
    """Scan status XML and report the guests a libvirtd restart or upgrade would break."""
    _limit_threads(jobs)
    import typer

    fmt = _resolve_format(output_format.value if output_format else None, output, tuple(OutputFormat))
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise _usage_error("Parquet is binary: give --output FILE or redirect standard output", "--output")
    target = _check_target(target_libvirt)
    host_from = _check_host_from(host_from)
    select_l, ignore_l = _split_codes(select), _split_codes(ignore)
    _validate_codes(select_l, ignore_l)
    facts = _load_facts(host_facts)
    scan_paths, host_naming, default = _expand_paths(paths, host_from)
    if default:
        _note(quiet, f"reading {DEFAULT_STATUS_DIR} as host {host_naming!r}")
    options = ScanOptions(
        jobs,
        host_naming,
        _limits(max_file_size, max_depth, max_elements),
        batch_files,
        quiet,
        audit_only=True,
        # (scanning the next batch while the rules check this one would keep two cores busy)
        prefetch=jobs != 1,
    )
    # Scanning starts here, in a worker thread, while the rules (and polars) are imported below.
    pieces = Pieces(scan_paths, options)
    collected = _audit_pieces(
        pieces,
        target_libvirt=target,
        facts=facts,
        select=select_l,
        ignore=ignore_l,
        guest_columns=GUEST_COLUMNS_FOR.get(fmt),
    )
    report = build_report(
        collected,
        fail_on=fail_on.value,
        min_severity=min_severity.value if min_severity else None,
        target_libvirt=target,
        sources=tuple(scan_paths),
    )
    if report.files == 0:
        _note(quiet, "no status XML found in the given paths")
    from virtaudit.reports import write_report

    _emit(lambda s: write_report(fmt, report, s, color=_color(output), quiet=quiet, limit=limit), output)
    if output is not None:
        _note(quiet, f"wrote {fmt} report to {output}")
    raise typer.Exit(report.exit_code)


def build_report(
    collected: Collected,
    *,
    fail_on: str,
    min_severity: str | None,
    target_libvirt: str | None,
    sources: tuple[str, ...] = (),
) -> AuditReport:
    """The report and its exit code from everything the batches produced."""
    import polars as pl

    from virtaudit import __version__
    from virtaudit.catalog import rules as catalog_rules
    from virtaudit.reports import SEVERITIES, AuditReport, failing_count, severity_rank

    findings, errors, guests = collected.frames()
    findings = _sort_findings(findings)
    # Guest rows, where kept, are the counts' source; otherwise the counts kept batch by batch are.
    per_host = None if collected.guest_columns is not None else collected.guests_per_host()
    failing = failing_count(findings, fail_on)
    if min_severity is not None:
        findings = findings.filter(pl.col("severity").is_in(SEVERITIES[: severity_rank(min_severity) + 1]))
    if errors.height:
        code = EXIT_UNREADABLE
    elif failing:
        code = EXIT_FINDINGS
    else:
        code = EXIT_OK
    return AuditReport(
        findings=findings,
        errors=errors,
        guests=guests,
        guests_per_host=per_host,
        fail_on=fail_on,
        target_libvirt=target_libvirt,
        min_severity=min_severity,
        failing=failing,
        exit_code=code,
        catalog=catalog_rules(),
        sources=sources,
        generated=_now(),
        version=__version__,
    )


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
    _limit_threads(jobs)
    import typer

    from virtaudit import sources

    if out is None:
        raise _usage_error("give the dataset directory with --out DIR", "--out")
    target = _check_target(target_libvirt)
    host_from = _check_host_from(host_from)
    facts = _load_facts(host_facts)
    scan_paths, host_naming, default = _expand_paths(paths, host_from)
    if default:
        _note(quiet, f"reading {DEFAULT_STATUS_DIR} as host {host_naming!r}")
    options = ScanOptions(
        jobs, host_naming, _limits(max_file_size, max_depth, max_elements), batch_files, quiet
    )
    pieces = Pieces(scan_paths, options)  # (scanning starts now)
    written: set[str] = set()
    counter = {"part": 0}

    def write_piece(piece: Piece, found: pl.DataFrame, host_facts: pl.DataFrame | None) -> None:
        import polars as pl

        facts_df = host_facts if host_facts is not None else sources.empty_facts()
        hosts = set(piece.scan.domains["host"].to_list()) | set(piece.scan.errors["host"].to_list())
        facts_df = facts_df.filter(pl.col("host").is_in(sorted(hosts)))
        try:
            sources.write_dataset(
                out, piece.scan, findings=found, facts=facts_df, part=counter["part"], fresh_hosts=written
            )
        except OSError as exc:
            raise _usage_error(f"cannot write the dataset: {exc}", "--out") from exc
        counter["part"] += 1

    collected = _audit_pieces(
        pieces,
        target_libvirt=target,
        facts=facts,
        select=None,
        ignore=None,
        each=write_piece,
    )
    findings, errors, _guests = collected.frames()
    _note(
        quiet,
        f"wrote {collected.guest_total} guests, {findings.height} findings and {errors.height} unreadable "
        f"inputs from {len(written)} hosts to {out}",
    )
    if errors.height:
        _warn(f"{errors.height} input(s) could not be read; see {out}/errors")
    raise typer.Exit(EXIT_UNREADABLE if errors.height else EXIT_OK)


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
) -> None:
    """One guest at a glance: its PCI topology as a tree, with QEMU's bus names now and the ones libvirt
    would use after a restart, then its findings. Built from the scan tables only (no file content).

    Exit codes: 0 shown; 2 usage error or no such guest; 3 the input could not be read.
    """
    import polars as pl
    import typer

    from virtaudit import topology
    from virtaudit.auditing import audit as run_audit

    target = _check_target(target_libvirt)
    host_from = _check_host_from(host_from)
    facts = _load_facts(host_facts)
    options = ScanOptions(None, host_from, _limits(None, None, None), DEFAULT_BATCH_FILES, True)
    scan, recorded = _load_scan([path], options)
    merged_facts = _merge_facts(recorded, facts)
    domains = scan.domains
    if guest is not None:
        domains = domains.filter((pl.col("name") == guest) | (pl.col("uuid") == guest))
        if domains.height == 0 and scan.errors.height == 0:
            raise _usage_error(f"no guest named {guest!r} in {path}", "--guest")
    console = _stdout_console()
    findings = run_audit(scan, target_libvirt=target, host_facts=merged_facts)
    for doc in domains.iter_rows(named=True):
        console.print(
            topology.render(
                scan, doc["path"], target_libvirt=target, host_facts=merged_facts, findings=findings
            )
        )
        console.print()
    if scan.errors.height:
        from rich.text import Text

        for err in scan.errors.iter_rows(named=True):
            console.print(Text(f"could not read {err['path']}: {err['kind']}: {err['message']}", style="red"))
        raise typer.Exit(EXIT_UNREADABLE)
    if domains.height == 0:
        _warn(f"no status XML found in {path}")
    raise typer.Exit(EXIT_OK)


def rules_command(
    output_format: Annotated[RulesFormat, typer.Option("--output-format", "-f", case_sensitive=False)] = (
        RulesFormat.table
    ),
) -> None:
    """The rule catalog: every code, its name, severities and affected versions."""
    import polars as pl

    from virtaudit.catalog import rules as catalog_rules

    catalog = catalog_rules()
    fmt = output_format.value
    if fmt == "json":
        sys.stdout.write(catalog.write_json() + "\n")
        return
    if fmt == "csv":
        flat = catalog.with_columns(
            pl.col(c).list.join(",") for c, t in catalog.schema.items() if isinstance(t, pl.List)
        )
        sys.stdout.write(flat.write_csv())
        return
    from rich.table import Table
    from rich.text import Text

    from virtaudit.reports.table import SEVERITY_STYLES

    table = Table(
        title="virtaudit rules (`virtaudit explain CODE` for details)", title_justify="left", expand=True
    )
    table.add_column("code", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("severities", no_wrap=True)
    table.add_column("scope", no_wrap=True)
    table.add_column("affected", ratio=1)
    for row in catalog.iter_rows(named=True):
        sev = Text()
        for i, s in enumerate(row.get("severities") or []):
            if i:
                sev.append(", ")
            sev.append(s, style=SEVERITY_STYLES.get(s, ""))
        table.add_row(
            row["code"], row["name"], sev, str(row.get("scope") or ""), Text(str(row.get("affected") or ""))
        )
    _stdout_console().print(table)


def explain_command(
    code: Annotated[
        str, typer.Argument(help="A rule code (PCI001) or name (root-user-alias).", show_default=False)
    ],
) -> None:
    """Why a rule's hazard breaks guests, the evidence, the affected versions, and what to do."""
    import polars as pl
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    from virtaudit.catalog import rules as catalog_rules

    catalog = catalog_rules()
    match = catalog.filter(
        (pl.col("code") == code.strip().upper()) | (pl.col("name") == code.strip().lower())
    )
    if match.height == 0:
        known = ", ".join(catalog["code"].to_list())
        raise _usage_error(f"unknown rule {code!r}; known codes: {known}", "CODE")
    row = match.row(0, named=True)
    sections: list[Any] = []
    for title, key in (
        ("Severity", "severity_logic"),
        ("Why it breaks", "why"),
        ("Affected versions", "affected"),
        ("Evidence", "evidence"),
        ("What to do", "remediation"),
        ("Message", "message"),
    ):
        value = row.get(key)
        if value:
            sections.append(Text(title, style="bold"))
            sections.append(Text(str(value)))
            sections.append(Text(""))
    heading = (
        f"{row['code']} {row['name']}  ({', '.join(row.get('severities') or [])}; scope {row.get('scope')})"
    )
    _stdout_console().print(
        Panel(Group(*sections[:-1]), title=Text(heading, style="bold"), title_align="left")
    )


def diff_command(
    before: Annotated[
        str, typer.Argument(help="The earlier scan: any input `audit` takes.", show_default=False)
    ],
    after: Annotated[str, typer.Argument(help="The later scan of the same fleet.", show_default=False)],
    target_libvirt: TargetOpt = None,
    host_from: HostFromOpt = None,
    output_format: Annotated[DiffFormat, typer.Option("--output-format", "-f", case_sensitive=False)] = (
        DiffFormat.table
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE", dir_okay=False)] = None,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare two scans of the same fleet (say, before and after a libvirtd restart or upgrade): per
    guest, the devices, aliases and bus names that appeared, vanished or changed.

    Guests are matched by host and UUID (by UUID alone when a guest moved host); devices by controller
    index, PCI address, DIMM slot or alias. Exit codes: 0 no difference; 1 differences; 2 usage error;
    3 some inputs could not be read.
    """
    _limit_threads(jobs)
    import typer

    from virtaudit import diffing

    target = _check_target(target_libvirt)
    host_from = _check_host_from(host_from)
    options = ScanOptions(jobs, host_from, _limits(None, None, None), DEFAULT_BATCH_FILES, quiet)

    old, new = _load_scan([before], options)[0], _load_scan([after], options)[0]
    changes = diffing.diff(old, new, target_libvirt=target)
    errors = diffing.errors_of(old, new)
    fmt = output_format.value

    def write(stream: IO[bytes]) -> None:
        diffing.write(fmt, changes, errors, stream, color=_color(output), quiet=quiet)

    _emit(write, output)
    if errors.height:
        raise typer.Exit(EXIT_UNREADABLE)
    raise typer.Exit(EXIT_FINDINGS if changes.height else EXIT_OK)


def bind() -> None:
    """Make the names the command signatures use in string annotations (``typer`` and the option
    types) resolvable in this module's globals, where Typer evaluates them."""
    import typer

    globals()["typer"] = typer
    globals().update(_option_types())
