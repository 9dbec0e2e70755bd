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
    """Facts a source recorded (sosreport packages, a dataset's facts), overridden by ``given``; each
    host's ``facts_source`` says where its facts came from (``ARCHIVE!installed-rpms``, ``--host-facts
    FILE:LINE``; null where a caller's frame did not say)."""
    import polars as pl

    frames = [
        f.select(
            "host",
            "libvirt_version",
            "qemu_version",
            pl.col("facts_source")
            if "facts_source" in f.columns
            else pl.lit(None, pl.String).alias("facts_source"),
        )
        for f in (recorded, given)
        if f is not None and f.height
    ]
    if not frames:
        return None
    merged = pl.concat([f.cast(pl.String) for f in frames], how="vertical_relaxed")
    return merged.unique(subset=["host"], keep="last", maintain_order=True)


OLDEST_MODELLED: Final = "1.2.16"
"""The first libvirt release the bus-name model covers (virtaudit.busnames)."""


def modelled_facts(
    facts: pl.DataFrame | None, note: Callable[[str], None] | None = None
) -> pl.DataFrame | None:
    """``facts`` without the versions the model cannot judge (an old sosreport's QEMU 0.12.1.2, libvirt
    1.2.9): each such host is judged as if its version were not known (at the target), and ``note``
    says so once per host and version, so that an old host never crashes the run nor passes unremarked."""
    if facts is None or facts.height == 0:
        return facts
    import polars as pl

    from virtaudit.versions import libvirt_key, qemu_number

    rows = []
    for row in facts.iter_rows(named=True):
        host, libvirt, qemu = row["host"], row["libvirt_version"], row["qemu_version"]
        origin = row.get("facts_source")
        try:
            old = libvirt is not None and libvirt_key(libvirt) < libvirt_key(OLDEST_MODELLED)
        except ValueError:
            old = True
        if old:
            if note is not None:
                note(
                    f"host {host}: libvirt {libvirt} is older than the model covers (from "
                    f"{OLDEST_MODELLED} on); its guests are judged at the target version"
                )
            libvirt = None
        try:
            qemu_number(qemu)
        except ValueError:
            if note is not None:
                note(f"host {host}: QEMU {qemu} is older than the model covers; judged without it")
            qemu = None
        rows.append({"host": host, "libvirt_version": libvirt, "qemu_version": qemu, "facts_source": origin})
    columns = ("host", "libvirt_version", "qemu_version", "facts_source")
    return pl.DataFrame(rows, schema={c: pl.String for c in columns})


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
    note: Callable[[str], None] | None = None,
) -> Iterator[Audited]:
    """Each batch with its findings, as the batches arrive (``facts`` override what a source recorded;
    versions the model cannot judge are dropped with a ``note``: :func:`modelled_facts`)."""
    from virtaudit.auditing import audit as run_audit
    from virtaudit.reports import normalize_findings

    said: set[str] = set()

    def once(message: str) -> None:  # (the facts are merged again for every batch)
        if note is not None and message not in said:
            said.add(message)
            note(message)

    for piece in pieces:
        host_facts = modelled_facts(merge_facts(piece.facts, facts), once)
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
