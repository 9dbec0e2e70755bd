"""What an archive reader hands around: one member (name, size, how to read it) and the faults of reading
one, shared by the archive reader (:mod:`virtaudit.sources`), the reader of extracted sosreports
(:mod:`virtaudit.sosreports`), the tar link resolver (:mod:`virtaudit.archive_links`) and the reader of
archives inside archives (:mod:`virtaudit.nested_archives`)."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["READ_ERRORS", "ArchiveFault", "Member", "MemberFault", "lzma_zlib_errors", "read_member"]


@dataclass
class Member:
    name: str
    size: int
    read: Callable[[int], bytes]  # read(at_most) -> bytes
    link: str | None = None
    """For a link member: what kind ("symbolic link", "hard link"); it has no data of its own."""
    target: str | None = None
    """A tar link member's target, as the archive names it (resolved by virtaudit.archive_links)."""
    fatal: bool = True
    """A read error ends the archive (a tar stream cannot skip past a damaged member; a zip can)."""


class ArchiveFault(Exception):
    """The archive cannot be read past this point (corrupt, truncated)."""

    def __init__(self, member: str | None, message: str) -> None:
        super().__init__(message)
        self.member = member


class MemberFault(Exception):
    """One member cannot be read (encrypted, bad CRC, unsupported compression); the others can."""


READ_ERRORS: Final = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
)


def lzma_zlib_errors() -> tuple[type[BaseException], ...]:
    import lzma
    import zlib

    from virtaudit.zstd import zstd_errors

    return (lzma.LZMAError, zlib.error, *zstd_errors())


def read_member(member: Member, limit: int) -> bytes:
    try:
        return member.read(limit)
    except READ_ERRORS + lzma_zlib_errors() as exc:
        message = f"corrupt, truncated or unsupported member {member.name}: {type(exc).__name__}: {exc}"
        if member.fatal:
            raise ArchiveFault(member.name, message) from exc
        raise MemberFault(message) from exc
