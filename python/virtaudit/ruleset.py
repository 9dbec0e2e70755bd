"""The rules of :mod:`virtaudit.catalog` as polars queries over the scan tables.

Every rule is a function of a :class:`Context` (the scan tables joined with per-document context: kind,
guest name, arch, machine, the libvirt release judged for and the host's QEMU version) that returns
finding rows with :data:`FINDING_COLUMNS`. Nothing loops over rows in Python: the only Python iteration is
over the unique (arch, machine, model, release, QEMU) combinations in :func:`virtaudit.busnames.facts_frame`.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import groupby
from typing import Final, TypeAlias

import polars as pl

from virtaudit.busnames import (
    I440FX,
    PCI_ROOT,
    PCIE_ROOT,
    Q35,
    S390,
    X86,
    facts_frame,
    pci_controllers,
)
from virtaudit.catalog import CAPS_FLAGS_USED, CATALOG
from virtaudit.versions import libvirt_key

__all__ = ["FINDING_COLUMNS", "RULES", "Context", "render", "run"]

FINDING_COLUMNS: Final = (
    "doc",
    "code",
    "severity",
    "message",
    "element",
    "alias",
    "recorded_bus",
    "expected_bus",
)

_ROOTS: Final = (PCI_ROOT, PCIE_ROOT)
_USER_ALIAS_RE: Final = r"^ua-[A-Za-z0-9_-]*$"

_V3_10_RC1: Final = libvirt_key("3.10.0-rc1")
_V2_4: Final = libvirt_key("2.4.0")
_V6_0: Final = libvirt_key("6.0.0")
_V12_5: Final = libvirt_key("12.5.0")

# Device models QEMU attaches over PCI (for PCI009, conservative: explicit models only).
_USB_PCI_MODELS: Final = (
    "piix3-uhci",
    "piix4-uhci",
    "ehci",
    "ich9-ehci1",
    "ich9-uhci1",
    "ich9-uhci2",
    "ich9-uhci3",
    "vt82c686b-uhci",
    "pci-ohci",
    "nec-xhci",
    "qemu-xhci",
)
_SCSI_PCI_MODELS: Final = (
    "virtio-scsi",
    "virtio-transitional",
    "virtio-non-transitional",
    "lsilogic",
    "lsisas1068",
    "lsisas1078",
    "vmpvscsi",
    "am53c974",
    "dc390",
)
_NIC_PCI_MODELS: Final = (
    "virtio",
    "virtio-transitional",
    "virtio-non-transitional",
    "e1000",
    "e1000e",
    "rtl8139",
    "vmxnet3",
    "ne2k_pci",
    "pcnet",
    "igb",
)
_VIDEO_PCI_MODELS: Final = ("virtio", "qxl", "vga", "cirrus", "vmvga", "bochs")
_SOUND_PCI_MODELS: Final = ("ich6", "ich7", "ich9", "ac97", "es1370")
# Addresses of devices that QEMU creates with -device (and so lists in /machine/peripheral).
_DEVICE_BACKED_ADDRESSES: Final = ("pci", "drive", "usb", "ccw", "virtio-serial", "dimm", "ccid")


_DOC_COLUMNS: Final = ("kind", "name", "arch", "machine", "target_key", "qemu_key", "target_text")
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


def _with_doc(table: pl.DataFrame, domains: pl.DataFrame, columns: Sequence[str] = ()) -> pl.DataFrame:
    """``table`` with the ``doc`` id of its document and that document's ``columns``; rows of no parsed
    document are dropped."""
    if table.is_empty():  # (often the caps: no eager join and gathers for nothing)
        docs = domains.select("doc", *columns).clear()
        return table.with_columns(docs.get_columns())
    doc = doc_ids(table, domains.select("path", "host", "doc"))
    table = table.with_columns(doc)
    if doc.null_count():  # a filter copies every column: only when some rows have no document
        table = table.filter(pl.col("doc").is_not_null())
        doc = table.get_column("doc")
    return table.with_columns(domains.get_column(c).gather(doc) for c in columns)


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
    the columns it needs (see :func:`run`).

    ``domains``: one row per document with ``doc`` (its row number, the id every table carries instead of
    the path), target_key (Int64), qemu_key (Int64, null: unknown), target_text (``libvirt 7.10.0`` /
    ``the newest libvirt``). ``devices``: the scan's devices with ``doc`` and the document columns (kind,
    name, arch, machine, target_key, qemu_key, target_text). ``caps``: only the flags of
    :data:`CAPS_FLAGS_USED`, with ``doc``. ``live_aliases``: with ``doc``. ``controllers``:
    :func:`virtaudit.busnames.pci_controllers` of the running guests' devices. ``facts``: per document, the
    default root of its machine (see :meth:`domain_facts`). ``status_only``: every document is a status
    file (the usual batch), so a filter on the kind would keep every row; ``all_live``: besides, every one
    has a list of live devices, so a join on those keeps every row.
    """

    domains: pl.LazyFrame
    devices: pl.LazyFrame
    caps: pl.LazyFrame
    live_aliases: pl.LazyFrame
    controllers: pl.LazyFrame
    facts: pl.LazyFrame
    status_only: bool
    all_live: bool

    @classmethod
    def build(
        cls,
        domains: pl.DataFrame,
        devices: pl.DataFrame,
        caps: pl.DataFrame,
        live_aliases: pl.DataFrame,
    ) -> Context:
        # One chunk: the gathers by doc id below are faster on contiguous columns (a few thousand rows).
        domains = domains.with_row_index("doc").rechunk()
        # (the devices and aliases are left in the scan's chunks: copied into one, the rules ran no faster
        # and a million-file audit peaked 9 MB higher, a copy of each beside the batch's own)
        dev = _with_doc(devices, domains, _DOC_COLUMNS)
        caps = _with_doc(caps.filter(pl.col("flag").is_in(CAPS_FLAGS_USED)), domains)
        live_aliases = _with_doc(live_aliases, domains)
        # (null kind: not a status file, as ``kind == "status"`` in a filter)
        is_status = pl.col("kind").eq_missing("status")
        status_only, all_live = domains.select(
            is_status.all().alias("status_only"),
            (is_status & pl.col("has_live_devices").fill_null(False)).all().alias("all_live"),
        ).row(0)
        # The Python-side tables (root facts per machine) need eager frames: built here, once.
        running = dev.lazy()
        if not status_only:  # (the usual batch has only status files: no filter to run)
            running = running.filter(pl.col("kind") == "status")
        ctrl = pci_controllers(running)
        facts = _domain_facts(domains)
        return cls(
            domains.lazy(),
            dev.lazy(),
            caps.lazy(),
            live_aliases.lazy(),
            ctrl.lazy(),
            facts.lazy(),
            status_only=bool(status_only),
            all_live=bool(all_live),
        )

    def status_devices(self) -> pl.LazyFrame:
        # Without a filter where every document is a status file: each rule would compare every row.
        return self.devices if self.status_only else self.devices.filter(pl.col("kind") == "status")

    def status_domains(self) -> pl.LazyFrame:
        return self.domains if self.status_only else self.domains.filter(pl.col("kind") == "status")

    def domain_facts(self) -> pl.LazyFrame:
        """Per document (doc, arch, machine, target_key, qemu_key): the default root of its machine at its
        target, with the :func:`virtaudit.busnames.facts_frame` columns."""
        return self.facts


