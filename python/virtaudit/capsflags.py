"""Which QEMU capability flag names a libvirt release knows when it reads a status file.

A restarted libvirtd parses every ``<qemuCaps><flag name=.../>`` of a status file, and a name its table
lacks is a hard error (``Unknown qemu capabilities flag``): the status file fails to load and the guest is
forgotten while its QEMU keeps running. The tables of 69 releases (every minor release 3.0.0 to 8.5.0,
then 9.0.0, 9.6.0, 9.8.0, 9.10.0, 10.4.0, 10.5.0, 10.7.0 and 11.3.0) are in
:mod:`virtaudit.capsflags_data`, derived from ``qemucaps-flags.csv`` by ``tools/derive_caps_flags.py``.

For a release that was not read, the data's README allows one interpolation: from 5.3.0 on every covered
table is a prefix of the next covered one, so a release R between covered releases L < R < U knows every
name of L and no name outside U; a name in U but not in L is "maybe" known. Nothing else is guessed:
releases below 3.0.0, uncovered ones below 5.3.0 (release candidates, maintenance releases) and everything
after 11.3.0 are "unknown", except that the two names 5.3.0 deleted (``kqemu``, ``enable-kqemu``) fail on
5.3.0 and every later release (the README says so, and names are never re-added).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Final, Literal

from virtaudit.capsflags_data import COVERED, SPANS
from virtaudit.versions import libvirt_key

if TYPE_CHECKING:
    import polars as pl

__all__ = ["COVERED_KEYS", "DELETED", "Knowledge", "TableAt", "known", "started_after", "table_at"]

COVERED_KEYS: Final = tuple(libvirt_key(release) for release in COVERED)
_PREFIX_FROM: Final = libvirt_key("5.3.0")  # covered tables are prefixes of each other from here on
DELETED: Final = {"kqemu": "5.3.0", "enable-kqemu": "5.3.0"}
"""Names deleted from the table (commit 5dd6e7f949) and the first release without them."""

Knowledge = Literal["yes", "no", "maybe", "unknown"]


@dataclass(frozen=True, slots=True)
class TableAt:
    """What is known of the table of the release with key ``key``: the covered release itself
    (``exact``), or the covered releases that bracket it (``lower``/``upper`` indexes into
    :data:`COVERED`; None where there is none or where the README allows no interpolation)."""

    key: int
    exact: int | None
    lower: int | None
    upper: int | None

    @property
    def judged(self) -> bool:
        """The table is known exactly, or bracketed as the README allows."""
        return self.exact is not None or (self.lower is not None and self.upper is not None)

    def describe(self) -> str:
        if self.exact is not None:
            return f"the table of {COVERED[self.exact]}"
        if self.lower is not None and self.upper is not None:
            return f"a table between those of {COVERED[self.lower]} and {COVERED[self.upper]}"
        return "a table that was not read"


@cache
def table_at(key: int) -> TableAt:
    """The covered release(s) that say what the release with ``key`` knows."""
    i = bisect_left(COVERED_KEYS, key)
    if i < len(COVERED_KEYS) and COVERED_KEYS[i] == key:
        return TableAt(key, i, i, i)
    if 0 < i < len(COVERED_KEYS) and COVERED_KEYS[i - 1] >= _PREFIX_FROM:
        return TableAt(key, None, i - 1, i)
    return TableAt(key, None, None, None)


@cache
def known(flag: str, key: int) -> Knowledge:
    """Whether the release with ``key`` knows the capability flag name ``flag``."""
    deleted = DELETED.get(flag)
    if deleted is not None and key >= libvirt_key(deleted):
        return "no"
    table = table_at(key)
    if not table.judged:
        return "unknown"
    span = SPANS.get(flag)

    def has(index: int) -> bool:
        return span is not None and span[0] <= index and (span[1] is None or index < span[1])

    if table.exact is not None:
        return "yes" if has(table.exact) else "no"
    assert table.lower is not None and table.upper is not None
    if has(table.lower):
        return "yes"
    return "maybe" if has(table.upper) else "no"


@cache
def started_after() -> pl.DataFrame:
    """Per flag name (flag): the newest covered release whose table lacks it (``started_after``, its key
    ``after_key``), for the names some covered table lacks and a later one has. A status file records the
    flags of the release that started the guest (and of later ones), so a guest recording such a flag was
    started by a release after ``started_after``: a lower bound, never an upper one (a flag is recorded
    only where QEMU supports it)."""
    import polars as pl

    rows = [
        (flag, COVERED[first - 1], COVERED_KEYS[first - 1]) for flag, (first, _) in SPANS.items() if first
    ]
    return pl.DataFrame(
        rows, schema={"flag": pl.String, "started_after": pl.String, "after_key": pl.Int64}, orient="row"
    )
