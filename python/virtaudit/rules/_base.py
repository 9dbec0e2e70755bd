"""What the rule modules share: the :class:`Context` of a batch, the :func:`rule` decorator that registers a
rule (its catalog entry and its query, one unit) and the message helpers. :mod:`virtaudit.rules.engine`
imports the rule modules and runs them.

Every rule is a function of a :class:`Context` (the scan tables joined with per-document context: kind,
guest name, arch, machine, the libvirt release judged for and the host's QEMU version) that returns
the query plans of its hits and the finding columns to give them (:data:`Parts`). Nothing loops over rows
in Python: the only Python iteration is over the unique (arch, machine, model, release, QEMU) combinations
in :func:`virtaudit.busnames.facts_frame`.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache
from typing import Final, TypeAlias

import polars as pl

from virtaudit.busnames import S390, facts_frame, pci_controllers
from virtaudit.schema import ALL_CAPS_FLAGS, RULE_FINDING_COLUMNS, Rule, Scope

__all__ = [
    "FINDING_COLUMNS",
    "REGISTRY",
    "Context",
    "Parts",
    "Registered",
    "Shape",
    "finding_columns",
    "fmt",
    "live_orphans",
    "narrowed",
    "render",
    "rule",
]

FINDING_COLUMNS: Final = RULE_FINDING_COLUMNS


_DOC_COLUMNS: Final = ("kind", "arch", "machine", "target_key", "qemu_key", "target_text")
"""The per-document columns copied onto every device row."""


def doc_ids(table: pl.DataFrame, keys: pl.DataFrame) -> pl.Series:
    """For each row of ``table``, the ``doc`` of the ``keys`` row (path, host, doc) with its path and
    host (null: none).

    A document's rows are contiguous in every scan table, so only the first row of each run of equal
    (path, host) is looked up by joining on the strings: one lookup per document instead of one per
    device, and the runs are spread back by position. Rows out of order only make more, shorter runs.
    """
    same = (pl.col("path") == pl.col("path").shift()) & (pl.col("host") == pl.col("host").shift())
    starts = table.select(same.fill_null(False).not_().alias("start")).to_series()
    run = starts.cast(pl.UInt32).cum_sum() - 1
    firsts = table.select("path", "host").filter(starts)  # (selected first: a filter copies every column)
    # m:1 refuses a document listed twice in domains, which would misalign the lookup.
    found = firsts.join(keys, on=["path", "host"], how="left", maintain_order="left", validate="m:1")
    return found.get_column("doc").gather(run)


_NOT_RULE_COLUMNS: Final = (
    "path",
    "host",
    "doc_id",
    "ordinal",
    "model_name",
    "pci_domain",
    "pci_slot",
    "pci_function",
    "multifunction",
    "target_chassis",
    "target_port",
    "has_actual",
)
"""Device columns no rule reads (a rule knows a document by its ``doc``): left out of the devices'
copy the rules filter. A rule that reads one fails on every batch with polars' ColumnNotFoundError."""

_CONTROLLER_COLUMNS: Final = (
    "doc",
    "element",
    "type",
    "model",
    "index",
    "alias",
    "in_live_list",
    "target_index",
    "target_hotplug",
    *_DOC_COLUMNS[1:],
)
"""The device columns the controller rules read (all :attr:`Context.controllers` copies out of the batch:
a third of its devices; the rest was half of :func:`virtaudit.busnames.pci_controllers`' cost). A rule
reading another fails on every batch with polars' ColumnNotFoundError, not silently."""


def ids_to_rows(table: pl.DataFrame, domains: pl.DataFrame) -> pl.Series | None:
    """For each row of ``table``, the ``doc`` (row number) of its document in ``domains``, found by the
    ``doc_id`` the core gives every row (null: none); None where the tables do not carry usable ids (a
    caller's own frames, ids repeated), and :func:`doc_ids` looks the documents up by path and host."""
    doc = _doc_of_id(domains) if "doc_id" in table.columns else None
    return None if doc is None else table.select(doc.alias("doc")).to_series()


