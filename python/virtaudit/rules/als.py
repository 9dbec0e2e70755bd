"""ALS rules: device aliases (duplicates, user aliases, QEMU's live device list, DIMM aliases)."""

from __future__ import annotations

from functools import cache
from typing import Final

import polars as pl

from virtaudit.busnames import I440FX, PCI_ROOT, PCIE_ROOT, Q35, X86
from virtaudit.rules._base import (
    Context,
    Parts,
    Shape,
    alias_q,
    device_text,
    finding_columns,
    fmt,
    live_orphans,
    machine_in,
    narrowed,
    rule,
)
from virtaudit.versions import libvirt_key

_ROOTS: Final = (PCI_ROOT, PCIE_ROOT)
_USER_ALIAS_RE: Final = r"^ua-[A-Za-z0-9_-]*$"
_V3_10_RC1: Final = libvirt_key("3.10.0-rc1")
_V9_0_MAX: Final = libvirt_key("9.1.0") - 1  # the last 9.0.x
_V9_6: Final = libvirt_key("9.6.0")
# Addresses of devices that QEMU creates with -device (and so lists in /machine/peripheral).
_DEVICE_BACKED_ADDRESSES: Final = ("pci", "drive", "usb", "ccw", "virtio-serial", "dimm", "ccid")


def _alias_groups(dev: pl.LazyFrame) -> pl.LazyFrame:
    """Aliases used by more than one device of a document, with what uses them."""
    # (``alias_repeated``, set by the core: another device of the document has the alias; the groups are
    # counted again below, so a caller's filter that leaves one device of a pair drops that group)
    dups = dev.filter(pl.col("alias_repeated").fill_null(False))
    # Most groups are a guest's serial/console pair. The per-group tests are columns first and plain sums
    # in the aggregation (an expression per group is evaluated group by group: 2.5x slower), and the
    # element names are joined after the groups are filtered (str.join per group was most of the cost).
    counts, elements = _alias_group_columns()
    groups = (
        dups.with_columns(counts)
        .group_by("doc", "alias", maintain_order=True)
        .agg(
            pl.len().alias("n"),
            pl.col("element").alias("_elements"),
            *(pl.col(column.meta.output_name()).sum() for column in counts),
            pl.col("target_text").first(),
        )
    )
    return groups.filter(pl.col("n") > 1).with_columns(elements)


@cache
def _alias_group_columns() -> tuple[tuple[pl.Expr, ...], pl.Expr]:
    """The per-device tests :func:`_alias_groups` counts, and the group's element names joined."""
    el, typ = pl.col("element"), pl.col("type")
    counts = (
        ((el == "controller") & (typ == "usb")).alias("n_usb"),
        (el == "serial").alias("n_serial"),
        (el == "console").alias("n_console"),
        (el == "hostdev").alias("n_hostdev"),
        (el == "interface").alias("n_iface"),
        ((el == "interface") & (typ == "hostdev")).alias("n_iface_hostdev"),
    )
    return counts, pl.col("_elements").list.join(", ").alias("elements")


def _groups_detail(extra: str) -> pl.Expr:
    return fmt("{} devices ({}){}", pl.col("n"), pl.col("elements"), pl.lit(extra))


def _user_devices(ctx: Context) -> pl.LazyFrame:
    """The devices with a user alias (a tenth of them on a managed fleet): the rules about them test the
    rest on these rows only, one filter of the batch's devices for all of them (a shared ``cache()``,
    which also keeps polars from merging the filter with each rule's, which would test every device)."""
    return ctx.shared("user_devices", lambda c: c.devices.filter(pl.col("user_alias")))


@rule(
    code="ALS001",
    name="duplicate-user-alias",
    scope="any",
    severities=("high",),
    severity_logic="high: the same ua- alias on two or more devices of one guest.",
    message="The user alias {alias} is used by {detail}",
    why=(
        "User aliases must be unique in a domain; validation rejects the definition ('non unique alias "
        "detected') and a hotplug of a device with that alias fails; QEMU refuses duplicate ids."
    ),
    evidence="e2797e3256 (3.9.0); e43263601f (4.2.0); 572c50849c, 57eb2936f3 (5.3.0)",
    affected=">= 3.9.0 (the message exists from 3.9.0, doc 6.4); unknown after 11.3.0",
    remediation="Rename one of the aliases in the definition (management layer) and cold-boot.",
)
def als001(ctx: Context) -> Parts:
    groups = _alias_groups(_user_devices(ctx)).filter(pl.col("n") > 1)
    return ((groups, _als001_columns()),)


