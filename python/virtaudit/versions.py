"""libvirt and QEMU version numbers: parsing, ordering and integer keys.

A libvirt version is ``MAJOR.MINOR.MICRO`` with an optional release-candidate suffix
(``3.10.0-rc1``), which sorts before the release itself. ``None`` and ``"newest"`` mean the newest
libvirt behaviour known to the model; it sorts after every numbered release.

For polars, versions become ``Int64`` keys:

* :attr:`LibvirtVersion.number` is libvirt's own encoding, ``major*1_000_000 + minor*1_000 + micro``
  (what ``virParseVersionString`` produces); it cannot tell a release candidate from its release.
* :attr:`LibvirtVersion.key` is ``number * 100 + slot``, where the slot is the rc number for a release
  candidate and 99 for the release, so that ``3.9.0 < 3.10.0-rc1 < 3.10.0-rc2 < 3.10.0``.
  :data:`NEWEST_KEY` is larger than any real key.

QEMU versions use libvirt's encoding (:attr:`QemuVersion.number`), since that is what libvirt compared
(``version >= 2000000``). An unknown QEMU version is ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Final

__all__ = [
    "NEWEST",
    "NEWEST_KEY",
    "NEWEST_MODELLED",
    "LibvirtVersion",
    "QemuVersion",
    "libvirt_key",
    "libvirt_label",
    "qemu_label",
    "qemu_number",
]

_RELEASE_SLOT: Final = 99

# "7.10.0", "v3.10.0-rc1", "3.10.0rc2", "7.4", "libvirt 8.0.0", "9.0.0-4+deb12u1" (a distro suffix, which
# starts with "-<digit>", "+", "~", a space or "(", is ignored).
_LIBVIRT_RE: Final = re.compile(
    r"""^\s*(?:libvirt[\s-]*)?v?
        (?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<micro>\d+))?
        (?:[-.~_]?rc(?P<rc>\d+))?
        (?P<rest>(?:(?:-\d|[+~\s(]).*)?)$""",
    re.IGNORECASE | re.VERBOSE,
)
# "2.11.0", "6.2.0 (Debian 1:6.2+dfsg-2ubuntu6.21)", "qemu 8.2.2", "2.12.0-rc1".
_QEMU_RE: Final = re.compile(
    r"""^\s*(?:qemu(?:[\s-]*(?:emulator|kvm))?[\s-]*(?:version\s*)?)?v?
        (?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<micro>\d+))?
        (?P<rest>(?:[-+~\s(].*)?)$""",
    re.IGNORECASE | re.VERBOSE,
)
_NEWEST_WORDS: Final = frozenset({"newest", "latest", "current", ""})


@total_ordering
@dataclass(frozen=True, slots=True)
class LibvirtVersion:
    """A libvirt release, optionally a release candidate (``rc``)."""

    major: int
    minor: int = 0
    micro: int = 0
    rc: int | None = None

    def __post_init__(self) -> None:
        for part in (self.major, self.minor, self.micro):
            if not 0 <= part < 1000:
                raise ValueError(f"libvirt version component out of range: {part}")
        if self.rc is not None and not 0 <= self.rc < _RELEASE_SLOT:
            raise ValueError(f"release candidate number out of range: {self.rc}")

    @classmethod
    def parse(cls, value: str | LibvirtVersion) -> LibvirtVersion:
        """Parse ``"3.10.0"``, ``"3.10.0-rc1"``, ``"7.4"``, ``"v8.0.0"``; raise ValueError otherwise."""
        if isinstance(value, LibvirtVersion):
            return value
        match = _LIBVIRT_RE.match(value)
        if match is None:
            raise ValueError(f"not a libvirt version: {value!r}")
        rc = match["rc"]
        return cls(
            int(match["major"]),
            int(match["minor"] or 0),
            int(match["micro"] or 0),
            None if rc is None else int(rc),
        )

    @property
    def number(self) -> int:
        """libvirt's encoding, ``major*1_000_000 + minor*1_000 + micro`` (rc not represented)."""
        return self.major * 1_000_000 + self.minor * 1_000 + self.micro

    @property
    def key(self) -> int:
        """Total-order integer key: ``number * 100 + (rc or 99)``."""
        return self.number * 100 + (_RELEASE_SLOT if self.rc is None else self.rc)

    @classmethod
    def from_key(cls, key: int) -> LibvirtVersion:
        """Inverse of :attr:`key` (not defined for :data:`NEWEST_KEY`)."""
        if key >= NEWEST_KEY:
            raise ValueError("the newest-behaviour key has no numbered version")
        number, slot = divmod(key, 100)
        major, rest = divmod(number, 1_000_000)
        minor, micro = divmod(rest, 1_000)
        return cls(major, minor, micro, None if slot == _RELEASE_SLOT else slot)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, LibvirtVersion):
            return NotImplemented
        return self.key < other.key

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}.{self.micro}"
        return base if self.rc is None else f"{base}-rc{self.rc}"


