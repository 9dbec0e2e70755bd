"""Inputs to batches: files, directories, globs, archives and datasets into :class:`Piece` batches.

Nothing on the way from a list of paths to the first batch being scanned imports polars (the command line
makes its :class:`Pieces` first, so that the scan overlaps the import of polars and the rules).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from virtaudit.pipeline.identity import HostClaims, OtherDocuments

if TYPE_CHECKING:
    import polars as pl

    from virtaudit import _core
    from virtaudit.hostnames import HostFrom
    from virtaudit.scanning import Scan

DEFAULT_BATCH_FILES: Final = 4000
"""Inputs per batch of an audit or a batch scan. The rules cost a fixed ~15 ms a batch (polars planning
their queries, the batch's context) besides their work per file, so larger batches cost less (20,000 files,
a quiet moment: 0.24 s of rules at 2,000, 0.20 at 3,000, 0.16 at 4,000), but memory grows with the batch:
a million-file audit peaked at about 200, 237-247 and 277-292 MB at 2,000, 3,000 and 4,000 (its target is
256 MB, benches/README.md), and at 234-236 MB at 4,000 (279 once) with polars' allocator in one arena, as
the command line sets it (:func:`virtaudit.cli.tune_polars_allocator`)."""

StrPath = str | bytes | os.PathLike[str]


class InputProblem(ValueError):
    """An input that cannot be read at all in a way that is the caller's to fix (a dataset of another
    schema version, unreadable dataset metadata): the command line makes it a usage error."""


def limits_of(
    max_file_size: int | None = None, max_depth: int | None = None, max_elements: int | None = None
) -> dict[str, int]:
    """The core's limits, its defaults where None."""
    from virtaudit import _core

    return {
        "max_file_size": _core.DEFAULT_MAX_FILE_SIZE if max_file_size is None else max_file_size,
        "max_depth": _core.DEFAULT_MAX_DEPTH if max_depth is None else max_depth,
        "max_elements": _core.DEFAULT_MAX_ELEMENTS if max_elements is None else max_elements,
    }


@dataclass
class ScanOptions:
    jobs: int | None
    host_from: HostFrom
    limits: dict[str, int]
    batch_files: int | None = DEFAULT_BATCH_FILES
    """Inputs per batch of the plain files; None: all of them in one batch (:func:`scan`)."""
    quiet: bool = False
    audit_only: bool = False
    """The batches only feed the rules: the caps flags no rule reads are dropped as each batch arrives, and
    the live aliases keep only the ids no device of the definition carries (plain files: the core never
    makes the others rows)."""
    prefetch: bool = False
    """Scan the next batch in a background thread while the consumer works on this one (see
    :class:`PlainScan`): two batches are alive at once instead of one."""
    caps_flags: Sequence[str] | None = None
    """Only these QEMU capability flags become rows of ``caps`` (None: all; ``audit_only`` implies the
    ones the rules read)."""
    require_rows: bool = True
    """A named directory, archive or dataset that yields no row at all becomes an error row of kind
    ``nothing_found`` (the command line's default status directory is not named: it may be empty)."""
    audit_targets: tuple[str | None, Any] | None = None
    """With ``audit_only``: the audit's ``(target_libvirt, host_facts)``. When a rule reads every flag
    (CAP001: flags the target does not know), the core keeps them all and each batch drops the rows no rule
    needs for the releases it is judged for; without this, every row is kept."""
    note: Callable[[str], None] | None = None
    """Told when an input's host is renamed because another input claimed its name first."""
    info: Callable[[str], None] | None = None
    """Told what a source says of itself (a dataset: each host's age)."""
    max_age: float | None = None
    """Seconds: a dataset host scanned longer ago is refused (an error row), see ``read_dataset``."""