def _doc_of_id(domains: pl.DataFrame) -> pl.Expr | None:
    """The expression of :func:`ids_to_rows` over a table's ``doc_id``, or None.

    Usually the batch's ids are a contiguous run (an error row takes an id too, and leaves a hole in
    ``domains``): the doc is then the id's offset in the run; with holes, one lookup array and one gather.
    No string is compared, and it stays an expression so that :func:`_with_doc` collects once (every eager
    polars step is a query of its own, planned and optimised).
    """
    if "doc_id" not in domains.columns:
        return None
    ids = pl.col("doc_id")
    # (strictly increasing, as the core numbers a batch's documents: cheaper to test than uniqueness)
    increasing, nulls, low, high, count = domains.select(
        (ids.diff().drop_nulls() > 0).all().alias("increasing"),
        ids.null_count().alias("nulls"),
        ids.min().alias("low"),
        ids.max().alias("high"),
        pl.len(),
    ).row(0)
    if nulls or not increasing:
        return None
    if low is None or high is None:  # (no document: every row's doc is null)
        return pl.lit(None, pl.UInt32)
    span = int(high) - int(low) + 1
    rel = pl.col("doc_id").cast(pl.Int64) - int(low)
    inside = pl.when(rel.is_between(0, span - 1)).then(rel)
    if span == count:
        return inside.cast(pl.UInt32)
    if span > 4 * count + 1024:  # ids far apart (merged scans): the lookup would be mostly holes
        return None
    lookup = pl.Series("doc", [None], dtype=pl.UInt32).extend_constant(None, span - 1)
    lookup = lookup.scatter(domains.get_column("doc_id").cast(pl.Int64) - int(low), domains.get_column("doc"))
    return pl.lit(lookup).gather(inside)


def _with_doc(
    table: pl.DataFrame, domains: pl.DataFrame, columns: Sequence[str] = (), by_id: pl.Expr | None = None
) -> pl.DataFrame:
    """``table`` with the ``doc`` id of its document and that document's ``columns``; rows of no parsed
    document are dropped. ``by_id``: :func:`_doc_of_id` of ``domains``, where the caller has it."""
    if table.is_empty():  # (often the caps: no eager join and gathers for nothing)
        docs = domains.select("doc", *columns).clear()
        return table.with_columns(docs.get_columns())
    doc: pl.Expr | pl.Series | None = None
    if "doc_id" in table.columns:
        doc = by_id if by_id is not None else _doc_of_id(domains)
    if doc is None:
        doc = doc_ids(table, domains.select("path", "host", "doc"))
    # One query: the doc, then each document column gathered by it (null where the doc is).
    out = (
        table.lazy()
        .with_columns(doc.alias("doc"))
        .with_columns(pl.lit(domains.get_column(c)).gather(pl.col("doc")).alias(c) for c in columns)
        .collect(engine="in-memory")
    )
    if out.get_column("doc").null_count():  # a filter copies every column: only when some rows have none
        out = out.filter(pl.col("doc").is_not_null())
    return out


def _contiguous(table: pl.DataFrame, without: Collection[str], keep: Collection[str] = ()) -> pl.DataFrame:
    """``table`` without the columns ``without`` (but those in ``keep``), each column copied into one chunk:
    the one copy of the devices the rules make (dropping first, not after: an eager ``drop`` is a query
    that copies too)."""
    kept = [c for c in table.columns if c not in without or c in keep]
    return pl.DataFrame([table.get_column(c) for c in kept]).rechunk()


def _without(table: pl.DataFrame, columns: Collection[str]) -> pl.DataFrame:
    """``table`` without ``columns``, its other columns shared, not copied."""
    return pl.DataFrame([table.get_column(c) for c in table.columns if c not in columns])


def _doc_sorted(table: pl.DataFrame) -> pl.DataFrame:
    """``table`` with its ``doc`` column flagged sorted where it is (a document's rows are contiguous and
    in order), so that polars' group-bys, uniques and joins on ``doc`` take their sorted paths."""
    doc = table.get_column("doc")
    if doc.is_sorted():
        # (the column replaced in place: an eager with_columns is a query, which copied the whole frame)
        table = table.clone()
        table.replace_column(table.get_column_index("doc"), doc.set_sorted())
    return table


def _domain_facts(domains: pl.DataFrame) -> pl.DataFrame:
    """Per document: the default root of its machine at its target (model null = default)."""
    docs = domains.select(
        "doc",
        "arch",
        "machine",
        pl.lit(None, pl.String).alias("model"),
        "target_key",
        "qemu_key",
    )
    facts = facts_frame(docs)
    keys = ["arch", "machine", "model", "target_key", "qemu_key"]
    return docs.join(facts, on=keys, how="left", nulls_equal=True, maintain_order="left").drop("model")


