"""RST rules: the state libvirt rebuilds from the status XML at a restart (capabilities, the guest's
state, block jobs, secrets, host devices, USB addresses, video models)."""

from __future__ import annotations

from functools import cache
from typing import Final

import polars as pl

from virtaudit.rules._base import Context, Parts, Shape, alias_q, device_text, finding_columns, fmt, rule
from virtaudit.versions import libvirt_key

_V2_4: Final = libvirt_key("2.4.0")
_V5_6: Final = libvirt_key("5.6.0")
_V6_0: Final = libvirt_key("6.0.0")
_V12_5: Final = libvirt_key("12.5.0")


@rule(
    code="RST001",
    name="caps-missing",
    scope="status",
    severities=("critical", "high"),
    severity_logic=(
        "critical for targets >= 6.0.0 (the guest is killed at reconnect); high below (capabilities are "
        "re-probed from the current QEMU binary, which may differ from the running one)."
    ),
    message="The status XML records no QEMU capabilities (<qemuCaps>): {detail}",
    why=(
        "libvirt stores the capability flags of the QEMU that started the guest in the status XML. From "
        "6.0.0 on, a status file without them fails reconnect with \"domain '...' has no capabilities "
        'recorded" and libvirt stops (kills) the guest; earlier releases re-detected the capabilities '
        "from the binary installed now, which is wrong after a QEMU upgrade."
    ),
    evidence="43c01d3838 (0.9.2, caps stored); 530d7a73f4 (6.0.0, reconnect refuses)",
    affected="all; guest killed from 6.0.0 (530d7a73f4), code of 7.10.0; unknown after 11.3.0",
    remediation=(
        "Do not restart or upgrade libvirtd while this guest runs: shut it down cleanly (or migrate it "
        "with the current daemon) first."
    ),
)
def rst001(ctx: Context) -> Parts:
    return ((ctx.status_domains().filter(pl.col("caps_count") == 0), _rst001_columns()),)


@cache
def _rst001_columns() -> Shape:
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


@rule(
    code="RST002",
    name="transient-state",
    scope="status",
    severities=("high",),
    severity_logic=(
        "high: status state 'shutoff', or 'paused' with reason 'starting up': the guest is killed at "
        "reconnect unless QEMU's vCPUs are running by then, which the status file cannot tell."
    ),
    message="The guest's recorded state is {recorded_bus}: {detail}",
    why=(
        "At reconnect libvirt treats a guest that was not fully started as broken ('wasn't fully started "
        "yet, killing it') and stops it. qemuProcessUpdateState runs first and promotes a guest whose QEMU "
        "vCPUs are running to running/booted, so only a guest whose vCPUs are not running (a start that "
        "never finished: QEMU waits with -S) is killed."
    ),
    evidence="qemuProcessReconnect, qemuProcessUpdateState (doc 6.4; code of 7.10.0)",
    affected="the releases whose reconnect was read (7.10.0 code; doc 6.4); unknown after 11.3.0",
    remediation="Wait until the guest has finished starting (or is gone) before restarting libvirtd.",
)
def rst002(ctx: Context) -> Parts:
    docs = ctx.status_domains().filter(
        (pl.col("state") == "shutoff") | ((pl.col("state") == "paused") & (pl.col("reason") == "starting up"))
    )
    return ((docs, _rst002_columns()),)


@cache
def _rst002_columns() -> Shape:
    reason = pl.concat_str(pl.lit("' (reason '"), pl.col("reason"), pl.lit("')")).fill_null("'")
    recorded = pl.concat_str(pl.lit("'"), pl.col("state"), reason)
    detail = pl.lit(
        "libvirt kills a guest that was not fully started when it reconnects after a restart, unless QEMU's "
        "vCPUs are running by then (then it records the guest as running)"
    )
    return finding_columns("RST002", "high", {"recorded_bus": recorded, "detail": detail})