class NamedInputs:
    """Which named directories, archives and datasets yielded at least one row (a file always does: the
    core reads it or reports it)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.containers = [p for p in paths if (p and os.path.isdir(p)) or _is_archive_name(p)]
        self.seen: set[str] = set()

    def saw(self, batch: Scan) -> None:
        import polars as pl

        unseen = [d for d in self.containers if d not in self.seen and os.path.isdir(d)]
        if not unseen or batch.files == 0:
            return
        paths = pl.concat([batch.domains["path"], batch.errors["path"]])
        for d in unseen:
            if paths.str.starts_with(d.rstrip("/") + "/").any():
                self.seen.add(d)

    def nothing_read(self, options: ScanOptions) -> Scan | None:
        """A scan of one error row per named input that yielded nothing (None: there is none)."""
        missing = [p for p in self.containers if p not in self.seen]
        if not missing:
            return None
        import polars as pl

        from virtaudit import sources
        from virtaudit.hostnames import host_mode
        from virtaudit.scanning import Scan

        mode, value = host_mode(options.host_from)
        rows = [
            sources.error_frame(
                p,
                value if mode == "fixed" and value else Path(p).name,
                "nothing_found",
                "no status XML file in this directory or archive: nothing was audited",
            )
            for p in missing
        ]
        tables = sources.empty_tables()
        tables["errors"] = pl.concat(rows, how="vertical_relaxed")
        return Scan.from_tables(tables, tuple(missing))


def _is_archive_name(path: str) -> bool:
    from virtaudit.sources import ARCHIVE_SUFFIXES

    return bool(path) and path.lower().endswith(ARCHIVE_SUFFIXES) and os.path.isfile(path)


@dataclass
class Piece:
    """One batch of a scan: tables, and the host facts its source recorded."""

    scan: Scan
    facts: pl.DataFrame | None = None
    source: str | None = None
    """The archive, sosreport or dataset it was read from (None: plain files)."""


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


def split_inputs(paths: Sequence[str]) -> tuple[list[str], list[Path]]:
    """The paths the core reads (files, directories, globs), and the archives and datasets read here.

    A glob is expanded here when it names archives or datasets; a directory's archives (found by a walk
    that follows no symbolic link) are read like named ones, while the core walks it for ``*.xml``. A
    directory holding datasets is both: the core's walk reads the XML files beside them.
    """
    from virtaudit import sources
    from virtaudit.datasets import is_dataset
    from virtaudit.sosreports import is_sosreport_dir

    def walked(m: Path) -> bool:  # (a dataset's directory is walked for XML too; a sosreport is not)
        return not sources.is_special(m) or (m.is_dir() and not is_sosreport_dir(m))

    def special_itself(m: Path) -> bool:  # (a directory of datasets is found by _split_directory's walk)
        return sources.is_archive(m) or is_sosreport_dir(m) or is_dataset(m)

    plain: list[str] = []
    special: list[Path] = []
    for p in paths:
        if p and kernel_path(p):
            continue  # (reported by Pieces as not_regular)
        matches = _glob_matches(p)
        if any(sources.is_special(m) for m in matches):
            # (the pattern names archives, sosreports or datasets: its matches are split here)
            special.extend(m for m in matches if sources.is_special(m))
            plain.extend(str(m) for m in matches if walked(m))
        elif p and special_itself(Path(p)):
            special.append(Path(p))
            if walked(Path(p)):
                plain.append(p)
        else:  # (an empty path too: the core reports it as not found)
            plain_of, found = _split_directory(p)
            plain.extend(plain_of)
            special.extend(found)
    return plain, special


def _split_directory(path: str) -> tuple[list[str], list[Path]]:
    """A named path that is not itself an archive, sosreport or dataset: what the core walks of it, and what
    is read here (one walk of a directory: :func:`~virtaudit.pipeline.specials.specials_under`).

    A directory of datasets is read as all of them, and walked by the core for the XML files beside them.
    The extracted sosreports under a directory are read apart, each as its own host (walked by the core,
    their status files would all be one host named ``qemu``), and the core walks the rest; the archives
    anywhere under it are read like named ones.
    """
    from virtaudit.pipeline.specials import specials_under
    from virtaudit.sosreports import plain_parts

    if not path or not os.path.isdir(path):
        return [path], []
    found = specials_under(Path(path))
    if found.datasets:
        return [path], [Path(path)]
    plain = plain_parts(Path(path), found.sosreports) if found.sosreports else [path]
    archives = [p for p in found.archives if not kernel_path(str(p))]
    return plain, [*found.sosreports, *archives]


def _glob_matches(pattern: str) -> list[Path]:
    """What a glob pattern matches (nothing for a path that is not a pattern)."""
    import glob

    if not pattern or not glob.has_magic(pattern) or os.path.exists(pattern):
        return []
    return [Path(m) for m in sorted(glob.glob(pattern, recursive=True))]


KERNEL_TREES: Final = ("/proc", "/sys", "/dev")
"""Kernel file systems: never status files, and reading them can block, never end or change state."""


def kernel_path(path: str) -> bool:
    """Whether ``path`` (or what its symbolic links resolve to) lies in /proc, /sys or /dev."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return any(real == tree or real.startswith(tree + "/") for tree in KERNEL_TREES)