# ---------------------------------------------------------------------------------------------------
# Helpers


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
class _Shape:
    """The finding columns of a rule (built once per process: the expressions depend on no data, and
    building them again for every batch costs more than a small batch's queries) and the columns of the
    hits that they read."""

    columns: tuple[pl.Expr, ...]
    reads: tuple[str, ...]


Parts: TypeAlias = "tuple[tuple[pl.LazyFrame, _Shape], ...]"
"""What a rule finds: query plans of its hits, each with the finding columns to give them."""

_PARTS: dict[str, Callable[[Context], Parts]] = {}


def _rule(code: str) -> Callable[[Callable[[Context], Parts]], Callable[[Context], pl.LazyFrame]]:
    """Register a rule's :data:`Parts` for :func:`run`; the rule itself returns its finding rows."""

    def register(parts: Callable[[Context], Parts]) -> Callable[[Context], pl.LazyFrame]:
        _PARTS[code] = parts

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
) -> _Shape:
    """A rule's finding columns for ``code`` (message rendered from the catalog) and the columns of its hits
    they read; the document's path, host and names are added by ``doc`` once all rules ran."""
    sev = pl.lit(severity) if isinstance(severity, str) else severity
    template = CATALOG[code].message
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
    return _Shape(columns, tuple(reads))


@cache
def _doc_column() -> pl.Expr:
    return pl.col("doc").cast(pl.UInt32)  # the type :func:`run` concatenates


@cache
def _absent(name: str) -> pl.Expr:
    """A null string column ``name``, for the finding columns a rule leaves empty."""
    return pl.lit(None, pl.String).alias(name)


@cache
def _alias_q() -> pl.Expr:
    return q("alias").fill_null("(none)")


# ---------------------------------------------------------------------------------------------------
# PCI


@_rule("PCI001")
def pci001(ctx: Context) -> Parts:
    c = ctx.controllers.filter(pl.col("is_root") & pl.col("user_alias_flag"))
    return ((c, _pci001_columns()),)


@cache
def _pci001_columns() -> _Shape:
    target = pl.col("target_text")
    rb, qb = q("restart_bus"), q("qemu_bus")
    severity = (
        pl.when(~pl.col("confirmed"))
        .then(pl.lit("medium"))
        .when(~pl.col("agrees"))
        .then(pl.lit("high"))
        .when(pl.col("qemu_dependent"))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("info"))
    )
    detail = (
        pl.when(~pl.col("confirmed"))
        .then(
            fmt(
                "libvirt's root-bus naming for {} is unconfirmed, so the bus {} that {} would use for PCI "
                "hotplug after a restart may not be the one QEMU has",
                pl.col("arch"),
                rb,
                target,
            )
        )
        .when(~pl.col("agrees") & pl.col("pseries"))
        .then(
            fmt(
                "pSeries root aliases are never translated, so after a restart {} would send PCI hotplugs "
                "to bus {}, which QEMU lacks (its root bus is {})",
                target,
                rb,
                qb,
            )
        )
        .when(~pl.col("agrees"))
        .then(
            fmt(
                "after a restart {} would send PCI hotplugs to bus {}, but QEMU's root bus is {}, so they "
                "fail",
                target,
                rb,
                qb,
            )
        )
        .when(pl.col("qemu_dependent"))
        .then(
            fmt(
                "after a restart {} assumes the unknown QEMU version is new enough and uses bus {}, which "
                "is wrong if this host's QEMU predates PPC multibus support (record its version in host "
                "facts)",
                target,
                rb,
            )
        )
        .otherwise(
            fmt("after a restart {} translates it to QEMU's root bus {}, so hotplug works", target, rb)
        )
    )
    return finding_columns(
        "PCI001",
        severity,
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("restart_bus"),
        expected_bus=pl.col("qemu_bus"),
    )