@rule(
    code="RST003",
    name="legacy-multibus-flag",
    scope="status",
    severities=("info",),
    severity_logic="info: the pci-multibus capability flag is recorded.",
    caps_flags=("pci-multibus",),
    message="The status XML records the pci-multibus capability: {detail}",
    why=(
        "libvirt stopped setting the flag in 3.2.0, but newer daemons re-write every flag a guest has, "
        "retired ones included: the flag proves the guest was started under libvirt <= 3.1.x, not that "
        "the file was written by it. Expect the other gaps of guests that old (secret objects, USB "
        "addresses) and the old alias rules."
    ),
    evidence="5b783379 (3.2.0); flags re-written by name (doc 6.4, flag tables 3.0.0-11.3.0)",
    affected="guests started under <= 3.1.x",
    remediation="Plan a cold boot of the guest under the current libvirt.",
)
def rst003(ctx: Context) -> Parts:
    docs = ctx.status_domains().join(
        ctx.caps.filter(pl.col("flag") == "pci-multibus").select("doc").unique(),
        on=["doc"],
        how="semi",
    )
    return ((docs, _rst003_columns()),)


@cache
def _rst003_columns() -> Shape:
    detail = pl.lit(
        "the guest was started under libvirt 3.1.x or older, so expect the other gaps of guests that old "
        "(secret objects, USB addresses, aliases)"
    )
    return finding_columns("RST003", "info", {"detail": detail})


@rule(
    code="RST004",
    name="virtio-video-device-unrecorded",
    scope="status",
    severities=("info",),
    severity_logic=(
        "info for targets >= 12.5.0: a virtio video device without a recorded device model "
        "(<model type='virtio'> without device=); not reported for older targets. Not above info: "
        "libvirt's own tests show 12.5.0 handling such older status files on purpose (doc 6.4)."
    ),
    message="{device} ({alias}) has no recorded device model: {detail}",
    why=(
        "Before 12.5.0 libvirt did not record which QEMU device (virtio-vga, virtio-gpu, ...) backs a "
        "virtio video model, so a newer daemon or a migration target may pick a different default when "
        "the host configuration changes: a guest ABI change. libvirt's tests of that change "
        "(virtio-vga-upgrade[-missing]-in/out.xml) show the daemon filling the field for older status "
        "files on purpose, so the hazard is likely handled; the 12.5.0 code itself was not read."
    ),
    evidence="b6f7c2d3db28 (12.5.0); tests virtio-vga-upgrade[-missing]-in/out.xml (doc 6.4)",
    affected=">= 12.5.0 reading status written before 12.5.0 (12.5.0 code not read: unknown)",
    remediation=(
        "Cold-boot the guest under >= 12.5.0, or set device= explicitly in the definition, before "
        "migrating it."
    ),
)
def rst004(ctx: Context) -> Parts:
    hits = ctx.element_devices("video").filter(
        (pl.col("target_key") >= _V12_5) & (pl.col("model") == "virtio") & pl.col("video_device").is_null()
    )
    return ((hits, _rst004_columns()),)