class Pieces:
    """Scan ``paths`` batch by batch: plain files and directories through the core's batch scanner
    (memory bounded by ``batch_files``), then archives and datasets one source at a time.

    The plain files' scan starts when this is made (see :class:`PlainScan`): make it before importing
    polars and the rules, and check the arguments before making it. ``on_start(total)`` and
    ``on_batch(files)`` report progress of the plain files' scan.
    """

    def __init__(
        self,
        paths: Sequence[str],
        options: ScanOptions,
        *,
        on_start: Callable[[int], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._options = options
        self._named = NamedInputs(paths if options.require_rows else ())
        self._kernel = [p for p in paths if p and kernel_path(p)]
        self._on_start = on_start
        self._on_batch = on_batch
        plain, self._special = split_inputs(paths)
        self._plain: PlainScan | None = None
        self._trim_plain = False
        self._input_count = 0
        self.hosts = HostClaims(options.note)
        self.other = OtherDocuments()
        """libvirt's documents that are not guests, skipped (counted by root element)."""
        if plain:
            # The scanner is made in this thread (its walk lists the inputs): made in the scan's worker, it
            # raised the peak memory of large audits (150,000 files: 200 MB instead of 190, measured), as
            # if the walk's memory stayed in the worker's allocator arena.
            caps_rows = _caps_rows(options)
            # (an audit's batches keep only the caps rows the rules need: the core's job where it can)
            self._trim_plain = options.audit_only and caps_rows == (None, None)
            scanner = _open_scanner(plain, options, caps_rows)
            # (read now, where needed: once scanning, the scanner is held by the scan in flight, and the core
            # refuses any other call on it meanwhile)
            if on_start is not None or options.batch_files is None:
                self._input_count = scanner.input_count
            batch = options.batch_files or max(1, self._input_count)
            self._plain = PlainScan(scanner, batch, tuple(plain), prefetch=options.prefetch)

    def __iter__(self) -> Iterator[Piece]:
        next_id = 0  # document ids stay unique across every piece of the run
        try:
            if self._plain is not None:
                if self._on_start is not None:
                    self._on_start(self._input_count)
                for batch in self._plain:
                    if self._on_batch is not None:
                        self._on_batch(batch.files)
                    batch = self.other.skip(batch)
                    self._named.saw(batch)
                    self.hosts.claim_plain(batch)
                    if self._trim_plain:
                        batch = trim_for_audit(batch, self._options)
                    next_id = _after_last_id(batch, next_id)
                    yield Piece(batch)
                    # Not kept once the consumer is done with it (it drops its own reference too): a batch
                    # lives while the rules run on it and, with prefetch, the next one is scanned.
                    del batch
            for path in self._special:
                piece = self._special_piece(path)
                piece.scan = self.other.skip(piece.scan)
                # A source numbers its documents from 0: moved past every id given so far, as scan() does.
                piece.scan = piece.scan.shifted_doc_ids(next_id)
                next_id = _after_last_id(piece.scan, next_id)
                if piece.scan.files:
                    self._named.seen.add(str(path))
                    self._named.saw(piece.scan)
                yield self.hosts.claim(piece)
                del piece
            if (empty := self._named.nothing_read(self._options)) is not None:
                yield Piece(empty)
            if self._kernel:
                yield Piece(_refused(self._kernel))
            if self._options.info is not None and (line := self.other.summary()) is not None:
                self._options.info(line)
        finally:
            if self._plain is not None:
                self._plain.close()

    def _special_piece(self, path: Path) -> Piece:
        from virtaudit import sources

        options = self._options
        try:
            source = sources.read_special(
                path,
                max_age=options.max_age,
                jobs=options.jobs,
                host_from=options.host_from,
                **options.limits,
            )
        except ValueError as exc:  # a dataset of another schema version, unreadable metadata
            raise InputProblem(str(exc)) from exc
        except Exception as exc:  # a bug met on this input: its error row, and the run goes on
            return Piece(_internal_error(path, exc))
        if options.info is not None:
            for line in source.notes:
                options.info(line)
        piece = Piece(source.scan, source.facts if source.facts.height else None, str(path))
        del source
        if options.audit_only:
            piece.scan = trim_for_audit(piece.scan, options, piece.facts)
        elif options.caps_flags is not None:
            piece.scan = keep_caps(piece.scan, options.caps_flags)
        return piece


def _after_last_id(scan: Scan, next_id: int) -> int:
    if "doc_id" not in scan.domains.columns:
        return next_id
    ids = scan.domains.get_column("doc_id")
    last = ids.max() if ids.len() else None
    return next_id if last is None else max(next_id, int(last) + 1)  # type: ignore[arg-type]


CapsRows: TypeAlias = tuple[list[str] | None, frozenset[str] | None]
"""The core Scanner's ``caps_flags`` (only these flags; None: all) and ``caps_except`` (all but these)."""


def _caps_rows(options: ScanOptions) -> CapsRows:
    """Which caps flags the core makes rows of."""
    if not options.audit_only:
        return (None if options.caps_flags is None else list(options.caps_flags)), None
    from virtaudit.catalog import CAPS_FLAGS_USED
    from virtaudit.schema import ALL_CAPS_FLAGS

    if ALL_CAPS_FLAGS not in CAPS_FLAGS_USED:
        return list(CAPS_FLAGS_USED), None
    drop = _caps_ignorable(options)
    # (the rows no rule needs are never built: the caps table is most of a batch's strings)
    return None, (drop or None)


def _caps_ignorable(options: ScanOptions) -> frozenset[str]:
    """The caps flags no rule needs for any release a plain input of the audit can be judged for: its
    target and the releases of the host facts given (a plain input records no facts of its own)."""
    if options.audit_targets is None:
        return frozenset()
    target, given = options.audit_targets
    if target is None and given is None:
        # The command line's default (the newest release, no host facts): the set the catalog keeps, so
        # that the scan starts before polars and the rules are imported and overlaps that import.
        from virtaudit._catalog_data import CAPS_IGNORABLE_NEWEST

        return CAPS_IGNORABLE_NEWEST
    from virtaudit.auditing import audit_target_keys
    from virtaudit.rules.engine import caps_ignorable

    try:
        keys = audit_target_keys(target, given)
    except ValueError:  # facts the model cannot read: every row is kept, never wrong, only larger
        return frozenset()
    return caps_ignorable(keys)


def _open_scanner(paths: list[str], options: ScanOptions, caps_rows: CapsRows) -> _core.Scanner:
    """The core's batch scanner of ``paths`` (its walk has listed the inputs)."""
    from virtaudit import _core
    from virtaudit.hostnames import host_mode

    mode, value = host_mode(options.host_from)
    # For an audit the core builds only the caps rows the rules need.
    return _core.Scanner(
        paths,
        jobs=options.jobs,
        host_mode=mode,
        host_value=value,
        caps_flags=caps_rows[0],
        caps_except=caps_rows[1],
        # (an audit reads only the live ids no device carries: the core keeps no others)
        unmatched_live_only=options.audit_only,
        **options.limits,
    )


def detached(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its strings copied out of the scan batch they were selected from.

    Polars strings are views into shared buffers, so a few findings of a batch would keep all of its text
    alive until the report is written: thousands of batches' worth on a large fleet. Concatenating each
    string column with nothing writes new buffers holding only these rows (nulls stay null).
    """
    import polars as pl

    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(pl.concat_str(pl.col(name), pl.lit("")).alias(name) for name in strings)


def keep_caps(scan: Scan, flags: Sequence[str]) -> Scan:
    """``scan`` with only these caps rows (copied out, so the full table's memory goes now)."""
    import dataclasses

    import polars as pl

    caps = detached(scan.caps.filter(pl.col("flag").is_in(list(flags))))
    return dataclasses.replace(scan, caps=caps)


def for_audit(scan: Scan) -> Scan:
    """``scan`` without the caps rows no rule reads, whatever release it is judged for.

    The caps table holds a couple of hundred flags per status file, more than half of a batch's memory,
    and most rules read only :data:`virtaudit.catalog.CAPS_FLAGS_USED`. When a rule reads every flag
    (CAP001), every row is kept: which ones it needs depends on the target (:func:`trim_for_audit`).
    """
    from virtaudit.catalog import CAPS_FLAGS_USED
    from virtaudit.schema import ALL_CAPS_FLAGS

    if ALL_CAPS_FLAGS in CAPS_FLAGS_USED:
        return scan
    return keep_caps(scan, CAPS_FLAGS_USED)


def trim_for_audit(scan: Scan, options: ScanOptions, facts: pl.DataFrame | None = None) -> Scan:
    """``scan`` without the caps rows no rule needs for the releases the audit judges it for: the
    audit's target and the host facts (``options.audit_targets``, plus the facts a source recorded)."""
    if options.audit_targets is None:
        return for_audit(scan)
    import dataclasses

    from virtaudit.auditing import audit_target_keys
    from virtaudit.rules.engine import trim_caps

    target, given = options.audit_targets
    try:
        keys = audit_target_keys(target, given, facts)
    except ValueError:
        # A source's facts the model cannot read (a QEMU '0.12.1.2'): the audit drops them with a note
        # (collect.modelled_facts); here every row is kept, which is never wrong, only larger.
        return for_audit(scan)
    return dataclasses.replace(scan, caps=trim_caps(scan.caps, keys))


def load_scan(paths: Sequence[str], options: ScanOptions) -> tuple[Scan, pl.DataFrame | None]:
    """All of a scan in memory, and the host facts its sources recorded (None: none recorded)."""
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


# --------------------------------------------------------------------------------------------------
# the Python API (virtaudit.scan, virtaudit.scan_batches)


def _paths(paths: tuple[StrPath, ...]) -> list[str]:
    if not paths:
        raise ValueError("scan() needs at least one path")
    # bytes paths (non-UTF-8 file names) become str with surrogate escapes, which round-trip to bytes.
    return [os.fsdecode(p) if isinstance(p, bytes) else os.fspath(p) for p in paths]


def _options(host_from: HostFrom, jobs: int | None, limits: dict[str, int], **extra: Any) -> ScanOptions:
    from virtaudit.hostnames import host_mode

    host_mode(host_from)  # (a bad pattern is the caller's ValueError now, not in a worker thread)
    return ScanOptions(jobs, host_from, limits, quiet=True, **extra)


def scan(
    *paths: StrPath,
    jobs: int | None = None,
    host_from: HostFrom = None,
    max_file_size: int | None = None,
    max_depth: int | None = None,
    max_elements: int | None = None,
) -> Scan:
    """Scan files, directories (recursively, ``*.xml``) and glob patterns into a :class:`Scan`.

    Archives (``.tar``, ``.tar.gz``, ``.tar.xz``, ``.zip``) and Parquet datasets written by
    ``virtaudit scan --out`` are read too (see :mod:`virtaudit.sources`). The same batches as
    :func:`scan_batches`, in one: every input is a row of ``domains`` or of ``errors``.
    """
    given = _paths(paths)
    options = _options(host_from, jobs, limits_of(max_file_size, max_depth, max_elements), batch_files=None)
    result, _facts = load_scan(given, options)
    return result


def scan_batches(
    *paths: StrPath,
    batch_files: int = 10_000,
    jobs: int | None = None,
    host_from: HostFrom = None,
    max_file_size: int | None = None,
    max_depth: int | None = None,
    max_elements: int | None = None,
    caps_flags: Sequence[str] | None = None,
) -> Iterator[Scan]:
    """Yield the scan :class:`Scan` by :class:`Scan`, ``batch_files`` plain inputs at a time, then one
    :class:`Scan` per archive or dataset (what :func:`scan` reads, in pieces).

    Peak memory depends on ``batch_files``, not on the number of inputs: use it for very large fleets.
    ``caps_flags``: only these QEMU capability flags become rows of ``caps`` (``domains.caps_count``
    still counts them all); the caps table is otherwise the largest by far.
    """
    if batch_files < 1:
        raise ValueError("batch_files must be at least 1")
    given = _paths(paths)
    options = _options(
        host_from,
        jobs,
        limits_of(max_file_size, max_depth, max_elements),
        batch_files=batch_files,
        caps_flags=caps_flags,
    )
    for piece in Pieces(given, options):
        batch = piece.scan
        del piece
        yield batch
        # Drop this frame's reference before the next batch is built: with it, two batches would be alive
        # at once (the caller's and the one being scanned), doubling the peak memory.
        del batch


def _internal_error(path: Path, exc: Exception) -> Scan:
    """A scan of one ``internal`` error row naming ``path`` (the exception's type: its text may quote
    the input)."""
    from virtaudit import sources
    from virtaudit.scanning import Scan

    tables = sources.empty_tables()
    message = f"unexpected failure while reading this input ({type(exc).__name__}); please report it"
    tables["errors"] = sources.error_frame(str(path), path.name, "internal", message)
    return Scan.from_tables(tables, (str(path),))


def _refused(paths: list[str]) -> Scan:
    """A scan of one ``not_regular`` error row per path in a kernel file system (never opened)."""
    import polars as pl

    from virtaudit import sources
    from virtaudit.scanning import Scan

    tables = sources.empty_tables()
    message = "in /proc, /sys or /dev: not a status file, never opened"
    rows = [sources.error_frame(p, Path(p).parent.name, "not_regular", message) for p in paths]
    tables["errors"] = pl.concat(rows, how="vertical_relaxed")
    return Scan.from_tables(tables, tuple(paths))
