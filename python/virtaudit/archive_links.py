"""Symbolic and hard link members of tar archives, resolved inside the archive.

A tar archive is a stream, read once front to back; a hard link always names an earlier member, a symbolic
link may name a later one. So the first pass (:class:`virtaudit.sources._ArchiveReader`) reads no link: it
notes every member's name, type and position (names only, never bytes: a few MB for a sosreport of tens
of thousands of members) and keeps the links it would have read (status files, ``*.xml``) aside. After it,
each kept link is resolved by name, component by component (links in the middle of a path too, at most
40 hops): to a regular member (by its position; of several members of one name, the last one before the
end for a symbolic link, the last one before the link for a hard link), or to a reason it cannot be
(dangling, pointing outside the archive, a loop, a directory, a special file). A second streaming pass
over the same archive then reads only the members that links resolved to, one at a time and under the same
size cap, and reports their bytes under each link's own name (``ARCHIVE!run/libvirt/qemu/guest.xml``). A
link that cannot be resolved is an ``archive`` error row naming it; none is skipped without a row.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from virtaudit.archive_members import Member as _Member
    from virtaudit.sources import _ArchiveReader

__all__ = ["LinkIndex"]

MAX_HOPS: Final = 40
"""Links followed to resolve one name (Linux's own bound, ELOOP)."""
LINK_KINDS: Final = ("symbolic link", "hard link")


@dataclass(frozen=True, slots=True)
class _Entry:
    position: int
    kind: str
    """"file", "symbolic link", "directory" or "special file"; a resolvable hard link is its "file"."""
    target: str | None = None
    """A symbolic link's target (as written); a hard link that cannot be resolved: why."""


@dataclass
class _Pending:
    """A link the reader would have read, as its row will be named."""

    name: str
    host: str
    status: bool
    member: str
    kind: str


@dataclass
class LinkIndex:
    """The member names of one tar archive and its links to resolve (see the module docstring)."""

    reopen: Callable[[], Iterator[_Member]]
    """The archive's members again, from its start (the second pass)."""
    entries: dict[str, _Entry] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    pending: list[_Pending] = field(default_factory=list)

    def note(self, member: _Member, position: int) -> None:
        """Records one member of the first pass (its name and type; never its bytes)."""
        name = member.name.rstrip("/")
        parts = name.split("/")
        for i in range(1, len(parts)):
            self.dirs.add("/".join(parts[:i]))
        if member.link == "hard link":
            self.entries[name] = self._hard_link(member.target or "")
        elif member.link == "symbolic link":
            self.entries[name] = _Entry(position, "symbolic link", member.target or "")
        elif member.link in ("directory", "special file"):
            self.entries[name] = _Entry(position, member.link)
        elif member.link is None:
            self.entries[name] = _Entry(position, "file")

    def _hard_link(self, target: str) -> _Entry:
        # (tar semantics: the last member of that name before this one)
        earlier = self.entries.get(_normal(target))
        if earlier is not None and earlier.kind == "file":
            return earlier
        what = "a directory or special file" if earlier is not None else "no earlier member of that name"
        return _Entry(-1, "hard link", f"hard link to {target!r}: {what}")

    def defer(self, member: _Member, name: str, host: str, *, status: bool) -> bool:
        """Keeps a link member the reader would read, for after the first pass (True: kept)."""
        if member.link not in LINK_KINDS:
            return False
        self.pending.append(_Pending(name, host, status, member.name.rstrip("/"), member.link or ""))
        return True

    def resolve(self, member: str) -> int | str:
        """The position of the regular member that ``member`` leads to, or why there is none."""
        entry = self.entries.get(member)
        if entry is None:
            return f"no member {member!r}"
        if entry.kind == "hard link":
            return entry.target or "hard link to nothing"
        if entry.kind != "symbolic link":
            return entry.position
        found = self._follow(posixpath.dirname(member), entry.target or "", [MAX_HOPS])
        if isinstance(found, str) and found.startswith("\0"):
            return found[1:]
        final = self.entries.get(found)
        if final is not None and final.kind == "file":
            return final.position
        if found in self.dirs or (final is not None and final.kind == "directory"):
            return f"symbolic link to {entry.target!r}: a directory"
        if final is not None:
            return f"symbolic link to {entry.target!r}: a {final.kind}"
        return f"symbolic link to {entry.target!r}: dangling (no member {found!r} in the archive)"

    def _follow(self, base: str, target: str, hops: list[int]) -> str:
        """The member name ``target`` (relative to the directory ``base``) leads to, through links met
        on the way; a reason prefixed with NUL when it leaves the archive or loops."""
        if target.startswith("/"):
            return f"\0symbolic link to {target!r}: points outside the archive (an absolute path)"
        current: list[str] = [p for p in base.split("/") if p]
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not current:
                    return f"\0symbolic link to {target!r}: points outside the archive"
                current.pop()
                continue
            current.append(part)
            entry = self.entries.get("/".join(current))
            if entry is not None and entry.kind == "symbolic link":
                hops[0] -= 1
                if hops[0] < 0:
                    return f"\0symbolic link to {target!r}: a loop (more than {MAX_HOPS} links)"
                at = "/".join(current[:-1])
                found = self._follow(at, entry.target or "", hops)
                if found.startswith("\0"):
                    return found
                current = [p for p in found.split("/") if p]
        return "/".join(current)

    def finish(self, reader: _ArchiveReader) -> None:
        """Resolves the kept links and reads what they point to (second pass) into ``reader``."""
        wanted: dict[int, list[_Pending]] = {}
        for link in self.pending:
            found = self.resolve(link.member)
            if isinstance(found, str):
                reader._error(link.name, link.host, "archive", found, status=link.status)
            else:
                wanted.setdefault(found, []).append(link)
        self.pending.clear()
        if wanted:
            self._second_pass(reader, wanted)

    def _second_pass(self, reader: _ArchiveReader, wanted: dict[int, list[_Pending]]) -> None:
        from virtaudit.archive_members import ArchiveFault as _ArchiveFault
        from virtaudit.archive_members import MemberFault as _MemberFault
        from virtaudit.archive_members import read_member as _read_member

        cap = reader.limits["max_file_size"]
        last = max(wanted)
        try:
            for position, member in enumerate(self.reopen(), start=1):
                links = wanted.pop(position, None)
                if links is not None:
                    if member.size > cap:
                        for link in links:
                            message = f"{member.size} bytes is above the {cap}-byte limit; not read"
                            reader._error(link.name, link.host, "too_large", message, status=link.status)
                        continue
                    try:
                        data = _read_member(member, cap + 1)
                    except _MemberFault as fault:
                        for link in links:
                            reader._error(link.name, link.host, "archive", str(fault), status=link.status)
                        continue
                    for link in links:
                        reader._add(
                            f"{reader.archive}{reader.separator}{link.name}", link.host, data, link.status
                        )
                if position >= last:
                    break
        except _ArchiveFault as fault:
            for links in wanted.values():
                for link in links:
                    message = f"the member it points to could not be read again: {fault}"
                    reader._error(link.name, link.host, "archive", message, status=link.status)
            return
        for links in wanted.values():  # (the archive changed between the passes)
            for link in links:
                message = "the member it points to was not found again (the archive changed while read?)"
                reader._error(link.name, link.host, "archive", message, status=link.status)


def _normal(name: str) -> str:
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")
