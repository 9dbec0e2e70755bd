"""Extracted sosreports (and the collection directories of contrib/ansible), read like the archives.

An **extracted sosreport** is a directory with sos's own directories (``sos_commands/``, ``sos_reports/``,
``sos_logs/``), or the ``virtaudit-collect.txt`` of contrib/ansible's collection, or libvirt's status
directory (``run/libvirt/qemu`` or ``var/run/libvirt/qemu``) beside a file that names its host or lists
its packages (``hostname``, ``uname``, ``installed-rpms``, ``installed-debs``). It is read exactly as
the same report packed in an archive (:class:`virtaudit.sources._ArchiveReader`): the host is named from
the report's hostname file, the libvirt and QEMU versions come from its package lists, and only the
status files under ``run/libvirt/qemu`` are read. Its rows are named by their real paths
(``DIR/run/libvirt/qemu/GUEST.xml``).

Only the few places a report keeps these files are looked at: a sosreport holds tens of thousands of
files, and none of the others is read or even listed. A symbolic link is followed only for a hostname
file or a package list (sos links ``hostname`` and ``installed-rpms`` to their ``sos_commands`` output),
and only when it resolves to a regular file inside the report; a linked status file is an error row.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Final

from virtaudit.archive_members import Member as _Member

__all__ = ["SOS_SEARCH_DEPTH", "is_sosreport_dir", "may_be_sosreport", "sos_members"]

SOS_DIRS: Final = ("sos_commands", "sos_reports", "sos_logs")
COLLECT_MARKER: Final = "virtaudit-collect.txt"
STATUS_DIRS: Final = ("run/libvirt/qemu", "var/run/libvirt/qemu")
IDENTITY_FILES: Final = ("hostname", "uname", "installed-rpms", "installed-debs")
# Where a report keeps its hostname and package lists (files, or directories whose files are read).
FACT_FILES: Final = ("hostname", "etc/hostname", "installed-rpms", "installed-debs")
FACT_DIRS: Final = ("sos_commands/host", "sos_commands/general", "sos_commands/rpm", "sos_commands/dpkg")
SOS_SEARCH_DEPTH: Final = 3
"""How deep under a named directory extracted sosreports are looked for (``DIR/case/sosreport-x/``)."""


def is_sosreport_dir(path: Path) -> bool:
    """Whether ``path`` is the top of an extracted sosreport (see the module docstring)."""
    try:
        if not path.is_dir():
            return False
        if any((path / d).is_dir() for d in SOS_DIRS) or (path / COLLECT_MARKER).is_file():
            return True
        status = any((path / d).is_dir() for d in STATUS_DIRS)
        return status and any(os.path.lexists(path / f) for f in IDENTITY_FILES)
    except OSError:
        return False


def may_be_sosreport(names: Collection[str]) -> bool:
    """Whether a directory listing ``names`` can be an extracted sosreport: :func:`is_sosreport_dir` needs
    one of these entries, so a walk that has the listing looks inside only such a directory."""
    return not _FIRST_NAMES.isdisjoint(names)


_FIRST_NAMES: Final = frozenset((*SOS_DIRS, COLLECT_MARKER, *(d.split("/", 1)[0] for d in STATUS_DIRS)))


def plain_parts(path: Path, reports: list[Path]) -> list[str]:
    """What of ``path`` the core walks when ``reports`` (under it) are read apart: its sub-directories
    and ``*.xml`` files, the reports and what leads to them left out."""
    parts: list[str] = []
    try:
        with os.scandir(path) as entries:
            listed = sorted((Path(e.path), e.is_dir(follow_symlinks=False)) for e in entries)
    except OSError:
        return [str(path)]  # (the core reports it)
    for child, is_dir in listed:
        if child in reports:
            continue
        if is_dir and any(child in r.parents for r in reports):
            parts.extend(plain_parts(child, reports))
        elif is_dir or child.name.lower().endswith(".xml"):
            parts.append(str(child))
    return parts


def _open_member(root: Path, rel: str, *, follow: bool) -> _Member:
    """A member of the report: read lazily, only a regular file (a link only where ``follow``, and only
    to a regular file inside ``root``)."""
    full = root / rel
    try:
        st = os.lstat(full)
    except OSError:
        return _Member(rel, 0, lambda _limit: b"", link="vanished file")
    target = full
    if stat.S_ISLNK(st.st_mode):
        real = Path(os.path.realpath(full))
        inside = real == root.resolve() or root.resolve() in real.parents
        if not follow or not inside or not real.is_file():
            return _Member(rel, 0, lambda _limit: b"", link="symbolic link")
        target, st = real, os.stat(real)
    elif not stat.S_ISREG(st.st_mode):
        return _Member(rel, 0, lambda _limit: b"", link="special file")

    def read(limit: int) -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(target, flags)
        except PermissionError:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            return f.read(limit)

    return _Member(rel, st.st_size, read, fatal=False)


def _files_in(root: Path, rel_dir: str) -> list[str]:
    try:
        with os.scandir(root / rel_dir) as entries:
            return sorted(f"{rel_dir}/{e.name}" for e in entries if not e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def sos_members(root: Path) -> Iterator[_Member]:
    """The members of an extracted report that :class:`virtaudit.sources._ArchiveReader` reads: its
    hostname files and package lists first, then its status files."""
    for rel in FACT_FILES:
        if os.path.lexists(root / rel):
            yield _open_member(root, rel, follow=True)
    for rel_dir in FACT_DIRS:
        for rel in _files_in(root, rel_dir):
            yield _open_member(root, rel, follow=True)
    for rel_dir in STATUS_DIRS:
        if (root / rel_dir).is_symlink():
            continue  # (/var/run is a link to /run on the hosts; a report copies it as one)
        for rel in _files_in(root, rel_dir):
            if rel.lower().endswith(".xml"):
                yield _open_member(root, rel, follow=False)
