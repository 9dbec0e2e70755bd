"""The lab's scenarios: one table of data (guest template, status-XML edit, operation, recorded outcome).

Each scenario starts one guest (paused, nothing booted) from a template, hotplugs a virtio-blk disk onto
a given PCI bus *before* the daemon restart, stops libvirtd, applies the edit to the guest's status XML,
starts libvirtd again and repeats the hotplug (onto the bus the edit is about) *after* the restart.

`before` / `after` are the outcomes libvirt gave when the table was recorded (`make lab` re-checks them
live; tests/lab/recorded/ holds the recording): ``ok`` the hotplug worked; ``refused`` libvirt refuses it
by design (a bus without hotplug, before and after a restart alike: not a restart hazard); ``fail`` the
hotplug failed; ``lost`` libvirt no longer runs the guest after the restart (shown shut off while its QEMU
keeps running, or killed).

virtaudit agrees with libvirt when it reports a finding at high or above for the guest exactly when the
outcome after the restart is ``fail`` or ``lost``, with `code` among those findings (`code` None: any
code, for hazards whose rule does not exist yet), and, where the hotplug already failed before the
restart, with a message that says so (gap 4). `gap` names the known model gap that makes virtaudit
disagree today; those scenarios are strict xfails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["ok", "refused", "fail", "lost"]
HAZARDS: frozenset[str] = frozenset({"fail", "lost"})

PREFIX = "vlab-"

# The libvirt release the table's outcomes (and its gap markers) were recorded with: bookworm's.
RECORDED_LIBVIRT = "9.0.0"

# What a finding must say when the operation already fails before any restart (gap 4).
BROKEN_NOW = re.compile(r"already|before any restart|without a restart|broken now", re.IGNORECASE)

# The model gaps the lab found (all closed now; a new one gets the next number and its scenarios an xfail).
GAPS: dict[int, str] = {
    1: "gap 1 (closed: CAP001): capability flags unknown to the target libvirt were not a rule",
    2: "gap 2 (closed: PCI010 with an orphan id): a PCI controller alias missing from QEMU's live device "
    "list was only low (ALS005)",
    3: "gap 3 (closed: info on pcie-root): a wrong or missing alias on pcie-root (no hotplug at all) gave a "
    "false-alarm high",
    4: "gap 4 (closed: PCI001 on pSeries): the finding did not say that the operation is broken now",
    5: "gap 5 (closed: PCI001 targets): PCI001 on a pSeries default host bridge is no hazard for targets >= "
    "10.4.0 (hazards doc 6.1)",
}


@dataclass(frozen=True)
class Edit:
    """One change to the status XML, made while libvirtd is stopped.

    kind: ``drop-alias`` (remove the alias of the PCI controller `index`), ``set-alias`` (give it the
    alias `value` in the definition only; QEMU's live device list keeps the real id), ``add-flag`` (add
    the capability flag `value` to <qemuCaps>), ``add-unknown-flag`` (a flag name no libvirt knows),
    ``drop-caps`` (remove <qemuCaps>), ``set-state`` (`value` = ``state/reason`` of <domstatus>),
    ``drop-live-alias`` (remove `value` from QEMU's live device list).
    """

    kind: str
    index: int | None = None
    value: str | None = None

    def describe(self) -> str:
        where = f" of controller {self.index}" if self.index is not None else ""
        val = f" {self.value}" if self.value is not None else ""
        return f"{self.kind}{where}{val}"


@dataclass(frozen=True)
class Scenario:
    name: str
    template: str  # key of TEMPLATES in lab.py: i440fx, q35, pseries, virt
    options: tuple[str, ...]  # template options: root-ua, phb1-ua, ...
    edits: tuple[Edit, ...]
    before_bus: int  # PCI bus of the hotplug before the restart
    after_bus: int  # ... and after it (root ports take one device each)
    before: Outcome
    after: Outcome
    code: str | None = None
    gap: int | None = None
    note: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def guest(self) -> str:
        return PREFIX + self.name

    @property
    def hazard(self) -> bool:
        return self.after in HAZARDS


NONE: tuple[Edit, ...] = ()

# fmt: off
SCENARIOS: tuple[Scenario, ...] = (
    # --- i440fx: pci-root (pci.0) and a pci-bridge (index 1) -------------------------------------------
    Scenario("i440fx-clean", "i440fx", (), NONE, 0, 0, "ok", "ok",
             note="control: nothing edited, hotplug onto the root bus"),
    Scenario("i440fx-bridge-clean", "i440fx", (), NONE, 1, 1, "ok", "ok",
             note="control: hotplug onto the pci-bridge"),
    Scenario("i440fx-root-ua", "i440fx", ("root-ua",), NONE, 0, 0, "ok", "ok",
             note="control: ua- alias on the i440fx root, translated to pci.0 (PCI001 info)"),
    Scenario("i440fx-root-alias-missing", "i440fx", (), (Edit("drop-alias", 0),), 0, 0, "ok", "fail",
             code="PCI003"),
    Scenario("i440fx-bridge-alias-missing", "i440fx", (), (Edit("drop-alias", 1),), 1, 1, "ok", "fail",
             code="PCI003"),
    Scenario("i440fx-root-alias-wrong", "i440fx", (), (Edit("set-alias", 0, "pci"),), 0, 0, "ok", "fail",
             code="PCI002"),
    Scenario("i440fx-bridge-alias-wrong", "i440fx", (), (Edit("set-alias", 1, "pci.7"),), 1, 1, "ok", "fail",
             code="PCI010", note="bridge alias not in QEMU's live list, which keeps the real id pci.1"),
    Scenario("i440fx-caps-unknown-flag", "i440fx", (), (Edit("add-unknown-flag", value="vlab-future-flag"),),
             0, 0, "ok", "lost", code="CAP001", note="a capability flag the running libvirt does not know"),
    Scenario("i440fx-caps-missing", "i440fx", (), (Edit("drop-caps"),), 0, 0, "ok", "lost", code="RST001",
             note="missing private data: no <qemuCaps>"),
    Scenario("i440fx-starting-up", "i440fx", (), (Edit("set-state", value="paused/starting up"),), 0, 0,
             "ok", "lost", code="RST002", note="recorded as still starting up, vCPUs not running"),
    Scenario("i440fx-known-retired-flag", "i440fx", (), (Edit("add-flag", value="pci-multibus"),), 0, 0,
             "ok", "ok", note="near miss of gap 1: a retired flag every libvirt still knows (RST003 info)"),
    Scenario("i440fx-live-list-drift", "i440fx", (), (Edit("drop-live-alias", value="pci.1"),), 1, 1,
             "ok", "ok", note="near miss of gap 2: the alias is right, only QEMU's live list lacks it"),
    # --- q35: pcie-root (pcie.0) and pcie-root-ports (index 1, 2, 3) -------------------------------------
    Scenario("q35-port-clean", "q35", (), NONE, 1, 2, "ok", "ok", note="control: root ports"),
    Scenario("q35-root-refuses", "q35", (), NONE, 0, 0, "refused", "refused",
             note="control: pcie-root takes no hotplug, before or after"),
    Scenario("q35-root-ua", "q35", ("root-ua",), NONE, 0, 0, "refused", "refused",
             note="control: ua- alias on pcie-root"),
    Scenario("q35-root-alias-missing", "q35", (), (Edit("drop-alias", 0),), 0, 0, "refused", "refused",
             note="pcie-root takes no hotplug: PCI003 info"),
    Scenario("q35-root-alias-wrong", "q35", (), (Edit("set-alias", 0, "pci.0"),), 0, 0, "refused", "refused",
             note="pcie-root takes no hotplug: PCI002 info"),
    Scenario("q35-port-alias-missing", "q35", (), (Edit("drop-alias", 2),), 1, 2, "ok", "fail",
             code="PCI003"),
    Scenario("q35-port-alias-wrong", "q35", (), (Edit("set-alias", 2, "pci.9"),), 1, 2, "ok", "fail",
             code="PCI010"),
    Scenario("q35-caps-unknown-flag", "q35", (), (Edit("add-unknown-flag", value="vlab-future-flag"),),
             1, 2, "ok", "lost", code="CAP001"),
    # --- pSeries: default PHB (index 0) and an extra PHB (index 1, target index 1) -----------------------
    Scenario("pseries-clean", "pseries", (), NONE, 0, 0, "ok", "ok", note="control: default PHB"),
    Scenario("pseries-phb1-clean", "pseries", (), NONE, 1, 1, "ok", "ok", note="control: extra PHB"),
    Scenario("pseries-root-ua", "pseries", ("root-ua",), NONE, 0, 0, "fail", "fail", code="PCI001",
             note="ua- alias on the default PHB: never translated on 9.0"),
    Scenario("pseries-phb1-ua", "pseries", ("phb1-ua",), NONE, 1, 1, "ok", "ok",
             note="control: ua- alias on the extra PHB"),
    Scenario("pseries-phb1-alias-missing", "pseries", (), (Edit("drop-alias", 1),), 1, 1, "ok", "fail",
             code="PCI003"),
    Scenario("pseries-phb1-alias-wrong", "pseries", (), (Edit("set-alias", 1, "pci.5"),), 1, 1, "ok", "fail",
             code="PCI010", note="QEMU's live list names the extra PHB (pci.1); the bus is pci.5.0"),
    # --- aarch64 virt: pcie-root and root ports ----------------------------------------------------------
    Scenario("virt-port-clean", "virt", (), NONE, 1, 2, "ok", "ok", note="control: root ports"),
    Scenario("virt-root-alias-wrong", "virt", (), (Edit("set-alias", 0, "pci.0"),), 0, 0, "refused",
             "refused", note="pcie-root takes no hotplug: PCI002 info"),
)
# fmt: on

BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
assert len(BY_NAME) == len(SCENARIOS), "scenario names must be unique"


@dataclass(frozen=True)
class UpgradeScenario:
    """A guest started under one libvirt, carried through a package change, then hotplugged."""

    name: str
    template: str
    options: tuple[str, ...]
    before_bus: int
    after_bus: int


# The model gaps the recorded package changes show: (recording, scenario) -> gap (none left).
UPGRADE_GAPS: dict[tuple[str, str], int] = {}

# The rule code a recorded package change's hazard must be reported with (at high or above).
UPGRADE_CODES: dict[tuple[str, str], str] = {
    ("11.3.0-to-9.0.0", "up-i440fx"): "CAP001",
    # lost on 'unknown watchdog model 'itco'' (its flags are unknown to 9.0.0 too: CAP001 as well)
    ("11.3.0-to-9.0.0", "up-q35-port"): "RST009",
    ("11.3.0-to-9.0.0", "up-pseries-root-ua"): "CAP001",
    ("11.3.0-to-9.0.0", "up-pseries-phb1"): "CAP001",
}

UPGRADE_SCENARIOS: tuple[UpgradeScenario, ...] = (
    UpgradeScenario("up-i440fx", "i440fx", (), 0, 0),
    UpgradeScenario("up-q35-port", "q35", (), 1, 2),
    UpgradeScenario("up-pseries-root-ua", "pseries", ("root-ua",), 0, 0),
    UpgradeScenario("up-pseries-phb1", "pseries", (), 1, 1),
)