@dataclass(frozen=True)
class Context:
    """The scan tables prepared for the rules, as lazy frames: every rule is a query plan that reads only
    the columns it needs (see :func:`virtaudit.rules.engine.run`).

    ``domains``: one row per document with ``doc`` (its row number, the id every table carries instead of
    the path), target_key (Int64), qemu_key (Int64, null: unknown), target_text (``libvirt 7.10.0`` /
    ``the newest libvirt``). ``devices``: the scan's devices with ``doc`` and the document columns (kind,
    name, arch, machine, target_key, qemu_key, target_text). ``caps``: only the flags of
    ``caps_flags``, with ``doc``. ``unmatched_live``: the rows of ``live_aliases`` (with ``doc``) that no
    device of the definition carries as its alias (``in_definition`` false: a handful). ``controllers``:
    :func:`virtaudit.busnames.pci_controllers` of the running guests' devices. ``facts``: per document, the
    default root of its machine (see :meth:`domain_facts`). ``status_only``: every document is a status
    file (the usual batch), so a filter on the kind would keep every row; ``all_live``: besides, every one
    has a list of live devices, so a join on those keeps every row. ``target_keys``: the distinct libvirt
    releases the batch is judged for (usually one), for rules that build a table per release.
    """

    domains: pl.LazyFrame
    devices: pl.LazyFrame
    caps: pl.LazyFrame
    unmatched_live: pl.LazyFrame
    controllers: pl.LazyFrame
    facts: pl.LazyFrame
    status_only: bool
    all_live: bool
    target_keys: tuple[int, ...] = ()
    _shared: dict[str, pl.LazyFrame] = dataclass_field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        domains: pl.DataFrame,
        devices: pl.DataFrame,
        caps: pl.DataFrame,
        live_aliases: pl.DataFrame,
        caps_flags: Collection[str],
        caps_ignorable: CapsIgnorable | None = None,
    ) -> Context:
        """The context of a batch; ``caps_flags``: the capability flags the rules read (the caps rows
        kept); where that is every flag, ``caps_ignorable`` gives, for the batch's target releases, the
        flags no rule needs to see (dropped first: the caps table is the largest of a batch)."""
        # One chunk: the gathers by doc id below are faster on contiguous columns (a few thousand rows).
        domains = domains.with_row_index("doc").rechunk()
        by_id = _doc_of_id(domains)  # (the same for every table of the batch)
        # (null kind: not a status file, as ``kind == "status"`` in a filter)
        is_status = pl.col("kind").eq_missing("status")
        status_only, all_live = domains.select(
            is_status.all().alias("status_only"),
            (is_status & pl.col("has_live_devices").fill_null(False)).all().alias("all_live"),
        ).row(0)
        # (the kind is read only to keep the status files' devices: not gathered where all are)
        doc_columns = _DOC_COLUMNS[1:] if status_only else _DOC_COLUMNS
        # The devices in one chunk too: the core hands a batch over in about 17 runs (its threads' share),
        # and every rule filters the devices; on contiguous columns the rules took 15% less CPU (0.40
        # against 0.47 CPU-s over 20,000 files, three runs side by side), for one copy of the devices
        # beside the batch's own while the rules run. The copy leaves out the columns no rule reads (the
        # path and host among them: ``doc`` stands for them), and is made before the document columns are
        # gathered onto it, so that the gathers run on one chunk too (-1.2% of the rules' instructions).
        # (the path and host are kept for that step where the documents are found by them: ids not usable)
        keys = ("doc_id",) if by_id is not None else ("doc_id", "path", "host")
        dev = _contiguous(devices, without=_NOT_RULE_COLUMNS, keep=keys)
        dev = _doc_sorted(_without(_with_doc(dev, domains, doc_columns, by_id), keys))
        target_keys = tuple(domains.get_column("target_key").drop_nulls().unique().sort().to_list())
        if ALL_CAPS_FLAGS not in caps_flags:
            caps = caps.filter(pl.col("flag").is_in(list(caps_flags)))
        elif caps_ignorable is not None and (ignorable := caps_ignorable(target_keys)):
            caps = caps.filter(~pl.col("flag").is_in(list(ignorable)))
        # (in one chunk too, as the rules read them: they are small once filtered)
        caps = _with_doc(caps, domains, by_id=by_id).rechunk()
        # Only the ids no device carries are read by a rule (:func:`live_orphans`): filtered here, before
        # any rule's test (an alias regex over every listed id cost as much as the rest of the rule).
        live = live_aliases.filter(~pl.col("in_definition"))
        unmatched = _with_doc(live, domains, by_id=by_id).rechunk()
        # The Python-side tables (root facts per machine) need eager frames: built here, once.
        running = dev.lazy()
        if not status_only:  # (the usual batch has only status files: no filter to run)
            running = running.filter(pl.col("kind") == "status")
        # (with the device columns the controller rules read only)
        ctrl = pci_controllers(running.select(_CONTROLLER_COLUMNS))
        facts = _domain_facts(domains)
        return cls(
            domains.lazy(),
            dev.lazy(),
            caps.lazy(),
            unmatched.lazy(),
            ctrl.lazy(),
            facts.lazy(),
            status_only=bool(status_only),
            all_live=bool(all_live),
            target_keys=target_keys,
        )

    def status_devices(self) -> pl.LazyFrame:
        # Without a filter where every document is a status file: each rule would compare every row.
        return self.devices if self.status_only else self.devices.filter(pl.col("kind") == "status")

    def status_domains(self) -> pl.LazyFrame:
        return self.domains if self.status_only else self.domains.filter(pl.col("kind") == "status")

    def element_devices(self, element: str) -> pl.LazyFrame:
        """The running guests' devices of one element (disks, hostdevs, a watchdog: a few per guest), one
        shared plan per batch: the rules about them test their other columns on these rows only, instead
        of each testing every device of the batch."""
        return self.shared(
            f"element={element}", lambda ctx: ctx.status_devices().filter(pl.col("element") == element)
        )

    def shared(self, name: str, build: Callable[[Context], pl.LazyFrame]) -> pl.LazyFrame:
        """``build(self)``, one plan for every rule of the batch that asks for ``name``: the same
        ``cache()`` node in each rule's plan, which polars computes once per ``collect_all`` (two rules'
        filters over one cached alias grouping cost what one did). A rule's own filters then run on the
        shared result, after it: for results much smaller than the tables they come from (groups,
        orphans, documents, the devices of one element)."""
        plan = self._shared.get(name)
        if plan is None:
            plan = self._shared[name] = build(self).cache()
        return plan

    def domain_facts(self) -> pl.LazyFrame:
        """Per document (doc, arch, machine, target_key, qemu_key): the default root of its machine at its
        target, with the :func:`virtaudit.busnames.facts_frame` columns."""
        return self.facts


