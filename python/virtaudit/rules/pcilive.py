"""PCI010: a PCI controller whose alias is not the id QEMU has for it, told from QEMU's live device list of
the status file (``libvirt-restart-hazards.md`` §6.3; the lab's gap 2). Beside :mod:`virtaudit.rules.pci`
(the other PCI rules), in a module of its own for size."""

from __future__ import annotations

from functools import cache
from typing import Final

import polars as pl

from virtaudit.rules._base import (
    Context,
    Parts,
    Shape,
    alias_q,
    device_text,
    finding_columns,
    fmt,
    live_orphans,
    q,
    rule,
)
from virtaudit.rules.pci import HOTPLUG_BUS_MODELS

# The ids libvirt gives PCI controllers (and so QEMU has): pci.N, or a user alias. An orphan id of another
# form (a lost disk, a NIC, ...) is no evidence that a controller was renamed.
_CONTROLLER_ID: Final = r"^(pci\.\d+|ua-.+)$"


@rule(
    code="PCI010",
    name="pci-controller-not-in-qemu",
    scope="status",
    severities=("high",),
    severity_logic=(
        "high: a PCI controller whose bus takes hotplugged devices (pci-bridge, pcie-root-port, switch "
        "downstream port, pcie-to-pci-bridge, or an extra pSeries host bridge with target index > 0) has an "
        "alias that QEMU's live device list in the status XML does not name, and that list names a "
        "controller-like id (pci.N or ua-...) that no device of the definition carries (an orphan: QEMU's "
        "real id for the renamed controller). Without an orphan id the list has only drifted (ALS005, low: "
        "libvirt refreshes the list from QEMU at reconnect, and hotplug works). Not reported where the list "
        "is absent, for hotplug='off', or for the implicit root (index 0: never in the list)."
    ),
    message="{device} ({alias}) is not in QEMU's device list of the status XML: {detail}",
    why=(
        "After a restart libvirt sends a hotplug onto a controller's bus to QEMU as bus=<stored alias> "
        "(<alias>.0 for an extra pSeries host bridge). When that alias is not the id QEMU has for the "
        "controller, QEMU refuses every such hotplug ('Bus ... not found'), while the guest itself "
        "reconnects normally. The live device list in the status file names QEMU's ids: a renamed "
        "controller leaves its real id there with no device carrying it. A list that only lacks the alias "
        "(no orphan id) is stale, and harmless for hotplug. Seen on libvirt 9.0.0 and 11.3.0 with an "
        "i440fx pci-bridge, a q35 pcie-root-port and an extra pSeries host bridge (renamed: hotplug fails "
        "after the restart), and with an i440fx pci-bridge dropped from the list (drift: hotplug works)."
    ),
    evidence=(
        "qemuBuildDeviceAddressPCIGetBus uses the stored alias (3.10.0 to 11.3.0); lab (tests/lab/recorded, "
        "restart-9.0.0 and restart-11.3.0): i440fx-bridge-alias-wrong, q35-port-alias-wrong, "
        "pseries-phb1-alias-wrong fail after the restart, i440fx-live-list-drift does not"
    ),
    affected=(
        "seen on 9.0.0 and 11.3.0; the stored alias is used by every release read (3.10.0 to 11.3.0); "
        "unknown after"
    ),
    remediation=(
        "Do not hotplug onto that controller's bus: use another port or bridge, and cold-boot the guest so "
        "that the status file and QEMU agree again."
    ),
)
def pci010(ctx: Context) -> Parts:
    hotplug_bus = pl.col("effective_model").is_in(HOTPLUG_BUS_MODELS).fill_null(False) & (
        pl.col("target_hotplug") != "off"
    ).fill_null(True)
    extra_phb = pl.col("phb") & (pl.col("target_index") > 0).fill_null(False)
    ctrl = ctx.controllers.filter(
        pl.col("alias").is_not_null() & (pl.col("index") > 0) & (hotplug_bus | extra_phb)
    )
    # (``in_live_list``, set by the core; null without a list, so only the documents with one are judged)
    missing = ctrl.filter(~pl.col("in_live_list"))
    orphans = (
        live_orphans(ctx)
        .filter(pl.col("alias").str.contains(_CONTROLLER_ID))
        .group_by("doc")
        .agg(pl.col("alias").unique().sort().str.join(", ").alias("_orphans"))
    )
    return ((missing.join(orphans, on="doc", how="inner"), _pci010_columns()),)


@cache
def _pci010_columns() -> Shape:
    detail = fmt(
        "the list names {} instead, which no device of the definition carries (QEMU's id for this "
        "controller, most likely), so after a restart {} sends hotplugs onto its bus to {}, a bus QEMU "
        "lacks ('Bus ... not found'), although the guest reconnects",
        pl.col("_orphans"),
        pl.col("target_text"),
        q("restart_bus"),
    )
    return finding_columns(
        "PCI010",
        "high",
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
        recorded_bus=pl.col("restart_bus"),
        expected_bus=pl.col("_orphans"),
    )
