"""PCI rules: bus names, controllers and addresses (the hazards of the PCI root-bus alias thread and its
relatives; ``libvirt-restart-hazards.md`` sections 1, 5 and 6)."""

from __future__ import annotations

from functools import cache
from typing import Final

import polars as pl

from virtaudit.busnames import PCI_ROOT, PCIE_ROOT, S390
from virtaudit.capsflags import started_after
from virtaudit.capsflags_data import SPANS
from virtaudit.devicemodels import (
    NIC_PCI_MODELS,
    SCSI_PCI_MODELS,
    SOUND_PCI_MODELS,
    USB_PCI_MODELS,
    VIDEO_PCI_MODELS,
)
from virtaudit.rules._base import (
    Context,
    Parts,
    Shape,
    alias_q,
    device_text,
    finding_columns,
    fmt,
    narrowed,
    q,
    rule,
)
from virtaudit.schema import ALL_CAPS_FLAGS
from virtaudit.versions import libvirt_key

_ROOTS: Final = (PCI_ROOT, PCIE_ROOT)
_V10_4: Final = libvirt_key("10.4.0")


@cache
def _pci001_ignorable(_targets: tuple[int, ...] = ()) -> frozenset[str]:
    """PCI001 reads the flags only to tell a guest started after 10.4.0: the others can go."""
    telling = started_after().filter(pl.col("after_key") >= _V10_4).get_column("flag").to_list()
    return frozenset(SPANS) - frozenset(telling)


@rule(
    code="PCI001",
    name="root-user-alias",
    scope="status",
    severities=("high", "medium", "info"),
    severity_logic=(
        "high where the bus name the target would use for a hotplug after a restart differs from QEMU's "
        "root bus: pSeries for targets <= 9.10.x (the default host bridge's user alias is not translated; "
        "from 10.4.0 it is), a target of 3.10.0-rc1 on x86 i440fx (recomputed as 'pci'), targets before "
        "3.10 (the alias is used verbatim), or a host whose QEMU is known to be older than the PPC "
        "multibus minimum; medium on pSeries for targets 10.0-10.3 (not read: unknown), on PPC outside "
        "pSeries for targets 3.10.0-7.3.x when the host's QEMU version is not known (an unknown version is "
        "assumed >= 2.0, >= 1.6 for ppce500), and where the root naming is unconfirmed; info where libvirt "
        "recomputes the right name, and on a pcie-root, which takes no hotplug at all."
    ),
    message="{device} carries the user alias {alias}: {detail}",
    why=(
        "libvirt does not put a user alias on the QEMU command line for the implicit PCI root: QEMU names "
        "that bus itself (pci.0, pcie.0, or pci on machines without multibus support). After a daemon "
        "restart libvirt rebuilds its state from the status XML, which stores the root's alias but not the "
        "QEMU version. From 3.10.0 on, libvirt recomputes the QEMU name for a ua- root from the guest's "
        "arch and machine, assuming an unknown QEMU version is new enough; 3.10.0-rc1 recomputed it wrongly "
        "for i440fx, and releases before 3.10 use the user alias verbatim. pSeries was excluded from the "
        "translation until 9.10.x (seen on 9.0.0: hotplug onto bus 0 fails before and after a restart, "
        "'Bus ua-... not found'); from 10.4.0 its default host bridge is translated to pci.0 (seen after "
        "an upgrade to 11.3.0), so a guest started under >= 10.4.0 breaks after a downgrade to <= 9.10.x. "
        "A pcie-root takes no hotplugged device at all (seen on 9.0.0), so its name never matters."
    ),
    evidence=(
        "937f3195 (3.10.0-rc1: recompute the root name); dacfc6b1, fdf354fb, 65108d94 (3.10.0: use the "
        "stored alias, recompute only user aliases, def->os.arch, unknown QEMU is new enough); "
        "d4374a629f (7.4.0: PPC always multibus); qemuBuildDeviceAddressPCIGetBus ('target index <= 0' "
        "@10.4.0, @11.3.0; pSeries untranslated @9.10.0); seen on 9.0.0 and 9.0.0 -> 11.3.0; rhbz#1518148"
    ),
    affected=(
        ">= 3.9.0 (user aliases exist); non-pSeries right from 3.10.0 on; pSeries broken <= 9.10.x, right "
        "from 10.4.0 (read @10.4.0 and @11.3.0), unknown for 10.0-10.3 and after 11.3.0"
    ),
    remediation=(
        "Do not give the implicit pci-root/pcie-root a user alias (remove it from the definition for the "
        "next cold boot); until then avoid PCI hotplug onto the root bus after a restart, or plug into a "
        "root port/bridge; do not downgrade a pSeries guest started under >= 10.4.0 below 10.4.0; on PPC "
        "record the host's QEMU version in host facts."
    ),
    caps_flags=(ALL_CAPS_FLAGS,),
    caps_ignorable=_pci001_ignorable,
)
def pci001(ctx: Context) -> Parts:
    c = ctx.controllers.filter(pl.col("is_root") & pl.col("user_alias_flag"))
    # Which release started the guest (a lower bound, from the flags it records): decides whether a
    # pSeries guest's hotplug works now and breaks on a downgrade, or fails already.
    started = (
        ctx.caps.join(c.select("doc"), on="doc", how="semi")
        .join(started_after().lazy(), on="flag", how="inner")
        .group_by("doc")
        .agg(pl.col("started_after").sort_by("after_key").last(), pl.col("after_key").max())
    )
    return ((c.join(started, on="doc", how="left"), _pci001_columns()),)