# ---------------------------------------------------------------------------------------------------
# Helpers


def narrowed(frame: pl.LazyFrame, first: pl.Expr) -> pl.LazyFrame:
    """``frame`` filtered by ``first`` before anything the caller adds. polars merges consecutive filters
    into one test of every row, without short-circuit; where ``first`` is a cheap test that keeps a few
    rows (a column the core computed), the costlier tests after it then run on those rows only. (A
    ``cache()`` is what keeps the filters apart.) Rows ``first`` makes null are dropped, as in one filter."""
    return frame.filter(first).cache()


def live_orphans(ctx: Context) -> pl.LazyFrame:
    """(doc, alias) of every id in QEMU's live device list of a status file that no device of its
    definition carries as its alias (ALS005; PCI010 takes them as the evidence of a renamed controller).

    The core marks each listed id (``in_definition``: an exact match), so only the few unmatched ids are
    looked at here. Sound codecs are QEMU devices named after their sound device (sound0-codec0 stands for
    sound0), and on s390 libvirt adds a "zpci<uid>" device for every PCI device: neither is an orphan.
    """
    return ctx.shared("live_orphans", _live_orphans_plan)


def _live_orphans_plan(ctx: Context) -> pl.LazyFrame:
    docs = ctx.status_domains().filter(pl.col("has_live_devices").fill_null(False)).select("doc", "arch")
    live = ctx.unmatched_live.select("doc", "alias")
    if not ctx.all_live:  # (usually every document has the list: then this join keeps every row)
        live = live.join(docs.select("doc"), on=["doc"], how="semi")
    # A codec's id is checked against its sound device's alias: only in the documents with an unmatched id
    # (a join on the document id alone first, so that the batch's aliases are not all hashed).
    known = (
        ctx.status_devices()
        .filter(pl.col("alias").is_not_null())
        .select("doc", pl.col("alias").alias("_base"))
        .join(live.select("doc").unique(), on=["doc"], how="semi")
    )
    alias = pl.col("alias")
    codec = alias.str.contains("-codec", literal=True)
    base = pl.when(codec).then(alias.str.replace(r"-codec\d+$", "")).otherwise(alias).alias("_base")
    return (
        live.with_columns(base)
        .join(known, on=["doc", "_base"], how="anti")
        .join(docs, on=["doc"], how="left", maintain_order="left")
        # (zPCI tested here, on the few aliases left, rather than on every alias of the s390 guests)
        .filter(~(pl.col("arch").is_in(S390) & alias.str.contains(r"^zpci\d+$")).fill_null(False))
        .select("doc", "alias")
    )


