"""Inputs other than plain XML files: archives (sosreports, tarballs, zips) and Parquet datasets.

Archive members are streamed into memory, never unpacked to disk, and parsed by the same Rust core as
files (``_core.scan_buffers``). A member is reported as ``ARCHIVE!MEMBER``.

* **sosreport layout**: an archive with members ``*/run/libvirt/qemu/*.xml`` or
  ``*/var/run/libvirt/qemu/*.xml``, or with sos's own directories (``sos_commands/``, ``sos_reports/``,
  ``sos_logs/``). Only the status files under ``run/libvirt/qemu`` are read; the host is named from the
  archive's ``sos_commands/host/hostname`` (else ``etc/hostname``, else the archive's name without its
  suffix), unless ``host_from`` is a fixed name or a pattern. When the archive lists its installed packages
  (``installed-rpms``, ``installed-debs``, ``sos_commands/rpm/*-qa*``, ``sos_commands/dpkg/dpkg_-l``), the
  libvirt and QEMU versions found there become that host's facts.
* **any other archive**: every ``*.xml`` member, the host taken from the member's path like a file's
  (``host_from``; the parent directory by default, the archive's name for members at its top).

A member above ``max_file_size`` is never read (its size is checked first). A corrupt or truncated
archive or member becomes an error row of kind ``archive`` naming it; the members read before it are kept.

A **dataset** is a directory written by ``virtaudit scan --out DIR``: one sub-directory per table, each
partitioned by host in the hive layout (``DIR/TABLE/host=NAME/part-0.parquet``), readable with
``pl.scan_parquet(DIR/TABLE, hive_partitioning=True)``, DuckDB or Spark. A directory whose
sub-directories are datasets (one per host, as fetched from a fleet) is read as all of them.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Final, Self, cast

# The member types and read errors live in archive_members (shared with the sosreport directory reader,
# the link resolver and the nested-archive reader, which build on them): here under their old names.
from virtaudit.archive_members import READ_ERRORS as _READ_ERRORS
from virtaudit.archive_members import ArchiveFault as _ArchiveFault
from virtaudit.archive_members import Member as _Member
from virtaudit.archive_members import MemberFault as _MemberFault
from virtaudit.archive_members import lzma_zlib_errors as _lzma_zlib_errors
from virtaudit.archive_members import read_member as _read_member

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.archive_links import LinkIndex
    from virtaudit.hostnames import HostFrom
    from virtaudit.scanning import Scan

__all__ = [
    "ARCHIVE_SUFFIXES",
    "FACTS_COLUMNS",
    "Source",
    "archive_name",
    "empty_facts",
    "empty_tables",
    "error_frame",
    "is_archive",
    "is_special",
    "package_versions",
    "read_archive",
    "read_special",
    "scan_special",
]

ARCHIVE_SUFFIXES: Final = (
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.xz",
    ".txz",
    ".tar.bz2",
    ".tbz2",
    ".tar.zst",
    ".tzst",
    ".zip",
)
FACTS_COLUMNS: Final = ("host", "libvirt_version", "qemu_version", "facts_source")
"""``facts_source``: where the versions came from (``ARCHIVE!MEMBER`` of a package list, ``--host-facts
FILE:LINE``), for reports to state."""

# Members of a sosreport (or of a tarball of a host's file system) that are libvirt status files.
STATUS_MEMBER: Final = re.compile(r"(?:^|/)(?:var/)?run/libvirt/qemu/[^/]+\.xml$")
SOS_MARKER: Final = re.compile(r"(?:^|/)sos_(?:commands|reports|logs)(?:/|$)")
# Best first: sos's own output (sos_commands/general/ in sos before 3.0), the report's top-level copy, the
# host's /etc/hostname.
HOSTNAME_MEMBERS: Final = (
    re.compile(r"(?:^|/)sos_commands/host/hostname$"),
    re.compile(r"(?:^|/)sos_commands/general/hostname$"),
    re.compile(r"^(?:[^/]+/)?hostname$"),
    re.compile(r"(?:^|/)etc/hostname$"),
)
PACKAGE_MEMBER: Final = re.compile(
    r"(?:^|/)(?:installed-rpms|installed-debs|sos_commands/dpkg/dpkg_-l[^/]*|sos_commands/rpm/[^/]*-qa[^/]*)$"
)
SMALL_FILE: Final = 4096
PACKAGE_LIST_LIMIT: Final = 16 * 1024 * 1024
"""Package lists are a few hundred KB; a larger one is not read (its own cap, below the file-size one)."""
# Parse archive members in chunks so that a large archive never holds all its members at once.
CHUNK_ITEMS: Final = 2000
CHUNK_BYTES: Final = 64 * 1024 * 1024
# (64 MiB, one file at the default size cap: with 256 a tiny archive of four 60 MiB members of zeros
# held them all before parsing, 578 MB at its peak)

# Package names that carry the libvirt daemon's QEMU driver / the QEMU system emulator, best first.
LIBVIRT_PACKAGES: Final = (
    "libvirt-daemon-driver-qemu",
    "libvirt-daemon-kvm",
    "libvirt-daemon",
    "libvirt-daemon-system",
    "libvirt-libs",
    "libvirt0",
    "libvirt",
)
QEMU_PACKAGES: Final = re.compile(
    r"^(?:qemu-kvm-core|qemu-kvm|qemu-kvm-rhev|qemu-kvm-ev|qemu-system-x86-core|qemu-system-x86|"
    r"qemu-system-ppc-core|qemu-system-ppc|qemu-system-aarch64-core|qemu-system-aarch64|qemu-system-arm|"
    r"qemu-system-s390x-core|qemu-system-s390x|qemu-system-misc|qemu-system-common|qemu)$"
)


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES) and path.is_file()


def is_special(path: Path) -> bool:
    """An archive, an extracted sosreport or a dataset (or a directory of datasets): read here, not by
    the core's walk."""
    from virtaudit.datasets import dataset_dirs
    from virtaudit.sosreports import is_sosreport_dir

    return is_archive(path) or is_sosreport_dir(path) or bool(dataset_dirs(path))