@cache
def _rst004_columns() -> Shape:
    detail = fmt(
        "{} records one for older status files (libvirt's tests show it done on purpose), so this is "
        "context: check the device model after the upgrade before migrating the guest",
        pl.col("target_text"),
    )
    return finding_columns(
        "RST004",
        "info",
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@rule(
    code="RST005",
    name="secret-objects-unrecorded",
    scope="status",
    severities=("low",),
    severity_logic=(
        "low: a disk with auth, encryption or TLS whose status XML records no secret/TLS objects."
    ),
    message="{device} ({alias}) uses {detail}",
    why=(
        "From 4.5.0 the aliases of the secret and TLS objects that belong to a disk are stored in the "
        "status XML; before, a restarted daemon did not delete the TLS object at unplug, and newer "
        "releases regenerate the aliases from hard-coded formats, which only match files written by "
        "the releases those formats come from."
    ),
    evidence="f95baa3813, 7c6b00b8fe, 1f1aa21cb9, 3b5181b731 (4.5.0); 95a8c4332d (6.2.0)",
    affected="status written by < 4.5.0",
    remediation="Cold-boot the guest before hot-unplugging the disk.",
)
def rst005(ctx: Context) -> Parts:
    hits = ctx.element_devices("disk").filter(
        (pl.col("has_auth") | pl.col("has_encryption") | pl.col("has_tls")) & ~pl.col("has_private_objects")
    )
    return ((hits, _rst005_columns()),)


@cache
def _rst005_columns() -> Shape:
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
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@rule(
    code="RST006",
    name="hostdev-origstates-missing",
    scope="status",
    severities=("low",),
    severity_logic="low: a managed PCI hostdev without <origstates>.",
    message="{device} ({alias}) is managed but has no <origstates>: {detail}",
    why=(
        "libvirt records how it detached a managed PCI device from its host driver; without the record "
        "the device is not rebound to the host driver when the guest is destroyed after a restart."
    ),
    evidence="d84b36263c (0.9.7)",
    affected="code of 7.10.0 (d84b36263c, 0.9.7); later releases not checked",
    remediation="After the guest stops, rebind the device by hand (virsh nodedev-reattach).",
)
def rst006(ctx: Context) -> Parts:
    hits = ctx.element_devices("hostdev").filter(
        (pl.col("type") == "pci") & (pl.col("managed") == "yes") & ~pl.col("has_origstates")
    )
    return ((hits, _rst006_columns()),)


@cache
def _rst006_columns() -> Shape:
    detail = pl.lit("when the guest is destroyed the device is not rebound to its host driver")
    return finding_columns(
        "RST006",
        "low",
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


@rule(
    code="RST007",
    name="blockjob-active",
    scope="status",
    severities=("low", "info"),
    severity_logic=(
        "low for targets < 5.6.0 (jobs without stored data are cancelled or marked broken at the "
        "restart; job data is stored in the status file from 5.6.0, d3158852fa); info otherwise."
    ),
    message="The status XML records active block jobs: {detail}",
    why=(
        "Block jobs (copy, commit, backup) must be re-attached at reconnect; releases that do not find "
        "the job's data in the status XML cancel mirrors or mark the jobs broken."
    ),
    evidence="e8f263e0d0 (1.2.17); 802fd24506 (3.9.0); d3158852fa (5.6.0, doc 6.4)",
    affected="< 5.6.0 (job data stored from 5.6.0)",
    remediation=("Let running block jobs finish (or abort them) before restarting or downgrading libvirtd."),
)
def rst007(ctx: Context) -> Parts:
    return ((ctx.status_domains().filter(pl.col("blockjobs_active") == "yes"), _rst007_columns()),)


@cache
def _rst007_columns() -> Shape:
    old = pl.col("target_key") < _V5_6
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


@rule(
    code="RST008",
    name="usb-address-missing",
    scope="status",
    severities=("low",),
    severity_logic=(
        "low for targets < 2.4.0: a USB device (USB hostdev, redirdev, hub, USB sound) without a USB "
        "address; not reported for newer targets."
    ),
    message="{device} ({alias}) has no USB address: {detail}",
    why=(
        "libvirt < 2.4.0 did not rebuild its USB port allocations after a restart, so hotplugged USB "
        "devices could collide with existing ones."
    ),
    evidence="dc67d00cd2 (2.4.0), rhbz#1387666",
    affected="< 2.4.0",
    remediation="Give USB devices explicit addresses, or upgrade libvirt to >= 2.4.0.",
)
def rst008(ctx: Context) -> Parts:
    usb, shape = _rst008_exprs()
    # (cache(): the USB tests run only on the devices of guests judged for a release before 2.4.0, usually
    # none, instead of on every device)
    old = ctx.status_devices().filter(pl.col("target_key") < _V2_4).cache()
    return ((old.filter(usb), shape),)


@cache
def _rst008_exprs() -> tuple[pl.Expr, Shape]:
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
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )
    return usb.fill_null(False) & (pl.col("address_type") != "usb").fill_null(True), shape