@cache
def _als001_columns() -> Shape:
    return finding_columns(
        "ALS001",
        "high",
        {
            "alias": alias_q(),
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
    return ctx.shared("system_alias_groups", _system_alias_groups_plan)


def _system_alias_groups_plan(ctx: Context) -> pl.LazyFrame:
    dev = ctx.status_devices().filter(pl.col("alias").is_not_null() & ~pl.col("user_alias"))
    return _alias_groups(dev).filter(pl.col("n") > 1)


@rule(
    code="ALS002",
    name="duplicate-alias",
    scope="status",
    severities=("medium",),
    severity_logic=(
        "medium: a generated alias used twice, except USB companion controllers sharing the master's "
        "alias, the serial/console pair and hostdev copies of interface type='hostdev'."
    ),
    message="The alias {alias} is used by {detail}",
    why=(
        "Device aliases are QEMU ids and are used to find devices for unplug and events; a duplicate "
        "means libvirt will act on the wrong device, or QEMU refuses a hotplug with 'Duplicate ID'."
    ),
    evidence="virDomainDeviceDefValidateAliasesIterator; 630c6e3495 (4.2.0)",
    affected="code of 7.10.0 (doc 5); later releases not checked",
    remediation="Cold-boot the guest so that aliases are reassigned.",
)
def als002(ctx: Context) -> Parts:
    legit, shape = _als002_exprs()
    return ((_system_alias_groups(ctx).filter(~legit), shape),)


@cache
def _als002_exprs() -> tuple[pl.Expr, Shape]:
    legit = (
        (pl.col("n_usb") == pl.col("n"))  # USB companion controllers share the master's alias
        | (((pl.col("n_serial") + pl.col("n_console")) == pl.col("n")) & (pl.col("n_serial") <= 1))
        | _hostdev_pair()  # hostdev copies of interfaces (ALS007 reports the suspicious ones)
    )
    shape = finding_columns(
        "ALS002",
        "medium",
        {
            "alias": alias_q(),
            "detail": _groups_detail("; libvirt may act on the wrong one and QEMU refuses a duplicate id"),
        },
        element=pl.col("elements"),
        alias=pl.col("alias"),
    )
    return legit, shape


@rule(
    code="ALS003",
    name="invalid-user-alias",
    scope="any",
    severities=("low",),
    severity_logic="low: a ua- alias with characters outside [A-Za-z0-9_-].",
    message="{device} has the user alias {alias}, {detail}",
    why=(
        "libvirt keeps any alias in live and status XML but silently drops an invalid user alias from a "
        "persistent definition, so the alias changes at the next cold boot and tools keyed on it lose "
        "the device."
    ),
    evidence="c14f1ed206 (3.9.0), USER_ALIAS_CHARS",
    affected=">= 3.9.0 (c14f1ed206); code of 7.10.0, later releases not checked",
    remediation="Use only letters, digits, '_' and '-' after 'ua-'.",
)
def als003(ctx: Context) -> Parts:
    hits = _user_devices(ctx).filter(~pl.col("alias").str.contains(_USER_ALIAS_RE))
    return ((hits, _als003_columns()),)


@cache
def _als003_columns() -> Shape:
    detail = pl.lit(
        "which has characters outside [A-Za-z0-9_-]: libvirt keeps it live but drops it from the persistent "
        "definition, so it changes at the next cold boot"
    )
    return finding_columns(
        "ALS003",
        "low",
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@rule(
    code="ALS004",
    name="user-alias-implicit-controller",
    scope="any",
    severities=("high", "info"),
    severity_logic=(
        "high for targets before 3.10.0-rc1 when the controller is the built-in IDE (i440fx) or q35's "
        "SATA 0 (the alias is used as the bus name, which QEMU lacks); info otherwise (translated to "
        "'ide' from 3.10.0-rc1; a USB 0 user alias is kept in the migratable XML from 4.2.0)."
    ),
    message="{device} is implicit on this machine but has the user alias {alias}: {detail}",
    why=(
        "QEMU creates these controllers itself and names their buses; libvirt must translate a user "
        "alias "
        "to QEMU's name ('ide'), which releases before 3.10.0-rc1 did not do."
    ),
    evidence="9324f67a57, f66e5896ad (3.10.0-rc1); a1745174e9 (4.2.0)",
    affected="3.9.0 (user aliases without translation)",
    remediation="Do not give implicit controllers user aliases.",
)
def als004(ctx: Context) -> Parts:
    builtin, breaks, shape = _als004_exprs()
    # (the costlier machine and arch tests on the few index-0 controllers only)
    first = (pl.col("element") == "controller") & (pl.col("index") == 0)
    hits = narrowed(_user_devices(ctx), first).filter(builtin).with_columns(breaks)
    return ((hits, shape),)


@cache
def _als004_exprs() -> tuple[pl.Expr, pl.Expr, Shape]:
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
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("alias"),
        expected_bus=pl.when(pl.col("type") != "usb").then(pl.lit("ide")),
    )
    return (ide | sata | usb).fill_null(False), breaks, shape


@rule(
    code="ALS005",
    name="live-device-drift",
    scope="status",
    severities=("low",),
    severity_logic=(
        "low, both ways: QEMU's device list in the status XML names an alias that no device of the "
        "definition has, or a device that QEMU creates with -device (it has a PCI, drive, USB, CCW, "
        "virtio-serial, CCID or DIMM address) is missing from that list. The doc rates drift medium; "
        "low here because reconnect only removes devices that are in the stored list, in the definition "
        "and gone from QEMU, so the drift matters only if a device vanishes during the restart window, "
        "and because which devices are -device-backed is inferred from the address type."
    ),
    message="QEMU's device list in the status XML and the definition disagree about {alias}: {detail}",
    why=(
        "At reconnect libvirt compares QEMU's current device list with the one stored in the status XML "
        "and removes from the definition the devices that vanished while the daemon was down. A list "
        "that disagrees with the definition means libvirt and QEMU have drifted apart: a device QEMU has "
        "but the definition lacks makes a later hotplug that reuses the alias fail with a duplicate id, "
        "and a device missing from the list is not cleaned up if it goes away while libvirtd is down."
    ),
    evidence="0dfb8a1b9e (1.1.1), qemuProcessUpdateDevices",
    affected=">= 1.1.1 (0dfb8a1b9e); code of 7.10.0, later releases not checked",
    remediation=(
        "Compare with 'virsh qemu-monitor-command --hmp info qtree' (or qom-list /machine/peripheral) "
        "and "
        "reconcile by detaching stale devices, or cold-boot the guest."
    ),
)
def als005(ctx: Context) -> Parts:
    dev = ctx.status_devices()
    unknown_shape, builtin, missing_shape = _als005_exprs()
    # (an extra pSeries host bridge has no address, but QEMU's list names it too)
    extra_phb = (pl.col("element") == "controller") & (pl.col("model") == PCI_ROOT) & (pl.col("index") > 0)
    listed = pl.col("address_type").is_in(_DEVICE_BACKED_ADDRESSES) | extra_phb
    # (``in_live_list``, set by the core: whether QEMU's list names the device's alias; null without an
    # alias or a list, so only the documents with a list are judged)
    missing = narrowed(dev, ~pl.col("in_live_list")).filter(listed.fill_null(False) & ~builtin)
    return ((live_orphans(ctx), unknown_shape), (missing, missing_shape))


@cache
def _als005_exprs() -> tuple[Shape, pl.Expr, Shape]:
    """The columns of unknown aliases, the test for built-in devices, the columns of missing aliases."""
    unknown_shape = finding_columns(
        "ALS005",
        "low",
        {
            "alias": alias_q(),
            "detail": pl.lit(
                "the list names it but no device of the definition has it, so the list is stale or libvirt "
                "lost track of a device, and a hotplug that reuses the alias fails"
            ),
        },
        element=pl.lit("device"),
        alias=pl.col("alias"),
    )
    # The implicit root (index 0: pci.0, pcie.0, the default pSeries host bridge) is never in QEMU's list;
    # other PCI controllers are, extra pSeries host bridges included (seen on 9.0.0 and 11.3.0). A
    # controller whose bus takes hotplugs and that the list lacks is drift here; with an orphan id in the
    # list beside it, it is PCI010 as well (high: renamed, doc 6.3).
    root = (
        (pl.col("element") == "controller")
        & (pl.col("type") == "pci")
        & (pl.col("index") == 0)
        & pl.col("model").is_in(_ROOTS)
    )
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
            "alias": alias_q(),
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


@rule(
    code="ALS006",
    name="dimm-alias-slot",
    scope="status",
    severities=("medium",),
    severity_logic=(
        "medium: a memory device aliased dimmN whose DIMM slot is not N (targets up to 9.0.x: libvirt falls "
        "back to its old alias algorithm; from 9.6.0 it has no fallback and a new DIMM's alias may collide; "
        "9.1-9.5 not read)."
    ),
    message="{device} has the alias {alias} but sits in DIMM slot {recorded_bus}: {detail}",
    why=(
        "Up to 9.0.x reconnect checks that dimmN sits in slot N and, if not, marks the guest and uses the "
        "old alias algorithm for memory hotplug. From 9.6.0 the check is gone and a DIMM's alias always "
        "follows its slot, so a new DIMM hotplugged into slot N can get the alias dimmN that an existing "
        "device already has (inference: QEMU refuses a duplicate id). Either way the alias/slot mismatch "
        "is a migration ABI hazard."
    ),
    evidence=(
        "93d9ff3da0 (2.5.0), qemuProcessReconnectCheckMemAliasOrderMismatch (present @9.0.0, gone @9.6.0; "
        "doc 6.4)"
    ),
    affected=">= 2.5.0; fallback up to 9.0.x, none from 9.6.0, 9.1-9.5 unknown, unknown after 11.3.0",
    remediation="Cold-boot the guest so that DIMM aliases follow their slots.",
)
def als006(ctx: Context) -> Parts:
    # (the regex and the text below run on the memory devices only, not on every device)
    memory = ctx.element_devices("memory")
    hits = memory.filter(
        pl.col("alias").str.contains(r"^dimm\d+$").fill_null(False)
        & pl.col("dimm_slot").is_not_null()
        & (pl.col("alias") != pl.concat_str(pl.lit("dimm"), pl.col("dimm_slot").cast(pl.String)))
    )
    return ((hits, _als006_columns()),)


@cache
def _als006_columns() -> Shape:
    no_fallback = pl.col("target_key") >= _V9_6
    detail = (
        pl.when(no_fallback)
        .then(
            fmt(
                "{} has no fallback for that (from 9.6.0 aliases follow slots), so a DIMM hotplugged into a "
                "free slot may get an alias an existing DIMM has (inference), and the mismatch is a "
                "migration ABI hazard",
                pl.col("target_text"),
            )
        )
        .when(pl.col("target_key") > _V9_0_MAX)
        .then(
            fmt(
                "whether {} still falls back to its old alias algorithm is unknown (9.0.0 does, 9.6.0 does "
                "not), and the mismatch is a migration ABI hazard",
                pl.col("target_text"),
            )
        )
        .otherwise(
            fmt(
                "at reconnect {} falls back to its old alias algorithm for memory hotplug, and the mismatch "
                "is a migration ABI hazard",
                pl.col("target_text"),
            )
        )
    )
    return finding_columns(
        "ALS006",
        "medium",
        {"device": device_text(), "alias": alias_q(), "recorded_bus": pl.col("dimm_slot"), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@rule(
    code="ALS007",
    name="hostdev-alias-collision",
    scope="status",
    severities=("low",),
    severity_logic=(
        "low: the same hostdevN alias on a <hostdev> and an <interface> (medium on libvirt < 1.2.1, "
        "which is below the modelled range)."
    ),
    message="The alias {alias} is used by {detail}",
    why=(
        "libvirt < 1.2.1 did not re-add network interfaces backed by a hostdev pool to its hostdev list "
        "after a restart, so the next hostdev hotplug reused hostdevN and QEMU failed with 'Duplicate "
        "ID'; "
        "a collision in the status XML shows the same drift."
    ),
    evidence="8700b87800 (1.2.1), rhbz#1045002",
    affected="< 1.2.1 (fails); later releases: consistency only",
    remediation="Detach and re-attach one of the devices, or cold-boot the guest.",
)
def als007(ctx: Context) -> Parts:
    groups = _system_alias_groups(ctx).filter(
        (pl.col("n") > 1) & _hostdev_pair() & (pl.col("n_iface_hostdev") < pl.col("n_iface"))
    )
    return ((groups, _als007_columns()),)


@cache
def _als007_columns() -> Shape:
    return finding_columns(
        "ALS007",
        "low",
        {
            "alias": alias_q(),
            "detail": _groups_detail(
                ": a hostdev-pool interface and a hostdev share the id, which broke the next hostdev hotplug "
                "on libvirt before 1.2.1 and shows drift now"
            ),
        },
        element=pl.col("elements"),
        alias=pl.col("alias"),
    )


@rule(
    code="ALS008",
    name="balloon-none-alias",
    scope="status",
    severities=("info",),
    severity_logic="info: memballoon model='none' with an alias.",
    message="{device} has the alias {alias} although no balloon device exists: {detail}",
    why=(
        "libvirt before 4.2.0 generated an alias for the non-existent balloon of model 'none'; it is "
        "dropped at the restart. Harmless, a sign of a status file written by an older daemon."
    ),
    evidence="1554eafbe6 (4.2.0)",
    affected="written by < 4.2.0",
    remediation="Nothing to do.",
)
def als008(ctx: Context) -> Parts:
    hits = ctx.element_devices("memballoon").filter(
        (pl.col("model") == "none") & pl.col("alias").is_not_null()
    )
    return ((hits, _als008_columns()),)


@cache
def _als008_columns() -> Shape:
    return finding_columns(
        "ALS008",
        "info",
        {
            "device": device_text(),
            "alias": alias_q(),
            "detail": pl.lit("written by libvirt before 4.2.0, harmless, dropped at the restart"),
        },
        element=pl.col("element"),
        alias=pl.col("alias"),
    )