def archive_name(path: Path | str) -> str:
    """The archive's file name without its archive suffix (``sosreport-web01-2024.tar.xz`` ->
    ``sosreport-web01-2024``)."""
    name = Path(path).name
    lower = name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


# --------------------------------------------------------------------------------------------------
# tables


@cache
def _empty_schemas() -> dict[str, Any]:
    from virtaudit import _core
    from virtaudit.scanning import Scan, _frames  # the tables as a Scan holds them

    tables = _core.scan_buffers(items=[], jobs=1, max_file_size=1, max_depth=1, max_elements=1)
    return {name: df.schema for name, df in Scan.from_tables(_frames(tables)).tables().items()}


def empty_tables() -> dict[str, pl.DataFrame]:
    """Each scan table with no rows, in the core's exact schema."""
    import polars as pl

    return {name: pl.DataFrame(schema=schema) for name, schema in _empty_schemas().items()}


def empty_facts() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(schema={c: pl.String for c in FACTS_COLUMNS})


def error_frame(path: str, host: str, kind: str, message: str) -> pl.DataFrame:
    """One row of the ``errors`` table, with its exact schema."""
    import polars as pl

    schema = _empty_schemas()["errors"]
    row = {
        "path": [path],
        "host": [host],
        "kind": [kind],
        "message": [message],
        "line": [None],
        "column": [None],
    }
    return pl.DataFrame(row, schema=schema)


def scan_from(tables: dict[str, pl.DataFrame], sources: tuple[str, ...]) -> Scan:
    from virtaudit.scanning import Scan

    return Scan.from_tables(tables, sources)


def concat_tables(parts: list[dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    import polars as pl

    out = empty_tables()
    for name in out:
        frames = [out[name], *(p[name] for p in parts if name in p)]
        df = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
        keys = ["path", "ordinal"] if name == "devices" else ["path"]
        out[name] = df.select(list(out[name].columns)).sort(keys, maintain_order=True)
    return out


def _utf8(name: str) -> str:
    # tarfile/zipfile decode undecodable names with surrogates, which Arrow strings cannot hold.
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------------
# archives


def open_input(path: Path) -> BinaryIO:
    """Opens an archive read-only without moving its access time (O_NOATIME), where the kernel allows."""
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:  # O_NOATIME needs ownership of the file (or CAP_FOWNER)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    return os.fdopen(fd, "rb")


ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"


def _decompressed(raw: BinaryIO) -> IO[bytes]:
    """The tar stream inside ``raw``, by its magic bytes: the gzip, xz, bzip2 and zstd readers check their
    stream's end and checksum (tarfile's own stream reader checks no gzip CRC), and raise on a stream
    cut short."""
    import bz2
    import gzip
    import lzma

    head = raw.read(6)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))  # (a BufferedIOBase: reads bytes)
    if head == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    if head[:3] == b"BZh":
        return bz2.BZ2File(raw)
    if head[:4] == ZSTD_MAGIC:
        import io

        from virtaudit.zstd import ZstdReader

        return io.BufferedReader(ZstdReader(raw), 1 << 16)
    return raw