@cache
def _pci001_columns() -> Shape:
    pcie_root = (pl.col("effective_model") == PCIE_ROOT).fill_null(False)
    severity = (
        pl.when(pcie_root)
        .then(pl.lit("info"))
        .when(~pl.col("confirmed"))
        .then(pl.lit("medium"))
        .when(~pl.col("agrees"))
        .then(pl.lit("high"))
        .when(pl.col("qemu_dependent"))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("info"))
    )
    return finding_columns(
        "PCI001",
        severity,
        {"device": device_text(), "alias": alias_q(), "detail": _pci001_detail()},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("restart_bus"),
        expected_bus=pl.col("qemu_bus"),
    )


def _pci001_detail() -> pl.Expr:
    target, rb, qb = pl.col("target_text"), q("restart_bus"), q("qemu_bus")
    pcie_root = (pl.col("effective_model") == PCIE_ROOT).fill_null(False)
    started_translated = (pl.col("after_key") >= _V10_4).fill_null(False)
    pseries_unknown = pl.col("pseries") & ~pl.col("confirmed")
    return (
        pl.when(pcie_root)
        .then(
            pl.lit("a pcie-root takes no hotplugged device at all (seen on 9.0.0), so its name never matters")
        )
        .when(pseries_unknown)
        .then(
            fmt(
                "whether {} translates a pSeries root's user alias is unknown (9.10.0 does not, 10.4.0 "
                "does; 10.0-10.3 were not read), so PCI hotplugs after a restart may go to bus {}, which "
                "QEMU lacks",
                target,
                rb,
            )
        )
        .when(~pl.col("confirmed"))
        .then(
            fmt(
                "libvirt's root-bus naming for {} is unconfirmed, so the bus {} that {} would use for PCI "
                "hotplug after a restart may not be the one QEMU has",
                pl.col("arch"),
                rb,
                target,
            )
        )
        .when(~pl.col("agrees") & pl.col("pseries") & started_translated)
        .then(
            fmt(
                "the guest was started by a release after {} (its capability flags say so), which translates "
                "the alias, so hotplug works now; after a downgrade to {} PCI hotplugs go to bus {}, which "
                "QEMU lacks (its root bus is {})",
                pl.col("started_after"),
                target,
                rb,
                qb,
            )
        )
        .when(~pl.col("agrees") & pl.col("pseries"))
        .then(
            fmt(
                "{} does not translate a pSeries root's user alias, so PCI hotplugs go to bus {}, which QEMU "
                "lacks (its root bus is {}); under such a release this fails already before any restart "
                "(seen on 9.0.0)",
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


@rule(
    code="PCI002",
    name="root-alias-mismatch",
    scope="status",
    severities=("high", "info"),
    severity_logic=(
        "high: the target would use a bus name after a restart that is not QEMU's root bus (the stored "
        "non-user alias differs from the name the model predicts, or the target is 3.10.0-rc1, which "
        "recomputes every i440fx root as 'pci'); info on a pcie-root, which takes no hotplugged device at "
        "all (seen on 9.0.0), so its name never matters. Roots whose naming is unconfirmed (mips, ppcemb "
        "before 10.4.0) are trusted as stored and never reported."
    ),
    message="{device} stores the alias {alias}: {detail}",
    why=(
        "From 1.2.16 on the alias libvirt assigns to the root PCI controller is QEMU's name for the root "
        "bus, and from 3.10.0 libvirt uses the stored alias verbatim as bus= when hotplugging after a "
        "restart. A stored alias that is not QEMU's bus name (written by libvirt <= 1.2.15 on machines "
        "without multibus, or edited) therefore breaks hotplug; 3.10.0-rc1 ignored the stored alias and "
        "computed 'pci' for every i440fx guest, because the rebuilt capabilities have no arch."
    ),
    evidence=(
        "75cd7d9b05 (1.2.16); 937f3195 (3.10.0-rc1); dacfc6b10b (3.10.0); pcie-root refuses hotplug "
        "(seen on 9.0.0)"
    ),
    affected=">= 1.2.16 readers (the stored alias is used up to 11.3.0, the newest read); every i440fx "
    "guest on 3.10.0-rc1",
    remediation=(
        "Never run 3.10.0-rc1; for a wrong stored alias, restart the guest (cold boot) under the current "
        "libvirt so that the alias is reassigned, and avoid hotplug onto the root bus until then."
    ),
)
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
def _pci002_columns() -> Shape:
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
    pcie_root = (pl.col("effective_model") == PCIE_ROOT).fill_null(False)
    detail = (
        pl.when(pcie_root)
        .then(
            fmt(
                "QEMU names it {}, but a pcie-root takes no hotplugged device at all (seen on 9.0.0), so the "
                "name libvirt would use after a restart never matters",
                qb,
            )
        )
        .otherwise(detail)
    )
    return finding_columns(
        "PCI002",
        pl.when(pcie_root).then(pl.lit("info")).otherwise(pl.lit("high")),
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("restart_bus"),
        expected_bus=pl.col("qemu_bus"),
    )


@rule(
    code="PCI003",
    name="pci-controller-alias-missing",
    scope="status",
    severities=("high", "info"),
    severity_logic=(
        "high: a PCI controller of a running guest has no alias in the status XML; info where it is a "
        "pcie-root, which takes no hotplugged device at all (seen on 9.0.0)."
    ),
    message="{device} has no alias in the status XML: {detail}",
    why=(
        "After a restart libvirt names the bus of a PCI hotplug after the alias of the controller "
        "recorded in the status XML; without one it refuses the hotplug with 'Device alias was not set "
        "for PCI controller with index N required for device at address ...' (confirmed on 9.0.0, for "
        "index 0 as well as bridges and ports)."
    ),
    evidence=(
        "qemuBuildDeviceAddressStr (before 7.9.0), qemuBuildDeviceAddressPCIGetBus (from 7.9.0): the "
        "message exists in every release; seen on 9.0.0"
    ),
    affected="every release read (up to 11.3.0); unknown after",
    remediation=(
        "Restart the guest (cold boot) so that libvirt assigns aliases; until then avoid PCI hotplug "
        "onto "
        "that controller's bus."
    ),
)
def pci003(ctx: Context) -> Parts:
    c = ctx.controllers.filter(pl.col("alias").is_null() & pl.col("restart_bus").is_null())
    return ((c, _pci003_columns()),)


@cache
def _pci003_columns() -> Shape:
    detail = fmt(
        "after a restart {} refuses PCI hotplug onto its bus ('Device alias was not set for PCI "
        "controller with index {}')",
        pl.col("target_text"),
        pl.col("index"),
    )
    pcie_root = (pl.col("effective_model") == PCIE_ROOT).fill_null(False)
    detail = (
        pl.when(pcie_root)
        .then(pl.lit("a pcie-root takes no hotplugged device at all (seen on 9.0.0), so nothing needs it"))
        .otherwise(detail)
    )
    return finding_columns(
        "PCI003",
        pl.when(pcie_root).then(pl.lit("info")).otherwise(pl.lit("high")),
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
    return ctx.shared("root_docs", _root_docs_plan)


def _root_docs_plan(ctx: Context) -> pl.LazyFrame:
    return ctx.controllers.filter(pl.col("index") == 0).select("doc").unique()


@rule(
    code="PCI004",
    name="bus-without-controller",
    scope="status",
    severities=("high",),
    severity_logic="high: a device's PCI address names bus N (> 0) and no PCI controller has index N.",
    message="{device} ({alias}) sits on PCI bus {recorded_bus}, {detail}",
    why=(
        "libvirt resolves the bus of a PCI address through the controller with that index; without it "
        "hotplug and unplug on that bus fail with 'Could not find PCI controller with index N required "
        "for device at address ...'."
    ),
    evidence="qemuBuildDeviceAddressPCIGetBus (all releases)",
    affected="every release (the message exists 3.0.0-11.3.0, doc 6.4); unknown after 11.3.0",
    remediation="Cold-boot the guest after adding the missing controller to its definition.",
)
def pci004(ctx: Context) -> Parts:
    indexes = ctx.controllers.filter(pl.col("index").is_not_null()).select(_bus_key("index"))
    on_bus = ctx.status_devices().filter((pl.col("address_type") == "pci") & (pl.col("pci_bus") > 0))
    missing = on_bus.with_columns(_bus_key("pci_bus")).join(indexes, on="_bus_key", how="anti")
    return ((missing, _pci004_columns()),)


@cache
def _pci004_columns() -> Shape:
    detail = fmt(
        "but no PCI controller has index {}, so hotplug and unplug on that bus fail ('Could not find PCI "
        "controller with index {}')",
        pl.col("pci_bus"),
        pl.col("pci_bus"),
    )
    return finding_columns(
        "PCI004",
        "high",
        {"device": device_text(), "alias": alias_q(), "recorded_bus": pl.col("pci_bus"), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("pci_bus").cast(pl.String),
    )


@rule(
    code="PCI005",
    name="root-missing",
    scope="status",
    severities=("medium", "info"),
    severity_logic=(
        "medium: no index-0 PCI controller although the machine gets an implicit PCI root (confirmed "
        "machines whose root does not depend on a QEMU capability) or devices have PCI addresses; info "
        "where that root is a pcie-root, which takes no hotplugged device at all (seen on 9.0.0)."
    ),
    message="The guest has no index-0 PCI controller: {detail}",
    why=(
        "libvirt adds the implicit root when it parses the definition; one missing from the status XML "
        "is added again at load without an alias, and hotplug onto the root bus then fails for lack of "
        "an alias, or the addresses of existing devices cannot be resolved."
    ),
    evidence="qemuDomainDefAddDefaultDevices; qemuBuildDeviceAddressPCIGetBus",
    affected="implicit roots as read release by release (doc 1.5, 6.1), up to 11.3.0; unknown after",
    remediation=(
        "Cold-boot the guest under the current libvirt so that the root is recorded with its alias."
    ),
)
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
def _pci005_columns() -> Shape:
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
    pcie_root = (pl.col("default_root_model") == PCIE_ROOT).fill_null(False)
    detail = (
        pl.when(pcie_root)
        .then(
            fmt(
                "machine {} has a pcie-root, which libvirt re-adds at load without an alias; it takes no "
                "hotplugged device at all (seen on 9.0.0), so nothing is lost",
                pl.col("machine"),
            )
        )
        .otherwise(detail)
    )
    return finding_columns(
        "PCI005",
        pl.when(pcie_root).then(pl.lit("info")).otherwise(pl.lit("medium")),
        {"detail": detail},
        element=pl.lit("controller"),
        expected_bus=pl.col("qemu_root_bus"),
    )


@rule(
    code="PCI006",
    name="root-model-mismatch",
    scope="any",
    severities=("medium",),
    severity_logic=(
        "medium: the index-0 PCI controller's model is not the root model the machine requires "
        "(pci-root on q35/ARM virt/RISC-V virt, pcie-root on i440fx/pSeries/s390, ...)."
    ),
    message="{device} does not fit machine {machine}: {detail}",
    why=(
        "Post-parse validation rejects a root of the wrong model ('The PCI controller with index=0 must "
        "be model=...'); a definition or status file that fails to load is forgotten by libvirt at the "
        "restart."
    ),
    evidence="qemuDomainDefAddDefaultDevices and the PCI controller validation",
    affected="code of 7.10.0 (doc 1.5, 5); later releases not checked, unknown after 11.3.0",
    remediation="Fix the root controller's model in the definition (and cold-boot the guest).",
)
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
def _pci006_columns() -> Shape:
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


@rule(
    code="PCI007",
    name="phb-target",
    scope="status",
    severities=("low",),
    severity_logic=(
        "low: a pSeries host bridge (pci-root with index > 0) without a target index, or with an alias "
        "other than pci.<index>."
    ),
    message="{device} is a pSeries host bridge {detail}",
    why=(
        "The bus of an extra pSeries host bridge is '<alias>.0' only when its target index is above 0; "
        "without a target index libvirt uses the bare alias, which QEMU does not know, and an unexpected "
        "alias points to a hand-edited or foreign status file."
    ),
    evidence="virDomainControllerIsPSeriesPHB; the '%s.0' rule of qemuBuildDeviceAddressPCIGetBus",
    affected="pSeries guests with extra host bridges; code of 7.10.0, later releases not checked",
    remediation="Give the host bridge an explicit <target index='N'/> in the definition and cold-boot.",
)
def pci007(ctx: Context) -> Parts:
    no_target_detail, odd, odd_detail, shape = _pci007_exprs()
    phb = ctx.controllers.filter(pl.col("phb"))
    no_target = phb.filter(pl.col("target_index").is_null()).with_columns(no_target_detail)
    odd_alias = phb.filter(odd).with_columns(odd_detail)
    both = pl.concat([no_target, odd_alias], how="vertical")
    return ((both, shape),)


@cache
def _pci007_exprs() -> tuple[pl.Expr, pl.Expr, pl.Expr, Shape]:
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


@rule(
    code="PCI008",
    name="hotplug-off-bus",
    scope="status",
    severities=("info",),
    severity_logic="info: a device sits on a PCI controller with hotplug turned off.",
    message="{device} ({alias}) sits on bus {recorded_bus}, whose controller has hotplug='off': {detail}",
    why=(
        "QEMU refuses hotplug on such a port, and libvirt refuses to detach devices from it from 6.4.0 "
        "on;"
        " this is by configuration, listed so that a failed detach is not mistaken for a restart bug."
    ),
    evidence="c0e04c2e62 (6.4.0)",
    affected=">= 6.4.0 for detach (c0e04c2e62); unknown after 11.3.0",
    remediation=("Nothing to do unless the device must be unplugged live; then enable hotplug on the port."),
)
def pci008(ctx: Context) -> Parts:
    off = ctx.controllers.filter(pl.col("target_hotplug") == "off").select(
        "doc", pl.col("index").alias("pci_bus"), pl.col("qemu_bus").alias("_bus")
    )
    dev = ctx.status_devices().filter(pl.col("address_type") == "pci")
    hits = dev.join(off, on=["doc", "pci_bus"], how="inner")
    return ((hits, _pci008_columns()),)


@cache
def _pci008_columns() -> Shape:
    return finding_columns(
        "PCI008",
        "info",
        {
            "device": device_text(),
            "alias": alias_q(),
            "recorded_bus": q("_bus"),
            "detail": pl.lit("hot-unplug of this device is refused by configuration (since libvirt 6.4.0)"),
        },
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("_bus"),
    )


_PCI_CAPABLE_ELEMENTS: Final = (
    "controller",
    "hostdev",
    "interface",
    "video",
    "memballoon",
    "rng",
    "sound",
    "watchdog",
    "memory",
    "shmem",
    "vsock",
)
"""Every element :func:`_pci_capable` can accept (each of its tests names its element): a cheap first
filter. A test there on a new element must add it here (tests/test_rules.py checks the two agree)."""


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
        | ((el == "controller") & (typ == "usb") & model.is_in(USB_PCI_MODELS))
        | ((el == "controller") & (typ == "scsi") & model.is_in(SCSI_PCI_MODELS))
        | ((el == "controller") & typ.is_in(("virtio-serial", "sata")))
        | ((el == "hostdev") & (typ == "pci"))
        | ((el == "interface") & ((typ == "hostdev") | model.is_in(NIC_PCI_MODELS)))
        | ((el == "video") & model.is_in(VIDEO_PCI_MODELS))
        | (el.is_in(("memballoon", "rng")) & model.str.starts_with("virtio"))
        | ((el == "sound") & model.is_in(SOUND_PCI_MODELS))
        | ((el == "watchdog") & (model == "i6300esb"))
        | ((el == "memory") & model.is_in(("virtio-pmem", "virtio-mem")))
        | el.is_in(("shmem", "vsock"))
    ).fill_null(False)


@rule(
    code="PCI009",
    name="pci-address-missing",
    scope="status",
    severities=("medium",),
    severity_logic=(
        "medium (INFERENCE): a PCI device (PCI controller other than a root, PCI hostdev, "
        "virtio/emulated "
        "NIC, video, balloon, rng, sound, watchdog, PCI USB/SCSI/SATA/virtio-serial controller, ...) of "
        "a "
        "guest with a PCI root has no <address> in the status XML."
    ),
    message="{device} ({alias}) has no address in the status XML: {detail}",
    why=(
        "At reconnect libvirt assigns addresses to devices without one; the address it picks need not be "
        "the one QEMU gave the running device, so later unplug or migration addresses the wrong slot."
    ),
    evidence="qemuProcessReconnect -> qemuDomainAssignAddresses (INFERENCE in the doc)",
    affected="INFERENCE from the 7.10.0 reconnect code; later releases not checked",
    remediation="Cold-boot the guest so that the addresses are recorded.",
)
def pci009(ctx: Context) -> Parts:
    # The long test of what attaches over PCI runs on the devices without an address only, and of those
    # on the elements it names (a fifth of them: inputs, consoles, graphics have none).
    unaddressed = narrowed(ctx.status_devices(), pl.col("address_type").is_null())
    candidates = narrowed(unaddressed, pl.col("element").is_in(_PCI_CAPABLE_ELEMENTS)).select(
        "doc", "element", "type", "model", "index", "alias", "arch"
    )
    hits = candidates.filter(_pci_capable() & ~pl.col("arch").is_in(S390).fill_null(False)).join(
        _root_docs(ctx), on=["doc"], how="semi"
    )
    return ((hits, _pci009_columns()),)


@cache
def _pci009_columns() -> Shape:
    detail = pl.lit(
        "at reconnect libvirt assigns one, which need not be the slot QEMU gave the running device"
    )
    return finding_columns(
        "PCI009",
        "medium",
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


# Controller models whose bus takes hotplugged devices (the others: pcie-root, dmi-to-pci-bridge, upstream
# ports and expander buses take none).
HOTPLUG_BUS_MODELS: Final = (
    "pci-bridge",
    "pcie-root-port",
    "pcie-switch-downstream-port",
    "pcie-to-pci-bridge",
)
# (extra pSeries host bridges take hotplugs too, and QEMU's live list names them (seen on 9.0.0 and 11.3.0,
# tests/lab/recorded): PCI010 adds them; the default host bridge, like every implicit root, is never listed)