@_rule("PCI002")
def pci002(ctx: Context) -> Parts:
    c = ctx.controllers.filter(
        pl.col("is_root")
        & ~pl.col("user_alias_flag")
        & pl.col("confirmed")
        & ~pl.col("agrees")
        & pl.col("restart_bus").is_not_null()
        & pl.col("qemu_bus").is_not_null()
    )
    return ((c, _pci002_columns()),)


@cache
def _pci002_columns() -> _Shape:
    target = pl.col("target_text")
    rb, qb = q("restart_bus"), q("qemu_bus")
    detail = (
        pl.when(pl.col("recompute") == "every-root")
        .then(
            fmt(
                "{} ignores it after a restart and sends PCI hotplugs to bus {}, but QEMU's root bus is {}",
                target,
                rb,
                qb,
            )
        )
        .otherwise(
            fmt(
                "after a restart {} uses it verbatim as bus {}, but QEMU names this machine's root bus {}, "
                "so PCI hotplug fails",
                target,
                rb,
                qb,
            )
        )
    )
    return finding_columns(
        "PCI002",
        "high",
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("restart_bus"),
        expected_bus=pl.col("qemu_bus"),
    )


@_rule("PCI003")
def pci003(ctx: Context) -> Parts:
    c = ctx.controllers.filter(pl.col("alias").is_null() & pl.col("restart_bus").is_null())
    return ((c, _pci003_columns()),)


@cache
def _pci003_columns() -> _Shape:
    detail = fmt(
        "after a restart {} refuses PCI hotplug onto its bus ('Device alias was not set for PCI "
        "controller with index {}')",
        pl.col("target_text"),
        pl.col("index"),
    )
    return finding_columns(
        "PCI003",
        "high",
        {"device": device_text(), "detail": detail},
        element=pl.col("element"),
        expected_bus=pl.col("qemu_bus"),
    )


def _bus_key(bus: str) -> pl.Expr:
    """(doc, PCI bus number) packed into one UInt64, exactly (both are UInt32): a join on one integer
    column is much cheaper than on two. Null when the bus is null, which matches nothing, as in a join
    on the two columns."""
    return (pl.col("doc").cast(pl.UInt64) * 2**32 + pl.col(bus).cast(pl.UInt64)).alias("_bus_key")


def _root_docs(ctx: Context) -> pl.LazyFrame:
    """The running guests with an index-0 PCI controller (``ctx.controllers`` are the running guests' PCI
    controllers: no need to look for them among all devices again)."""
    return ctx.controllers.filter(pl.col("index") == 0).select("doc").unique()


@_rule("PCI004")
def pci004(ctx: Context) -> Parts:
    indexes = ctx.controllers.filter(pl.col("index").is_not_null()).select(_bus_key("index"))
    on_bus = ctx.status_devices().filter((pl.col("address_type") == "pci") & (pl.col("pci_bus") > 0))
    missing = on_bus.with_columns(_bus_key("pci_bus")).join(indexes, on="_bus_key", how="anti")
    return ((missing, _pci004_columns()),)


