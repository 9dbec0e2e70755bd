"""Runs the rules: imports every rule module (each registers its rules on import) and collects their
queries over a batch's :class:`~virtaudit.rules._base.Context`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import polars as pl

# (the rule modules register their rules when imported: these imports are what makes them known)
from virtaudit.rules import als, caps, pci, pcilive, reconnect, rst  # noqa: F401
from virtaudit.rules._base import FINDING_COLUMNS, REGISTRY, Context, Registered
from virtaudit.schema import ALL_CAPS_FLAGS, FAMILIES

__all__ = ["Context", "caps_flags_used", "caps_ignorable", "registered", "run", "trim_caps"]


def registered() -> Mapping[str, Registered]:
    """Every rule (registered when its module was imported, above), families in the order of
    :data:`virtaudit.schema.FAMILIES`, by code within a family."""
    if list(REGISTRY) != sorted(REGISTRY, key=_family_order):
        ordered = sorted(REGISTRY.items(), key=lambda item: _family_order(item[0]))
        REGISTRY.clear()
        REGISTRY.update(ordered)
    return REGISTRY


def _family_order(code: str) -> tuple[int, str]:
    """Families in the order of :data:`virtaudit.schema.FAMILIES`, each family's rules by code (a family's
    rules may come from more than one module: PCI010 from :mod:`~virtaudit.rules.pcilive`, RST009 on from
    :mod:`~virtaudit.rules.reconnect`)."""
    return list(FAMILIES).index(code[:3]), code


def caps_flags_used() -> tuple[str, ...]:
    """The capability flags any rule reads, in first-use order."""
    return tuple(dict.fromkeys(flag for r in registered().values() for flag in r.entry.caps_flags))


def caps_ignorable(target_keys: tuple[int, ...]) -> frozenset[str]:
    """The capability flags no rule needs for a batch judged for ``target_keys``: those every rule that
    reads all flags can do without, except the flags some rule names."""
    readers = [r for r in registered().values() if ALL_CAPS_FLAGS in r.entry.caps_flags]
    if not readers or any(r.caps_ignorable is None for r in readers):
        return frozenset()
    ignorable = frozenset.intersection(*(r.caps_ignorable(target_keys) for r in readers if r.caps_ignorable))
    return ignorable - set(caps_flags_used())


def trim_caps(table: pl.DataFrame, target_keys: Iterable[int]) -> pl.DataFrame:
    """A batch's caps table (``table``) without the rows no rule needs when the batch is judged for
    ``target_keys`` (the libvirt keys of every document of the batch:
    :func:`virtaudit.auditing.audit_target_keys`), its strings copied out, so that the full table's memory
    goes as soon as the caller drops it.

    For a caller that keeps a batch while its findings are computed (the CLI): :meth:`Context.build` drops
    the same rows, but from a copy, while the caller's batch keeps the full table (the largest of a batch,
    a couple of hundred rows per status file). Every flag some rule names is kept, and so is every flag
    that some target does not surely know (CAP001 needs those), so the findings for ``target_keys`` do not
    change; judged for another target, the trimmed table may lack rows a rule needs.
    """
    keys = tuple(sorted(set(target_keys)))
    used = caps_flags_used()
    if ALL_CAPS_FLAGS in used:
        drop = caps_ignorable(keys)
        if not drop:
            return table
        kept = table.filter(~pl.col("flag").is_in(list(drop)))
    else:
        kept = table.filter(pl.col("flag").is_in(list(used)))
    # (polars strings are views into the batch's buffers: a filter alone would keep them all alive)
    strings = [name for name, dtype in kept.schema.items() if dtype == pl.String]
    return kept.with_columns(pl.concat_str(pl.col(name), pl.lit("")).alias(name) for name in strings)


def run(ctx: Context, codes: Sequence[str]) -> pl.DataFrame:
    """Run the rules ``codes`` and concatenate their findings (unsorted; a ``doc`` id, no path).

    Each rule is a query plan, so polars reads only the columns it needs. Every rule's hits are collected
    by one ``collect_all``, with the in-memory engine (a batch is small and already in memory: the
    streaming engine's set-up costs more than it saves), paying the per-collect set-up once. Without
    polars' search for sub-plans the plans share: what they share is mostly built eagerly in
    :meth:`Context.build` (the PCI controllers) or marked with ``cache()``, and the search cost more than
    it found (the rules over 20,000 files in batches of 2,000: 0.35 s with it, 0.30 s without, median of
    5 side by side, the same findings).

    The plans collect the hits only, with the columns their findings read: most rules find nothing in a
    batch, and planning the message expressions costs more than rendering them for the few rows found,
    which is done afterwards, again in one ``collect_all``.
    """
    rules = registered()
    parts = [part for code in codes for part in rules[code].parts(ctx)]
    hits = pl.collect_all(
        [frame.select(shape.reads) for frame, shape in parts],
        engine="in-memory",
        optimizations=_OPTIMIZATIONS,
    )
    found = [
        rows.lazy().select(shape.columns) for rows, (_, shape) in zip(hits, parts, strict=True) if rows.height
    ]
    if not found:
        return pl.DataFrame(
            schema={name: (pl.UInt32 if name == "doc" else pl.String) for name in FINDING_COLUMNS}
        )
    # (no cast to a schema: :func:`finding_columns` gives every part the same column types)
    return pl.concat(pl.collect_all(found, engine="in-memory", optimizations=_OPTIMIZATIONS), how="vertical")


_OPTIMIZATIONS: Final = pl.QueryOptFlags(
    comm_subplan_elim=False,
    comm_subexpr_elim=False,
    cluster_with_columns=False,
    check_order_observe=False,
    simplify_expression=False,
    join_order=False,
    row_estimate=False,
    sort_collapse=False,
    slice_pushdown=False,
)
"""polars' optimisations the rules' plans gain from: predicate and projection pushdown (a rule reads a few
columns, and its filters run before its joins) and fast projections. The others found nothing to do in
these small plans and cost their search on every plan of every batch: without them ``collect_all`` took
8% less CPU on 2,000-file batches and 16% less on 20-file ones (fastest of 9, one thread), and the whole
rules pass 4% fewer instructions (callgrind), with the same hits.
The search for common sub-plans is off too: what plans share is one ``cache()`` node
(:meth:`~virtaudit.rules._base.Context.shared`), and the search cost more than it found (see :func:`run`)."""
