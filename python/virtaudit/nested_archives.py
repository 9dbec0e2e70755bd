"""Archives inside archives (a tarball of sosreports, a zip of tar.gz files), read like top-level ones.

A member whose name ends like an archive (``.tar.gz``, ``.zip``, ... : ``sources.ARCHIVE_SUFFIXES``) is
read into memory, at most ``max_file_size`` bytes (its declared size is checked first; a larger one is a
``too_large`` row, never decompressed past the cap), and read from there as its own archive: its own
sosreport layout, host name, package lists and host facts, its rows named by the chain
(``OUTER!reports/sosreport-web01.tar.xz!sosreport-web01/run/libvirt/qemu/GUEST.xml``). Archives nest at
most :data:`MAX_NESTING` levels (the named one counts as the first): a deeper one is an ``archive`` row
naming its chain, not read. So one input holds at most ``MAX_NESTING - 1`` inner archives' bytes at once
(each under the file-size cap) plus the one member being read. An inner archive that is corrupt or cut
short is an ``archive`` row (its members read before the fault are kept), and the outer archive goes on;
one that holds nothing adds no row (a named archive whose inner archives hold nothing is
``nothing_found``, as any archive holding nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator

    from virtaudit.archive_members import Member as _Member
    from virtaudit.sources import Source, _ArchiveReader

__all__ = ["MAX_NESTING", "is_inner_archive", "read_inner", "with_inner"]

MAX_NESTING: Final = 3
"""Levels of archives read: the named archive, an archive in it, and an archive in that."""


def is_inner_archive(member: _Member) -> bool:
    from virtaudit.sources import ARCHIVE_SUFFIXES

    return member.link is None and member.name.lower().endswith(ARCHIVE_SUFFIXES)


def read_inner(outer: _ArchiveReader, member: _Member, name: str) -> Source | None:
    """The inner archive ``member`` (named ``name`` in ``outer``'s rows) read as an archive of its own;
    None when it is not read (its row is then in ``outer``)."""
    from virtaudit.archive_members import MemberFault as _MemberFault
    from virtaudit.archive_members import read_member as _read_member

    cap = outer.limits["max_file_size"]
    chain = f"{outer.archive}{outer.separator}{name}"
    if outer.depth >= MAX_NESTING:
        message = f"an archive inside {MAX_NESTING} levels of archives ({chain}): not read"
        outer._error(name, "", "archive", message, status=True)
        return None
    if member.size > cap:
        message = f"an inner archive of {member.size} bytes is above the {cap}-byte limit; not read"
        outer._error(name, "", "too_large", message, status=True)
        return None
    try:
        data = _read_member(member, cap + 1)
    except _MemberFault as fault:
        outer._error(name, "", "archive", str(fault), status=True)
        return None
    if len(data) > cap:
        message = f"an inner archive above the {cap}-byte limit; not read past it"
        outer._error(name, "", "too_large", message, status=True)
        return None
    return _read_bytes(outer, chain, name, data)


def _read_bytes(outer: _ArchiveReader, chain: str, name: str, data: bytes) -> Source:
    from virtaudit.archive_links import LinkIndex
    from virtaudit.sources import (
        _ArchiveReader,
        _tar_members,
        _zip_members,
        archive_name,
    )

    inner = _ArchiveReader(Path(name), outer.host_from, outer.jobs, outer.limits)
    inner.archive = chain
    inner.fallback = archive_name(name.rsplit("/", 1)[-1]) or outer.fallback
    inner.depth = outer.depth + 1
    members: Iterator[_Member]
    if name.lower().endswith(".zip"):
        members = _zip_members(data)
    else:
        members = _tar_members(data)
        inner.links = LinkIndex(lambda: _tar_members(data))
    inner.take_all(members)  # (inner.archive is the chain: a fault is named OUTER!inner!MEMBER)
    return inner.finish()


def with_inner(source: Source, inner: list[Source]) -> Source:
    """``source`` with the rows and host facts of the archives read inside it."""
    import dataclasses

    import polars as pl

    scan = source.scan
    for part in inner:
        scan = scan.concat(part.scan)
    facts = pl.concat([source.facts, *(part.facts for part in inner)], how="vertical_relaxed")
    return dataclasses.replace(
        source, scan=dataclasses.replace(scan, sources=source.scan.sources), facts=facts
    )