def render(template: str, fields: Mapping[str, pl.Expr]) -> pl.Expr:
    """A vectorised ``template.format(**fields)``: literal parts and field expressions (null → "none")
    concatenated; a final period is added when the template does not end with one."""
    parts: list[pl.Expr] = []
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(pl.lit(literal))
        if field is not None:
            if field not in fields:
                raise KeyError(f"message template field {field!r} not provided")
            parts.append(fields[field].cast(pl.String).fill_null("none"))
    text = pl.concat_str(parts) if parts else pl.lit("")
    # Strip one final period and add one back: the same text as a when/then on ends_with(".") but
    # without three copies of the message expression for the optimiser to find common (the message is
    # rendered for few rows; what costs is planning it, once per rule and batch).
    return pl.concat_str(text.str.strip_suffix("."), pl.lit("."))


@cache
def machine_in(patterns: tuple[str, ...]) -> pl.Expr:
    """Vectorised :func:`virtaudit.busnames.machine_matches` on the ``machine`` column."""
    machine = pl.col("machine")
    conds = [machine.str.starts_with(p[:-1]) if p.endswith("*") else machine == p for p in patterns]
    out = pl.lit(False)
    for cond in conds:
        out = out | cond.fill_null(False)
    return out


@cache
def device_text() -> pl.Expr:
    """``pci controller 0 (pci-root)``, ``hostdev (pci)``, ``video (virtio)``, ...

    (Cached, like the other expressions below that depend on no data: the rules share one object per
    process instead of building it again for every batch.)
    """
    # concat_str is null where a part is: the " (model)" suffix is "" where the model is null.
    ctrl = pl.concat_str(
        pl.col("type").fill_null("unknown"),
        pl.lit(" controller "),
        pl.col("index").cast(pl.String).fill_null("?"),
        pl.concat_str(pl.lit(" ("), pl.col("model"), pl.lit(")")).fill_null(""),
    )
    kind = pl.coalesce(pl.col("type"), pl.col("model"))
    other = pl.concat_str(pl.col("element"), pl.concat_str(pl.lit(" ("), kind, pl.lit(")")).fill_null(""))
    return pl.when(pl.col("element") == "controller").then(ctrl).otherwise(other)


def fmt(template: str, *args: pl.Expr | str) -> pl.Expr:
    """``template`` with each ``{}`` replaced by the next argument (a column name or an expression), null
    where an argument is null: what ``pl.format`` gives, built as a ``concat_str``. polars 2.1's own
    format kernel panicked ("assertion failed: i < self.len()") on a filtered frame that kept empty
    chunks, and the scan's tables arrive in many chunks.
    """
    pieces = template.split("{}")
    if len(pieces) != len(args) + 1:
        raise ValueError(f"{template!r} has {len(pieces) - 1} placeholders for {len(args)} arguments")
    parts: list[pl.Expr] = []
    for i, piece in enumerate(pieces):
        if i:
            arg = args[i - 1]
            parts.append(pl.col(arg) if isinstance(arg, str) else arg)
        if piece:
            parts.append(pl.lit(piece))
    return pl.concat_str(parts)


@cache
def q(text: str) -> pl.Expr:
    """Quote a column's value in messages: 'value' (null stays null)."""
    return pl.concat_str(pl.lit("'"), pl.col(text), pl.lit("'"))