NEWEST_KEY: Final = 1_000_000_000 * 100
"""Key of the newest known behaviour (``libvirt=None``); larger than any real release key."""

NEWEST: Final = None
"""Spelling of the newest behaviour in the public API (``libvirt=None``)."""

NEWEST_MODELLED: Final = "11.3.0"
"""The newest libvirt release the model was checked against (busnames.py and the rules: the hazards
doc's section 6, read release by release up to 11.3.0; the capability flag tables end there too; the lab
ran it): what "newest" stands for in a report, and past which a ``--target-libvirt`` is judged as this
release behaves (and the report warns)."""


@total_ordering
@dataclass(frozen=True, slots=True)
class QemuVersion:
    """A QEMU release as libvirt saw it (``major.minor.micro``; distro suffixes ignored)."""

    major: int
    minor: int = 0
    micro: int = 0

    @classmethod
    def parse(cls, value: str | QemuVersion) -> QemuVersion:
        if isinstance(value, QemuVersion):
            return value
        match = _QEMU_RE.match(value)
        if match is None:
            raise ValueError(f"not a QEMU version: {value!r}")
        return cls(int(match["major"]), int(match["minor"] or 0), int(match["micro"] or 0))

    @property
    def number(self) -> int:
        """libvirt's encoding of a QEMU version (``2.0.0`` → ``2000000``)."""
        return self.major * 1_000_000 + self.minor * 1_000 + self.micro

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, QemuVersion):
            return NotImplemented
        return self.number < other.number

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.micro}"


def _parse_libvirt_or_newest(value: str | LibvirtVersion | None) -> LibvirtVersion | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in _NEWEST_WORDS:
        return None
    return LibvirtVersion.parse(value)


def libvirt_key(value: str | LibvirtVersion | None) -> int:
    """Integer key of a libvirt version; ``None``/``"newest"`` gives :data:`NEWEST_KEY`."""
    version = _parse_libvirt_or_newest(value)
    return NEWEST_KEY if version is None else version.key


def libvirt_label(value: str | LibvirtVersion | int | None) -> str:
    """Canonical text of a libvirt version (or of a key); ``"newest"`` for the newest behaviour."""
    if isinstance(value, int):
        return "newest" if value >= NEWEST_KEY else str(LibvirtVersion.from_key(value))
    version = _parse_libvirt_or_newest(value)
    return "newest" if version is None else str(version)


def qemu_number(value: str | QemuVersion | None) -> int | None:
    """libvirt's integer encoding of a QEMU version, or ``None`` when unknown (None or empty)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return QemuVersion.parse(value).number


def qemu_label(number: int | None) -> str | None:
    """Text of an encoded QEMU version (inverse of :func:`qemu_number`)."""
    if number is None:
        return None
    major, rest = divmod(number, 1_000_000)
    minor, micro = divmod(rest, 1_000)
    return f"{major}.{minor}.{micro}"