@cache
def _pci004_columns() -> _Shape:
    detail = fmt(
        "but no PCI controller has index {}, so hotplug and unplug on that bus fail ('Could not find PCI "
        "controller with index {}')",
        pl.col("pci_bus"),
        pl.col("pci_bus"),
    )
    return finding_columns(
        "PCI004",
        "high",
        {"device": device_text(), "alias": _alias_q(), "recorded_bus": pl.col("pci_bus"), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("pci_bus").cast(pl.String),
    )


@_rule("PCI005")
def pci005(ctx: Context) -> Parts:
    with_pci = ctx.status_devices().filter(pl.col("address_type") == "pci").select("doc").unique()
    facts = ctx.domain_facts()
    docs = (
        ctx.status_domains()
        .select("doc", "target_text")
        .join(_root_docs(ctx), on=["doc"], how="anti")
        .join(facts.drop("arch", "machine", "target_key", "qemu_key"), on=["doc"], how="left")
        .join(with_pci.with_columns(pl.lit(True).alias("has_pci")), on=["doc"], how="left")
        .join(ctx.domains.select("doc", "arch", "machine"), on=["doc"], how="left")
        .with_columns(pl.col("has_pci").fill_null(False))
    )
    implicit = (
        pl.col("default_root_model").is_not_null()
        & pl.col("default_root_confirmed").fill_null(False)
        & pl.col("default_root_needs").is_null()
    )
    hits = docs.filter(pl.col("has_pci") | implicit)
    return ((hits, _pci005_columns()),)


@cache
def _pci005_columns() -> _Shape:
    detail = (
        pl.when(pl.col("has_pci"))
        .then(
            pl.lit(
                "devices have PCI addresses but their root is not recorded, so libvirt re-adds it at load "
                "without an alias and PCI hotplug onto it fails after a restart"
            )
        )
        .otherwise(
            fmt(
                "machine {} always has a {}, which libvirt re-adds at load without an alias, so PCI hotplug "
                "onto it fails after a restart",
                pl.col("machine"),
                pl.col("default_root_model"),
            )
        )
    )
    return finding_columns(
        "PCI005",
        "medium",
        {"detail": detail},
        element=pl.lit("controller"),
        expected_bus=pl.col("qemu_root_bus"),
    )


@_rule("PCI006")
def pci006(ctx: Context) -> Parts:
    facts = ctx.domain_facts().select(
        "doc",
        "default_root_model",
        "default_root_confirmed",
        pl.col("qemu_root_bus").alias("exp_bus"),
    )
    roots = ctx.devices.filter(
        (pl.col("element") == "controller")
        & (pl.col("type") == "pci")
        & (pl.col("index") == 0)
        & pl.col("model").is_not_null()
    ).join(facts, on=["doc"], how="inner")
    hits = roots.filter(
        pl.col("default_root_model").is_not_null()
        & pl.col("default_root_confirmed")
        & (pl.col("model") != pl.col("default_root_model"))
    )
    return ((hits, _pci006_columns()),)


@cache
def _pci006_columns() -> _Shape:
    detail = fmt(
        "on {} that machine requires a {}, and libvirt rejects the definition at load ('The PCI controller "
        "with index=0 must be model=...')",
        pl.col("arch"),
        pl.col("default_root_model"),
    )
    return finding_columns(
        "PCI006",
        "medium",
        {"device": device_text(), "machine": pl.col("machine"), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("alias"),
        expected_bus=pl.col("exp_bus"),
    )


@_rule("PCI007")
def pci007(ctx: Context) -> Parts:
    no_target_detail, odd, odd_detail, shape = _pci007_exprs()
    phb = ctx.controllers.filter(pl.col("phb"))
    no_target = phb.filter(pl.col("target_index").is_null()).with_columns(no_target_detail)
    odd_alias = phb.filter(odd).with_columns(odd_detail)
    both = pl.concat([no_target, odd_alias], how="vertical")
    return ((both, shape),)


@cache
def _pci007_exprs() -> tuple[pl.Expr, pl.Expr, pl.Expr, _Shape]:
    """The detail of host bridges without a target index, the test and detail of odd aliases, the columns."""
    no_target_detail = fmt(
        "without a target index, so after a restart {} sends hotplugs to bus {} instead of {}",
        pl.col("target_text"),
        q("restart_bus"),
        q("qemu_bus"),
    ).alias("_detail")
    expected_alias = pl.concat_str(pl.lit("pci."), pl.col("index").cast(pl.String))
    odd = pl.col("alias").is_not_null() & ~pl.col("user_alias_flag") & (pl.col("alias") != expected_alias)
    odd_detail = fmt(
        "aliased {} where libvirt assigns {}, a sign of a hand-edited or foreign status file",
        q("alias"),
        pl.concat_str(pl.lit("'"), expected_alias, pl.lit("'")),
    ).alias("_detail")
    shape = finding_columns(
        "PCI007",
        "low",
        {"device": device_text(), "detail": pl.col("_detail")},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("restart_bus"),
        expected_bus=pl.col("qemu_bus"),
    )
    return no_target_detail, odd, odd_detail, shape


@_rule("PCI008")
def pci008(ctx: Context) -> Parts:
    off = ctx.controllers.filter(pl.col("target_hotplug") == "off").select(
        "doc", pl.col("index").alias("pci_bus"), pl.col("qemu_bus").alias("_bus")
    )
    dev = ctx.status_devices().filter(pl.col("address_type") == "pci")
    hits = dev.join(off, on=["doc", "pci_bus"], how="inner")
    return ((hits, _pci008_columns()),)


@cache
def _pci008_columns() -> _Shape:
    return finding_columns(
        "PCI008",
        "info",
        {
            "device": device_text(),
            "alias": _alias_q(),
            "recorded_bus": q("_bus"),
            "detail": pl.lit("hot-unplug of this device is refused by configuration (since libvirt 6.4.0)"),
        },
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("_bus"),
    )


@cache
def _pci_capable() -> pl.Expr:
    el, typ, model = pl.col("element"), pl.col("type"), pl.col("model")
    return (
        (
            (el == "controller")
            & (typ == "pci")
            & ~model.is_in(_ROOTS).fill_null(False)
            & (pl.col("index") > 0)
        )
        | ((el == "controller") & (typ == "usb") & model.is_in(_USB_PCI_MODELS))
        | ((el == "controller") & (typ == "scsi") & model.is_in(_SCSI_PCI_MODELS))
        | ((el == "controller") & typ.is_in(("virtio-serial", "sata")))
        | ((el == "hostdev") & (typ == "pci"))
        | ((el == "interface") & ((typ == "hostdev") | model.is_in(_NIC_PCI_MODELS)))
        | ((el == "video") & model.is_in(_VIDEO_PCI_MODELS))
        | (el.is_in(("memballoon", "rng")) & model.str.starts_with("virtio"))
        | ((el == "sound") & model.is_in(_SOUND_PCI_MODELS))
        | ((el == "watchdog") & (model == "i6300esb"))
        | ((el == "memory") & model.is_in(("virtio-pmem", "virtio-mem")))
        | el.is_in(("shmem", "vsock"))
    ).fill_null(False)


@_rule("PCI009")
def pci009(ctx: Context) -> Parts:
    # The long test of what attaches over PCI runs on the devices without an address only: cache() keeps
    # polars from merging the two filters into one that tests every device.
    unaddressed = (
        ctx.status_devices()
        .filter(pl.col("address_type").is_null())
        .select("doc", "element", "type", "model", "index", "alias", "arch")
        .cache()
    )
    hits = unaddressed.filter(_pci_capable() & ~pl.col("arch").is_in(S390).fill_null(False)).join(
        _root_docs(ctx), on=["doc"], how="semi"
    )
    return ((hits, _pci009_columns()),)


@cache
def _pci009_columns() -> _Shape:
    detail = pl.lit(
        "at reconnect libvirt assigns one, which need not be the slot QEMU gave the running device"
    )
    return finding_columns(
        "PCI009",
        "medium",
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


# ---------------------------------------------------------------------------------------------------
# ALS


def _alias_groups(dev: pl.LazyFrame) -> pl.LazyFrame:
    """Aliases used by more than one device of a document, with what uses them."""
    # The rows of repeated (doc, alias) pairs, found by a hash of the pair (cheaper than comparing the
    # pairs, and the alias's hash mixed with the doc id is cheaper than hashing a struct): a collision
    # can only add rows, which form groups of one, dropped below.
    dups = dev.filter((pl.col("alias").hash() ^ pl.col("doc").cast(pl.UInt64)).is_duplicated())
    groups = dups.group_by("doc", "alias", maintain_order=True).agg(_alias_group_columns())
    return groups.filter(pl.col("n") > 1)


@cache
def _alias_group_columns() -> tuple[pl.Expr, ...]:
    el, typ = pl.col("element"), pl.col("type")
    return (
        pl.len().alias("n"),
        pl.col("element").str.join(", ").alias("elements"),
        ((el == "controller") & (typ == "usb")).sum().alias("n_usb"),
        (el == "serial").sum().alias("n_serial"),
        (el == "console").sum().alias("n_console"),
        (el == "hostdev").sum().alias("n_hostdev"),
        (el == "interface").sum().alias("n_iface"),
        ((el == "interface") & (typ == "hostdev")).sum().alias("n_iface_hostdev"),
        pl.col("target_text").first(),
    )


def _groups_detail(extra: str) -> pl.Expr:
    return fmt("{} devices ({}){}", pl.col("n"), pl.col("elements"), pl.lit(extra))


def _user_devices(ctx: Context) -> pl.LazyFrame:
    """The devices with a user alias (few): the rules about them test the rest on these rows only
    (cache() keeps polars from merging their filter with the rule's, which would test every device)."""
    return ctx.devices.filter(pl.col("user_alias")).cache()


@_rule("ALS001")
def als001(ctx: Context) -> Parts:
    groups = _alias_groups(_user_devices(ctx)).filter(pl.col("n") > 1)
    return ((groups, _als001_columns()),)


@cache
def _als001_columns() -> _Shape:
    return finding_columns(
        "ALS001",
        "high",
        {
            "alias": _alias_q(),
            "detail": _groups_detail(
                "; libvirt rejects the definition ('non unique alias detected') and hotplug with it fails"
            ),
        },
        element=pl.col("elements"),
        alias=pl.col("alias"),
    )


@cache
def _hostdev_pair() -> pl.Expr:
    return (
        pl.col("alias").str.contains(r"^hostdev\d+$")
        & (pl.col("n_iface") >= 1)
        & (pl.col("n_hostdev") >= 1)
        & ((pl.col("n_iface") + pl.col("n_hostdev")) == pl.col("n"))
    )


def _system_alias_groups(ctx: Context) -> pl.LazyFrame:
    """:func:`_alias_groups` of the running guests' libvirt-assigned aliases (ALS002 and ALS007)."""
    dev = ctx.status_devices().filter(pl.col("alias").is_not_null() & ~pl.col("user_alias"))
    return _alias_groups(dev).filter(pl.col("n") > 1)


@_rule("ALS002")
def als002(ctx: Context) -> Parts:
    legit, shape = _als002_exprs()
    return ((_system_alias_groups(ctx).filter(~legit), shape),)


@cache
def _als002_exprs() -> tuple[pl.Expr, _Shape]:
    legit = (
        (pl.col("n_usb") == pl.col("n"))  # USB companion controllers share the master's alias
        | (((pl.col("n_serial") + pl.col("n_console")) == pl.col("n")) & (pl.col("n_serial") <= 1))
        | _hostdev_pair()  # hostdev copies of interfaces (ALS007 reports the suspicious ones)
    )
    shape = finding_columns(
        "ALS002",
        "medium",
        {
            "alias": _alias_q(),
            "detail": _groups_detail("; libvirt may act on the wrong one and QEMU refuses a duplicate id"),
        },
        element=pl.col("elements"),
        alias=pl.col("alias"),
    )
    return legit, shape


@_rule("ALS003")
def als003(ctx: Context) -> Parts:
    hits = _user_devices(ctx).filter(~pl.col("alias").str.contains(_USER_ALIAS_RE))
    return ((hits, _als003_columns()),)


@cache
def _als003_columns() -> _Shape:
    detail = pl.lit(
        "which has characters outside [A-Za-z0-9_-]: libvirt keeps it live but drops it from the persistent "
        "definition, so it changes at the next cold boot"
    )
    return finding_columns(
        "ALS003",
        "low",
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@_rule("ALS004")
def als004(ctx: Context) -> Parts:
    builtin, breaks, shape = _als004_exprs()
    hits = _user_devices(ctx).filter(builtin).with_columns(breaks)
    return ((hits, shape),)


@cache
def _als004_exprs() -> tuple[pl.Expr, pl.Expr, _Shape]:
    """The test for a user alias on a built-in controller, the ``_breaks`` column, the columns."""
    el, typ, idx = pl.col("element"), pl.col("type"), pl.col("index")
    x86 = pl.col("arch").is_in(X86).fill_null(False)
    ide = (el == "controller") & (typ == "ide") & (idx == 0) & x86 & machine_in(I440FX)
    sata = (el == "controller") & (typ == "sata") & (idx == 0) & x86 & machine_in(Q35)
    usb = (el == "controller") & (typ == "usb") & (idx == 0) & x86 & machine_in(I440FX)
    breaks = ((typ != "usb") & (pl.col("target_key") < _V3_10_RC1)).alias("_breaks")
    detail = (
        pl.when(pl.col("_breaks"))
        .then(
            fmt(
                "{} uses the user alias as the name of QEMU's built-in bus 'ide', so disk hotplug onto it "
                "fails",
                pl.col("target_text"),
            )
        )
        .when(pl.col("type") == "usb")
        .then(
            pl.lit(
                "libvirt keeps it in the migratable XML (from 4.2.0); QEMU creates this controller with "
                "-device"
            )
        )
        .otherwise(fmt("{} translates it to QEMU's name 'ide'", pl.col("target_text")))
    )
    severity = pl.when(pl.col("_breaks")).then(pl.lit("high")).otherwise(pl.lit("info"))
    shape = finding_columns(
        "ALS004",
        severity,
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("alias"),
        expected_bus=pl.when(pl.col("type") != "usb").then(pl.lit("ide")),
    )
    return (ide | sata | usb).fill_null(False), breaks, shape


@_rule("ALS005")
def als005(ctx: Context) -> Parts:
    docs = ctx.status_domains().filter(pl.col("has_live_devices")).select("doc", "target_text", "arch")
    dev = ctx.status_devices().filter(pl.col("alias").is_not_null())
    # (no unique() on the right side of the anti joins below: duplicates do not change an anti join)
    known = dev.select("doc", "alias")
    live = ctx.live_aliases.select("doc", "alias")
    if not ctx.all_live:  # (usually every document has the list: then these joins keep every row)
        live = live.join(docs, on=["doc"], how="semi")
        dev = dev.join(docs, on=["doc"], how="semi")
    # Sound codecs are QEMU devices named after their sound device: sound0-codec0 stands for sound0. The
    # regex runs only where an alias names a codec (polars skips the branch where no row takes it), as
    # its replace would copy every alias.
    alias = pl.col("alias")
    codec = alias.str.contains("-codec", literal=True)
    live = live.with_columns(
        pl.when(codec).then(alias.str.replace(r"-codec\d+$", "")).otherwise(alias).alias("_base")
    )
    unknown = (
        live.join(known.rename({"alias": "_base"}), on=["doc", "_base"], how="anti")
        .join(docs, on=["doc"], how="left", maintain_order="left")
        # zPCI: libvirt adds a "zpci<uid>" device for every PCI device of an s390 guest (tested here, on
        # the few aliases left, rather than on every alias of the s390 guests)
        .filter(~(pl.col("arch").is_in(S390) & alias.str.contains(r"^zpci\d+$")).fill_null(False))
    )
    unknown_shape, builtin, missing_shape = _als005_exprs()
    backed = dev.filter(pl.col("address_type").is_in(_DEVICE_BACKED_ADDRESSES).fill_null(False) & ~builtin)
    live_set = ctx.live_aliases.select("doc", "alias")
    missing = backed.join(live_set, on=["doc", "alias"], how="anti")
    return ((unknown, unknown_shape), (missing, missing_shape))


@cache
def _als005_exprs() -> tuple[_Shape, pl.Expr, _Shape]:
    """The columns of unknown aliases, the test for built-in devices, the columns of missing aliases."""
    unknown_shape = finding_columns(
        "ALS005",
        "low",
        {
            "alias": _alias_q(),
            "detail": pl.lit(
                "the list names it but no device of the definition has it, so the list is stale or libvirt "
                "lost track of a device, and a hotplug that reuses the alias fails"
            ),
        },
        element=pl.lit("device"),
        alias=pl.col("alias"),
    )
    root = (pl.col("element") == "controller") & (pl.col("type") == "pci") & pl.col("model").is_in(_ROOTS)
    builtin = (
        root.fill_null(False)
        | (pl.col("alias") == "ide")
        | pl.col("alias").str.starts_with("fdc")
        | pl.col("alias").str.starts_with("ua-")  # user aliases may stand for implicit devices
    )
    missing_shape = finding_columns(
        "ALS005",
        "low",
        {
            "alias": _alias_q(),
            "detail": fmt(
                "the {} has it but the list lacks it, so if the device goes away while libvirtd is down "
                "libvirt "
                "does not remove it from the definition",
                device_text(),
            ),
        },
        element=pl.col("element"),
        alias=pl.col("alias"),
    )
    return unknown_shape, builtin, missing_shape


@_rule("ALS006")
def als006(ctx: Context) -> Parts:
    # (cache(): the regex and the text below run on the memory devices only, not on every device)
    memory = ctx.status_devices().filter(pl.col("element") == "memory").cache()
    hits = memory.filter(
        pl.col("alias").str.contains(r"^dimm\d+$").fill_null(False)
        & pl.col("dimm_slot").is_not_null()
        & (pl.col("alias") != pl.concat_str(pl.lit("dimm"), pl.col("dimm_slot").cast(pl.String)))
    )
    return ((hits, _als006_columns()),)


@cache
def _als006_columns() -> _Shape:
    detail = pl.lit(
        "at reconnect libvirt falls back to its old alias algorithm for memory hotplug, and the mismatch is "
        "a "
        "migration ABI hazard"
    )
    return finding_columns(
        "ALS006",
        "medium",
        {"device": device_text(), "alias": _alias_q(), "recorded_bus": pl.col("dimm_slot"), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@_rule("ALS007")
def als007(ctx: Context) -> Parts:
    groups = _system_alias_groups(ctx).filter(
        (pl.col("n") > 1) & _hostdev_pair() & (pl.col("n_iface_hostdev") < pl.col("n_iface"))
    )
    return ((groups, _als007_columns()),)


@cache
def _als007_columns() -> _Shape:
    return finding_columns(
        "ALS007",
        "low",
        {
            "alias": _alias_q(),
            "detail": _groups_detail(
                ": a hostdev-pool interface and a hostdev share the id, which broke the next hostdev hotplug "
                "on libvirt before 1.2.1 and shows drift now"
            ),
        },
        element=pl.col("elements"),
        alias=pl.col("alias"),
    )


@_rule("ALS008")
def als008(ctx: Context) -> Parts:
    hits = ctx.status_devices().filter(
        (pl.col("element") == "memballoon") & (pl.col("model") == "none") & pl.col("alias").is_not_null()
    )
    return ((hits, _als008_columns()),)


@cache
def _als008_columns() -> _Shape:
    return finding_columns(
        "ALS008",
        "info",
        {
            "device": device_text(),
            "alias": _alias_q(),
            "detail": pl.lit("written by libvirt before 4.2.0, harmless, dropped at the restart"),
        },
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


# ---------------------------------------------------------------------------------------------------
# RST


@_rule("RST001")
def rst001(ctx: Context) -> Parts:
    return ((ctx.status_domains().filter(pl.col("caps_count") == 0), _rst001_columns()),)


@cache
def _rst001_columns() -> _Shape:
    critical = pl.col("target_key") >= _V6_0
    detail = (
        pl.when(critical)
        .then(
            fmt(
                "{} refuses to reconnect (\"domain '{}' has no capabilities recorded\") and kills the guest",
                pl.col("target_text"),
                pl.col("name").fill_null("?"),
            )
        )
        .otherwise(
            fmt(
                "{} re-detects them from the QEMU binary installed now, which may not be the one running "
                "the guest",
                pl.col("target_text"),
            )
        )
    )
    return finding_columns(
        "RST001",
        pl.when(critical).then(pl.lit("critical")).otherwise(pl.lit("high")),
        {"detail": detail},
    )


@_rule("RST002")
def rst002(ctx: Context) -> Parts:
    docs = ctx.status_domains().filter(
        (pl.col("state") == "shutoff") | ((pl.col("state") == "paused") & (pl.col("reason") == "starting up"))
    )
    return ((docs, _rst002_columns()),)


@cache
def _rst002_columns() -> _Shape:
    reason = pl.concat_str(pl.lit("' (reason '"), pl.col("reason"), pl.lit("')")).fill_null("'")
    recorded = pl.concat_str(pl.lit("'"), pl.col("state"), reason)
    detail = pl.lit("libvirt kills a guest that was not fully started when it reconnects after a restart")
    return finding_columns("RST002", "high", {"recorded_bus": recorded, "detail": detail})


@_rule("RST003")
def rst003(ctx: Context) -> Parts:
    docs = ctx.status_domains().join(
        ctx.caps.filter(pl.col("flag") == "pci-multibus").select("doc").unique(),
        on=["doc"],
        how="semi",
    )
    return ((docs, _rst003_columns()),)


@cache
def _rst003_columns() -> _Shape:
    detail = pl.lit(
        "the file was written by libvirt 3.1.x or older, so expect the other gaps of old status files "
        "(secret objects, USB addresses, aliases)"
    )
    return finding_columns("RST003", "info", {"detail": detail})


@_rule("RST004")
def rst004(ctx: Context) -> Parts:
    hits = ctx.status_devices().filter(
        (pl.col("target_key") >= _V12_5)
        & (pl.col("element") == "video")
        & (pl.col("model") == "virtio")
        & pl.col("video_device").is_null()
    )
    return ((hits, _rst004_columns()),)


@cache
def _rst004_columns() -> _Shape:
    detail = fmt(
        "{} may back it with a different QEMU device (virtio-vga or virtio-gpu) than the running guest "
        "uses, a guest ABI change at migration or the next start",
        pl.col("target_text"),
    )
    return finding_columns(
        "RST004",
        "medium",
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@_rule("RST005")
def rst005(ctx: Context) -> Parts:
    hits = ctx.status_devices().filter(
        (pl.col("element") == "disk")
        & (pl.col("has_auth") | pl.col("has_encryption") | pl.col("has_tls"))
        & ~pl.col("has_private_objects")
    )
    return ((hits, _rst005_columns()),)


@cache
def _rst005_columns() -> _Shape:
    what = pl.concat_str(
        pl.when(pl.col("has_auth")).then(pl.lit("auth")),
        pl.when(pl.col("has_encryption")).then(pl.lit("encryption")),
        pl.when(pl.col("has_tls")).then(pl.lit("TLS")),
        separator=" and ",
        ignore_nulls=True,
    )
    detail = fmt(
        "{} but the status XML records no secret or TLS objects for it (written before libvirt 4.5.0), so "
        "hot-unplug after a restart may leave them in QEMU",
        what,
    )
    return finding_columns(
        "RST005",
        "low",
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@_rule("RST006")
def rst006(ctx: Context) -> Parts:
    hits = ctx.status_devices().filter(
        (pl.col("element") == "hostdev")
        & (pl.col("type") == "pci")
        & (pl.col("managed") == "yes")
        & ~pl.col("has_origstates")
    )
    return ((hits, _rst006_columns()),)


@cache
def _rst006_columns() -> _Shape:
    detail = pl.lit("when the guest is destroyed the device is not rebound to its host driver")
    return finding_columns(
        "RST006",
        "low",
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@_rule("RST007")
def rst007(ctx: Context) -> Parts:
    return ((ctx.status_domains().filter(pl.col("blockjobs_active") == "yes"), _rst007_columns()),)


@cache
def _rst007_columns() -> _Shape:
    old = pl.col("target_key") < _V6_0
    detail = (
        pl.when(old)
        .then(
            fmt(
                "{} may cancel them or mark them broken at reconnect, so let them finish first",
                pl.col("target_text"),
            )
        )
        .otherwise(fmt("{} re-attaches them at reconnect", pl.col("target_text")))
    )
    return finding_columns(
        "RST007", pl.when(old).then(pl.lit("low")).otherwise(pl.lit("info")), {"detail": detail}
    )


@_rule("RST008")
def rst008(ctx: Context) -> Parts:
    usb, shape = _rst008_exprs()
    # (cache(): the USB tests run only on the devices of guests judged for a release before 2.4.0, usually
    # none, instead of on every device)
    old = ctx.status_devices().filter(pl.col("target_key") < _V2_4).cache()
    return ((old.filter(usb), shape),)


@cache
def _rst008_exprs() -> tuple[pl.Expr, _Shape]:
    el = pl.col("element")
    usb = (
        ((el == "hostdev") & (pl.col("type") == "usb"))
        | el.is_in(("redirdev", "hub"))
        | ((el == "sound") & (pl.col("model") == "usb"))
    )
    detail = fmt(
        "{} does not rebuild its USB port allocations after a restart, so a hotplugged USB device may "
        "collide "
        "with it",
        pl.col("target_text"),
    )
    shape = finding_columns(
        "RST008",
        "low",
        {"device": device_text(), "alias": _alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )
    return usb.fill_null(False) & (pl.col("address_type") != "usb").fill_null(True), shape


RULES: Final[Mapping[str, Callable[[Context], pl.LazyFrame]]] = {
    "PCI001": pci001,
    "PCI002": pci002,
    "PCI003": pci003,
    "PCI004": pci004,
    "PCI005": pci005,
    "PCI006": pci006,
    "PCI007": pci007,
    "PCI008": pci008,
    "PCI009": pci009,
    "ALS001": als001,
    "ALS002": als002,
    "ALS003": als003,
    "ALS004": als004,
    "ALS005": als005,
    "ALS006": als006,
    "ALS007": als007,
    "ALS008": als008,
    "RST001": rst001,
    "RST002": rst002,
    "RST003": rst003,
    "RST004": rst004,
    "RST005": rst005,
    "RST006": rst006,
    "RST007": rst007,
    "RST008": rst008,
}


def run(ctx: Context, codes: Sequence[str]) -> pl.DataFrame:
    """Run the rules ``codes`` and concatenate their findings (unsorted; a ``doc`` id, no path).

    Each rule is a query plan, so polars reads only the columns it needs. They are collected with the
    in-memory engine (a batch is small and already in memory: the streaming engine's set-up costs more
    than it saves), one family (PCI, ALS, RST) per ``collect_all``: that computes the parts a family's
    plans share once (the alias groups of ALS002 and ALS007, ...) and saves most of the per-collect
    set-up, while collecting all the rules at once would keep every plan's intermediate tables alive
    together, a higher peak per batch.

    The plans collect the hits only, with the columns their findings read: most rules find nothing in a
    batch, and planning the message expressions costs more than rendering them for the few rows found,
    which is done afterwards.
    """
    found: list[pl.LazyFrame] = []
    # Runs of consecutive codes of one family, so the findings stay in the order of ``codes``.
    for _family, run_codes in groupby(codes, key=lambda code: CATALOG[code].family):
        parts = [part for code in run_codes for part in _PARTS[code](ctx)]
        hits = pl.collect_all([frame.select(shape.reads) for frame, shape in parts], engine="in-memory")
        found.extend(
            rows.lazy().select(shape.columns)
            for rows, (_, shape) in zip(hits, parts, strict=True)
            if rows.height
        )
    if not found:
        return pl.DataFrame(
            schema={name: (pl.UInt32 if name == "doc" else pl.String) for name in FINDING_COLUMNS}
        )
    # (no cast to a schema: :func:`finding_columns` gives every part the same column types)
    return pl.concat(pl.collect_all(found, engine="in-memory"), how="vertical")