class _TarInfo(tarfile.TarInfo):
    """Notes on its archive when the end-of-archive marker (a zero block) was read: tarfile otherwise
    ends just as quietly at a stream cut on a member boundary or in a header."""

    @classmethod
    def fromtarfile(cls, tarfile: tarfile.TarFile) -> Self:
        try:
            return super().fromtarfile(tarfile)
        except EOFHeaderError:
            tarfile.virtaudit_end = True  # type: ignore[attr-defined]
            raise


EOFHeaderError: Final = tarfile.EOFHeaderError  # type: ignore[attr-defined]


def _open_source(source: Path | bytes) -> BinaryIO:
    """An archive named by its path, or an inner archive's bytes (virtaudit.nested_archives)."""
    import io

    return io.BytesIO(source) if isinstance(source, bytes) else open_input(source)


def _tar_members(path: Path | bytes) -> Iterator[_Member]:
    faults = _READ_ERRORS + _lzma_zlib_errors()
    last: str | None = None
    where = "at its start"
    try:
        # "r|": a pure stream, read once front to back (the decompression is _decompressed's).
        with _open_source(path) as raw, _decompressed(raw) as stream:
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_TarInfo) as tf:
                while True:
                    where = f"after member {last}" if last else "at its start"
                    info = tf.next()
                    if info is None:
                        break
                    last = name = _member_name(info.name)
                    yield _tar_member(tf, info, name)
                if not getattr(tf, "virtaudit_end", False):
                    raise _ArchiveFault(None, f"archive cut short {where}: no end-of-archive marker")
            # The compressed stream to its end: its trailer (gzip's CRC and length) is checked there.
            while stream.read(1 << 20):
                pass
    except _ArchiveFault:
        raise
    except faults as exc:
        raise _ArchiveFault(None, f"corrupt or truncated archive {where}: {exc}") from exc


def _member_name(raw_name: str) -> str:
    name = _utf8(raw_name).lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _tar_member(tf: tarfile.TarFile, info: tarfile.TarInfo, name: str) -> _Member:
    if info.issym() or info.islnk():
        kind = "symbolic link" if info.issym() else "hard link"
        return _Member(name, 0, lambda _limit: b"", link=kind, target=_utf8(info.linkname))
    if info.isdir():
        return _Member(name, 0, lambda _limit: b"", link="directory")
    if not info.isreg():
        return _Member(name, 0, lambda _limit: b"", link="special file")

    def read(limit: int) -> bytes:
        f = tf.extractfile(info)
        data = f.read(limit) if f is not None else b""
        if len(data) < min(info.size, limit):
            raise EOFError(f"member cut short: {len(data)} of {info.size} bytes")
        return data

    return _Member(name, info.size, read)


def _zip_members(path: Path | bytes) -> Iterator[_Member]:
    faults = _READ_ERRORS + _lzma_zlib_errors()
    raw = _open_source(path)
    try:
        zf = zipfile.ZipFile(raw)
    except faults as exc:
        raw.close()  # (ZipFile closes only a file it opened itself)
        raise _ArchiveFault(None, f"not a readable zip archive: {exc}") from exc
    with raw, zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = _utf8(info.filename).lstrip("/")

            def read(limit: int, info: zipfile.ZipInfo = info) -> bytes:
                with zf.open(info) as f:
                    return f.read(limit)

            link = "symbolic link" if (info.external_attr >> 16) & 0o170000 == 0o120000 else None
            yield _Member(name, info.file_size, read, link=link, fatal=False)


