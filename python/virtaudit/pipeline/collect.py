"""Batches to findings: the rules run on each batch as it arrives, and what outlives the batch is kept
small (copied out of it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from virtaudit.pipeline.inputs import Piece, detached

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.scanning import Scan

MERGE_EVERY: Final = 32
"""Kept frames are merged into one every this many batches (see :class:`KeptRows`)."""


def merge_facts(recorded: pl.DataFrame | None, given: pl.DataFrame | None) -> pl.DataFrame | None:
    """Facts a source recorded (sosreport packages, a dataset's facts), overridden by ``given``."""
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
        self.frames.append(detached(frame))
        if len(self.frames) >= MERGE_EVERY:
            self.frames = [self.merged()]

    def merged(self, empty: pl.DataFrame | None = None) -> pl.DataFrame:
        """All rows in one frame (``empty`` gives the schema when there are none)."""
        import polars as pl

        frames = self.frames if empty is None else [empty, *self.frames]
        return detached(pl.concat(frames, how="vertical_relaxed"))


@dataclass
class Audited:
    """One batch after the rules: its tables, the facts it was judged with, and its findings (the
    findings contract's columns, strings)."""

    piece: Piece
    findings: pl.DataFrame
    facts: pl.DataFrame | None

    @property
    def scan(self) -> Scan:
        return self.piece.scan


def audit_pieces(
    pieces: Iterable[Piece],
    *,
    target_libvirt: str | None,
    facts: pl.DataFrame | None,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
) -> Iterator[Audited]:
    """Each batch with its findings, as the batches arrive (``facts`` override what a source recorded)."""
    from virtaudit.auditing import audit as run_audit
    from virtaudit.reports import normalize_findings

    for piece in pieces:
        host_facts = merge_facts(piece.facts, facts)
        found = normalize_findings(
            run_audit(
                piece.scan, target_libvirt=target_libvirt, host_facts=host_facts, select=select, ignore=ignore
            )
        )
        audited = Audited(piece, found, host_facts)
        # Release this batch before the generator builds another (with prefetch, the next one is already
        # being scanned: see PlainScan).
        del piece, found
        yield audited
        del audited


def each_audited(audited: Iterable[Audited], *consumers: Callable[[Audited], None]) -> None:
    """Hand every batch to every consumer, in order, keeping none."""
    for batch in audited:
        for consume in consumers:
            consume(batch)
        del batch