@dataclass(frozen=True)
class Shape:
    """The finding columns of a rule (built once per process: the expressions depend on no data, and
    building them again for every batch costs more than a small batch's queries) and the columns of the
    hits that they read."""

    columns: tuple[pl.Expr, ...]
    reads: tuple[str, ...]


Parts: TypeAlias = "tuple[tuple[pl.LazyFrame, Shape], ...]"
"""What a rule finds: query plans of its hits, each with the finding columns to give them."""

RuleQuery: TypeAlias = "Callable[[Context], Parts]"
CapsIgnorable: TypeAlias = "Callable[[tuple[int, ...]], frozenset[str]]"
"""For the target releases of a batch: the capability flags a rule that reads every flag can do without."""


@dataclass(frozen=True)
class Registered:
    """A registered rule: its catalog entry and its query."""

    entry: Rule
    parts: RuleQuery
    caps_ignorable: CapsIgnorable | None = None


REGISTRY: dict[str, Registered] = {}


def rule(
    *,
    code: str,
    name: str,
    scope: Scope,
    severities: tuple[str, ...],
    severity_logic: str,
    message: str,
    why: str,
    evidence: str,
    affected: str,
    remediation: str,
    caps_flags: tuple[str, ...] = (),
    caps_ignorable: CapsIgnorable | None = None,
) -> Callable[[RuleQuery], Callable[[Context], pl.LazyFrame]]:
    """Register a rule: its catalog entry (the keywords, see :class:`virtaudit.schema.Rule`) and the query
    below it, which returns :data:`Parts` for :func:`virtaudit.rules.engine.run`. The decorated name
    becomes a function that returns the rule's finding rows (a plan), for tests and notebooks.
    ``caps_ignorable`` (rules that read every flag only): the flags the rule can do without, for a
    batch's target releases."""
    entry = Rule(
        code=code,
        name=name,
        scope=scope,
        severities=severities,
        severity_logic=severity_logic,
        message=message,
        why=why,
        evidence=evidence,
        affected=affected,
        remediation=remediation,
        caps_flags=caps_flags,
    )

    def register(parts: RuleQuery) -> Callable[[Context], pl.LazyFrame]:
        if code in REGISTRY:
            raise ValueError(f"rule {code} registered twice")
        REGISTRY[code] = Registered(entry, parts, caps_ignorable)

        def findings(ctx: Context) -> pl.LazyFrame:
            frames = [hits.select(shape.columns) for hits, shape in parts(ctx)]
            return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")

        findings.__name__ = findings.__qualname__ = parts.__name__
        findings.__doc__ = parts.__doc__
        return findings

    return register


def finding_columns(
    code: str,
    severity: pl.Expr | str,
    fields: Mapping[str, pl.Expr],
    *,
    element: pl.Expr | None = None,
    alias: pl.Expr | None = None,
    recorded_bus: pl.Expr | None = None,
    expected_bus: pl.Expr | None = None,
) -> Shape:
    """A rule's finding columns for ``code`` (message rendered from the catalog) and the columns of its hits
    they read; the document's path, host and names are added by ``doc`` once all rules ran."""
    sev = pl.lit(severity) if isinstance(severity, str) else severity
    template = REGISTRY[code].entry.message
    optional = {
        "element": element,
        "alias": alias,
        "recorded_bus": recorded_bus,
        "expected_bus": expected_bus,
    }
    columns = (
        _doc_column(),
        pl.lit(code).alias("code"),
        sev.cast(pl.String).alias("severity"),
        render(template, fields).alias("message"),
        *(
            _absent(name) if expr is None else expr.cast(pl.String).alias(name)
            for name, expr in optional.items()
        ),
    )
    reads = dict.fromkeys(name for expr in columns for name in expr.meta.root_names())
    return Shape(columns, tuple(reads))


@cache
def _doc_column() -> pl.Expr:
    return pl.col("doc").cast(pl.UInt32)  # the type :func:`virtaudit.rules.engine.run` concatenates


@cache
def _absent(name: str) -> pl.Expr:
    """A null string column ``name``, for the finding columns a rule leaves empty."""
    return pl.lit(None, pl.String).alias(name)


@cache
def alias_q() -> pl.Expr:
    return q("alias").fill_null("(none)")