def _host_of(name: str, full: str, host_from: HostFrom, fallback: str) -> str:
    from virtaudit.hostnames import host_mode

    mode, value = host_mode(host_from)
    parts = name.split("/")[:-1]
    if mode == "fixed":
        return value or ""
    if mode == "regex" and value is not None:
        match = re.search(value, full)
        if match and match.group(1) is not None:
            return match.group(1)
        mode = "parent"
    depth = 2 if mode == "grandparent" else 1
    return parts[-depth] if len(parts) >= depth else fallback


def _clean_hostname(data: bytes) -> str | None:
    text = data.decode("utf-8", "replace").strip().splitlines()
    if not text:
        return None
    name = text[0].strip()
    if not name or len(name) > 253 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        return None
    return name


def _upstream(version: str) -> str:
    """``1:7.2+dfsg-7+deb12u6`` -> ``7.2``; ``8.0.0`` -> ``8.0.0``: the upstream release number."""
    version = re.sub(r"^\d+:", "", version)
    match = re.match(r"\d+(?:\.\d+)*", version)
    return match.group(0) if match else version


def package_versions(text: str) -> tuple[str | None, str | None]:
    """(libvirt version, QEMU version) from an ``rpm -qa`` list (``NAME-VERSION-RELEASE.ARCH``, one per
    line, optionally followed by a date) or ``dpkg -l`` output; None where no package is found."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) >= 3 and fields[0] in ("ii", "hi", "iU", "iF", "iH", "it"):  # dpkg -l
            name, version = fields[1].split(":")[0], _upstream(fields[2])
        else:  # rpm: NAME-VERSION-RELEASE.ARCH
            nevra = fields[0]
            match = re.match(r"^(?P<name>.+)-(?P<ver>[^-]+)-(?P<rel>[^-]+?)(?:\.(?P<arch>[^.]+))?$", nevra)
            if not match:
                continue
            name, version = match["name"], _upstream(match["ver"])
        if name not in found and (name in LIBVIRT_PACKAGES or QEMU_PACKAGES.match(name)):
            found[name] = version
    libvirt = next((found[n] for n in LIBVIRT_PACKAGES if n in found), None)
    qemu = next((v for n, v in found.items() if QEMU_PACKAGES.match(n)), None)
    # Prefer the emulator packages over the umbrella "qemu"/"qemu-system-common".
    for n, v in found.items():
        if QEMU_PACKAGES.match(n) and n not in ("qemu", "qemu-system-common"):
            qemu = v
            break
    return libvirt, qemu


@dataclass(frozen=True)
class Source:
    """What one archive or dataset held: its scan tables and the host facts it recorded."""

    scan: Scan
    facts: pl.DataFrame
    """host, libvirt_version, qemu_version, facts_source (strings; empty when the source records none)."""
    notes: tuple[str, ...] = ()
    """What to tell the operator about it (a dataset: each host's age)."""


def read_archive(
    path: Path,
    *,
    jobs: int | None = None,
    host_from: HostFrom = None,
    max_file_size: int | None = None,
    max_depth: int | None = None,
    max_elements: int | None = None,
) -> Source:
    """Read the status files of one archive in place (see the module docstring)."""
    from virtaudit import _core

    limits = {
        "max_file_size": _core.DEFAULT_MAX_FILE_SIZE if max_file_size is None else max_file_size,
        "max_depth": _core.DEFAULT_MAX_DEPTH if max_depth is None else max_depth,
        "max_elements": _core.DEFAULT_MAX_ELEMENTS if max_elements is None else max_elements,
    }
    reader = _ArchiveReader(path, host_from, jobs, limits)
    if path.is_dir():  # an extracted sosreport
        from virtaudit.sosreports import sos_members

        reader.sos, reader.separator = True, "/"
        members: Iterator[_Member] = sos_members(path)
    elif path.name.lower().endswith(".zip"):
        members = _zip_members(path)
    else:
        from virtaudit.archive_links import LinkIndex

        members = _tar_members(path)
        reader.links = LinkIndex(lambda: _tar_members(path))
    reader.take_all(members)
    return reader.finish()


from virtaudit.nested_archives import is_inner_archive, read_inner, with_inner  # noqa: E402


class _ArchiveReader:
    """What one archive's members add up to: parsed in chunks, host named, package versions found."""

    def __init__(self, path: Path, host_from: HostFrom, jobs: int | None, limits: dict[str, int]) -> None:
        from virtaudit.hostnames import host_mode

        self.archive = str(path).rstrip("/") or "/"
        self.separator = "!"
        """Between the archive and a member's name in a row's path (an extracted report: "/")."""
        self.fallback = archive_name(path) if path.name else archive_name(path.resolve())
        self.host_from = host_from
        self.explicit_host = host_mode(host_from)[0] in ("fixed", "regex")
        self.jobs = jobs
        self.limits = limits
        self.parts: list[dict[str, pl.DataFrame]] = []
        self.errors: list[pl.DataFrame] = []
        self.status_items: list[tuple[str, str, bytes]] = []  # always read
        self.other_items: list[tuple[str, str, bytes]] = []  # read only if the archive is not a sosreport
        self.pending_bytes = 0
        self.sos = False
        self.hostnames: dict[int, str] = {}
        self.package_lists: list[tuple[str, bytes]] = []
        self.other_errors: list[pl.DataFrame] = []
        self.seen: set[str] = set()
        self.position = 0
        self.links: LinkIndex | None = None
        self.depth = 1
        """1 for a named archive, 2 for an archive in it, ... (virtaudit.nested_archives)."""
        self.inner: list[Source] = []
        """A tar archive's member names, for its link members (resolved after the first pass)."""

    def flush(self, items: list[tuple[str, str, bytes]]) -> None:
        import polars as pl

        from virtaudit import _core

        if not items:
            return
        tables = _core.scan_buffers(items=items, jobs=self.jobs, **self.limits)
        self.parts.append({name: pl.DataFrame(tables[name]) for name in _core.TABLE_NAMES})
        items.clear()

    def take_all(self, members: Iterator[_Member]) -> None:
        """Every member of the archive; a fault that ends it is its ``archive`` error row (the members
        read before it are kept)."""
        try:
            for member in members:
                self.take(member)
        except _ArchiveFault as fault:
            where = f"{self.archive}!{fault.member}" if fault.member else self.archive
            self.errors.append(error_frame(where, "", "archive", str(fault)))

    def take(self, member: _Member) -> None:
        self.position += 1
        if self.links is not None:
            self.links.note(member, self.position)
        name = member.name
        if self.separator == "!" and is_inner_archive(member):
            label = f"{name}#{self.position}" if name in self.seen else name
            self.seen.add(label)
            if (source := read_inner(self, member, label)) is not None:
                self.inner.append(source)
            return
        if SOS_MARKER.search(name):
            self.sos = True
        status = bool(STATUS_MEMBER.search(name))
        if status:
            self.sos = True
            self.other_errors.clear()
        try:
            if member.link is None and self._host_fact(member):
                return
        except _MemberFault as fault:
            self._error(name, "", "archive", str(fault), status=True)
            return
        if not name.lower().endswith(".xml") or (not status and self.sos):
            return
        if name in self.seen:
            # Each of the members of one name is read, and named with its position in the archive.
            name = f"{name}#{self.position}"
        self.seen.add(name)
        full = f"{self.archive}{self.separator}{name}"
        # "": named at the end, after the hostname file (which may come later in the stream).
        explicit = not status or self.explicit_host
        host = _host_of(name, full, self.host_from, self.fallback) if explicit else ""
        if self.links is not None and self.links.defer(member, name, host, status=status):
            return
        if member.link is not None:
            message = f"a {member.link} member: not read (links inside archives are not followed)"
            self._error(name, host, "archive", message, status=status)
            return
        cap = self.limits["max_file_size"]
        if member.size > cap:
            # Never read: the same row the core writes for a file above the cap.
            message = f"{member.size} bytes is above the {cap}-byte limit; not read"
            self._error(name, host, "too_large", message, status=status)
            return
        try:
            data = _read_member(member, cap + 1)
        except _MemberFault as fault:
            self._error(name, host, "archive", str(fault), status=status)
            return
        self._add(full, host, data, status)

    def _error(self, name: str, host: str, kind: str, message: str, *, status: bool) -> None:
        # Rows of members that are not status files are dropped if the archive turns out a sosreport.
        row = error_frame(f"{self.archive}{self.separator}{name}", host, kind, message)
        (self.errors if status else self.other_errors).append(row)

    def _add(self, full: str, host: str, data: bytes, status: bool) -> None:
        (self.status_items if status else self.other_items).append((full, host, data))
        if status:
            self.pending_bytes += len(data)
            if len(self.status_items) >= CHUNK_ITEMS or self.pending_bytes >= CHUNK_BYTES:
                self.flush(self.status_items)
                self.pending_bytes = 0
        if self.sos and self.other_items:
            self.other_items.clear()

    def _host_fact(self, member: _Member) -> bool:
        """Reads a hostname file or a package list (True: the member was one of those)."""
        name = member.name
        rank = next((i for i, rx in enumerate(HOSTNAME_MEMBERS) if rx.search(name)), None)
        if rank is not None and rank not in self.hostnames and member.size <= SMALL_FILE:
            host = _clean_hostname(_read_member(member, SMALL_FILE))
            if host:
                self.hostnames[rank] = host
            return True
        if PACKAGE_MEMBER.search(name) and member.size <= PACKAGE_LIST_LIMIT:
            self.package_lists.append((name, _read_member(member, PACKAGE_LIST_LIMIT)))
            return True
        return False

    def finish(self) -> Source:
        import polars as pl

        if self.links is not None:
            self.links.finish(self)
        self.flush(self.status_items)
        if not self.sos:
            for start in range(0, len(self.other_items), CHUNK_ITEMS):
                self.flush(self.other_items[start : start + CHUNK_ITEMS])
        self.other_items.clear()
        if not self.sos:
            self.errors.extend(self.other_errors)
        tables = concat_tables(self.parts)
        sos_host = self.hostnames[min(self.hostnames)] if self.hostnames else self.fallback
        host_expr = pl.when(pl.col("host") == "").then(pl.lit(sos_host if self.sos else self.fallback))
        if self.errors:
            tables["errors"] = pl.concat([tables["errors"], *self.errors], how="vertical_relaxed")
        for name, df in tables.items():
            tables[name] = df.with_columns(host_expr.otherwise(pl.col("host")).alias("host"))
        source = Source(scan_from(tables, (self.archive,)), self._facts(tables, sos_host))
        return with_inner(source, self.inner) if self.inner else source

    def _facts(self, tables: dict[str, pl.DataFrame], sos_host: str) -> pl.DataFrame:
        import polars as pl

        if not self.sos:
            return empty_facts()
        libvirt = qemu = None
        used: list[str] = []
        for name, data in self.package_lists:
            lv, qv = package_versions(data.decode("utf-8", "replace"))
            if (lv and not libvirt) or (qv and not qemu):
                used.append(f"{self.archive}{self.separator}{name}")
            libvirt, qemu = libvirt or lv, qemu or qv
        if not (libvirt or qemu):
            return empty_facts()
        hosts = set(tables["domains"]["host"].to_list()) or {sos_host}
        return pl.DataFrame(
            {
                "host": sorted(hosts),
                "libvirt_version": libvirt,
                "qemu_version": qemu,
                "facts_source": ", ".join(used),
            },
            schema={c: pl.String for c in FACTS_COLUMNS},
        )


def read_special(
    path: Path,
    *,
    max_age: float | None = None,
    jobs: int | None = None,
    host_from: HostFrom = None,
    max_file_size: int | None = None,
    max_depth: int | None = None,
    max_elements: int | None = None,
) -> Source:
    """An archive, an extracted sosreport or a dataset (or a directory of datasets) as a :class:`Source`."""
    from virtaudit.sosreports import is_sosreport_dir

    if is_archive(path) or is_sosreport_dir(path):
        return read_archive(
            path,
            jobs=jobs,
            host_from=host_from,
            max_file_size=max_file_size,
            max_depth=max_depth,
            max_elements=max_elements,
        )
    from virtaudit.datasets import read_dataset

    return read_dataset(path, max_age=max_age)[0]


def scan_special(path: Path, **options: Any) -> Scan:
    """The scan of one archive or dataset."""
    return read_special(path, **options).scan


def __getattr__(name: str) -> Any:
    # The dataset functions under their historic names (they live in virtaudit.datasets, which reads
    # this module's tables).
    if name in (
        "DATASET_META",
        "DATASET_TABLES",
        "dataset_dirs",
        "is_dataset",
        "read_dataset",
        "write_dataset",
    ):
        from virtaudit import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'virtaudit.sources' has no attribute {name!r}")
