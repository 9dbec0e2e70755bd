"""The rule catalog, as data: what each rule finds, how severe, why it breaks, the evidence, the fix.

The facts come from ``libvirt-restart-hazards.md`` (sections 1, 4 and 5); commit ids are libvirt commits
with the first release that contains them. ``message`` is the template of the one-sentence finding; its
placeholders are filled per finding by :mod:`virtaudit.ruleset`:

``{device}`` the device (``pci controller 0 (pci-root)``, ``hostdev (pci)``, ...), ``{alias}`` its alias,
``{recorded_bus}`` the bus name recorded or derived from the status XML, ``{expected_bus}`` the bus name
QEMU has or libvirt expects, ``{target}`` the libvirt release judged for, ``{detail}`` the rule-specific
clause that depends on the case (documented in ``severity_logic``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    import polars as pl

# (polars is imported by rules() only: the command line checks --select/--ignore against the catalog
# before polars is loaded, while the first files are already being scanned.)

__all__ = [
    "CAPS_FLAGS_USED",
    "CATALOG",
    "FAMILIES",
    "SEVERITIES",
    "Rule",
    "rules",
    "select_codes",
    "severity_rank",
]

SEVERITIES: Final = ("critical", "high", "medium", "low", "info")
"""Severities, most severe first. critical: guest lost or killed at the restart; high: hotplug or
unplug fails after the restart; medium: may fail, or an ABI/migration risk; low/info: hygiene."""

FAMILIES: Final[Mapping[str, str]] = {
    "PCI": "PCI bus names, controllers and addresses",
    "ALS": "device aliases",
    "RST": "state libvirt rebuilds from status XML at a restart",
}

CAPS_FLAGS_USED: Final = ("pci-multibus",)
"""The QEMU capability flags the rules read (RST003). The caps table is the largest scan table (a couple of
hundred flags per status file): an audit's scan keeps only these rows of it."""

Scope = Literal["status", "any"]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    scope: Scope  # "status": running guests only (status XML); "any": also domain XML definitions
    severities: tuple[str, ...]  # the severities the rule can emit
    severity_logic: str
    message: str  # template, see the module docstring
    why: str  # why it breaks (a paragraph)
    evidence: str  # libvirt commits (first release) and code that are the evidence
    affected: str  # affected target libvirt versions
    remediation: str

    @property
    def family(self) -> str:
        return self.code[:3]


_RULES: Final[tuple[Rule, ...]] = (
    Rule(
        code="PCI001",
        name="root-user-alias",
        scope="status",
        severities=("high", "medium", "info"),
        severity_logic=(
            "high where the bus name the target would use for a hotplug after a restart differs from "
            "QEMU's root bus: pSeries (the user alias is never translated, so bus=ua-... is used), a target "
            "of 3.10.0-rc1 on x86 i440fx (recomputed as 'pci'), targets before 3.10 (the alias is used "
            "verbatim), or a host whose QEMU is known to be older than the PPC multibus minimum; medium on "
            "PPC outside pSeries for targets 3.10.0-7.3.x when the host's QEMU version is not known (an "
            "unknown version is assumed >= 2.0, >= 1.6 for ppce500), and on loongarch64 (multibus handling "
            "unconfirmed); info where libvirt recomputes the right name."
        ),
        message="{device} carries the user alias {alias}: {detail}",
        why=(
            "libvirt does not put a user alias on the QEMU command line for the implicit PCI root: QEMU "
            "names that bus itself (pci.0, pcie.0, or pci on machines without multibus support). After a "
            "daemon restart libvirt rebuilds its state from the status XML, which stores the root's alias "
            "but neither the QEMU version nor the capabilities' arch. From 3.10.0 on, libvirt recomputes the "
            "QEMU name for a ua- root from the guest's arch and machine, assuming an unknown QEMU version is "
            "new enough; pSeries is excluded from the translation, 3.10.0-rc1 recomputed it wrongly for "
            "i440fx, and releases before 3.10 use the user alias verbatim. When the name libvirt computes is "
            "not QEMU's, every PCI hotplug onto the root bus fails."
        ),
        evidence=(
            "937f3195 (3.10.0-rc1: recompute the root name); dacfc6b1, fdf354fb, 65108d94 (3.10.0: use the "
            "stored alias, recompute only user aliases, def->os.arch, unknown QEMU is new enough); "
            "d4374a629f (7.4.0: PPC always multibus); qemuBuildDeviceAddressPCIGetBus; rhbz#1518148"
        ),
        affected=">= 3.9.0 (user aliases exist); the name is right for non-pSeries from 3.10.0 on",
        remediation=(
            "Do not give the implicit pci-root/pcie-root a user alias (remove it from the definition for the "
            "next cold boot); until then avoid PCI hotplug onto the root bus after a restart, or plug into a "
            "root port/bridge, and on PPC record the host's QEMU version in host facts."
        ),
    ),
    Rule(
        code="PCI002",
        name="root-alias-mismatch",
        scope="status",
        severities=("high",),
        severity_logic=(
            "high: the target would use a bus name after a restart that is not QEMU's root bus (the stored "
            "non-user alias differs from the name the model predicts, or the target is 3.10.0-rc1, which "
            "recomputes every i440fx root as 'pci'). Roots whose naming the doc leaves unconfirmed "
            "(loongarch64, mips, ppcemb) are trusted as stored and never reported."
        ),
        message="{device} stores the alias {alias}: {detail}",
        why=(
            "From 1.2.16 on the alias libvirt assigns to the root PCI controller is QEMU's name for the root "
            "bus, and from 3.10.0 libvirt uses the stored alias verbatim as bus= when hotplugging after a "
            "restart. A stored alias that is not QEMU's bus name (written by libvirt <= 1.2.15 on machines "
            "without multibus, or edited) therefore breaks hotplug; 3.10.0-rc1 ignored the stored alias and "
            "computed 'pci' for every i440fx guest, because the rebuilt capabilities have no arch."
        ),
        evidence="75cd7d9b05 (1.2.16); 937f3195 (3.10.0-rc1); dacfc6b10b (3.10.0)",
        affected=">= 1.2.16 readers; every i440fx guest on 3.10.0-rc1",
        remediation=(
            "Never run 3.10.0-rc1; for a wrong stored alias, restart the guest (cold boot) under the current "
            "libvirt so that the alias is reassigned, and avoid hotplug onto the root bus until then."
        ),
    ),
    Rule(
        code="PCI003",
        name="pci-controller-alias-missing",
        scope="status",
        severities=("high",),
        severity_logic="high: a PCI controller of a running guest has no alias in the status XML.",
        message="{device} has no alias in the status XML: {detail}",
        why=(
            "After a restart libvirt names the bus of a PCI hotplug after the alias of the controller "
            "recorded in the status XML; without one it refuses the hotplug with 'Device alias was not set "
            "for PCI controller with index N required for device at address ...'."
        ),
        evidence="qemuBuildDeviceAddressPCIGetBus (all releases)",
        affected="all",
        remediation=(
            "Restart the guest (cold boot) so that libvirt assigns aliases; until then avoid PCI hotplug "
            "onto "
            "that controller's bus."
        ),
    ),
    Rule(
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
        affected="all",
        remediation="Cold-boot the guest after adding the missing controller to its definition.",
    ),
    Rule(
        code="PCI005",
        name="root-missing",
        scope="status",
        severities=("medium",),
        severity_logic=(
            "medium: no index-0 PCI controller although the machine gets an implicit PCI root (confirmed "
            "machines whose root does not depend on a QEMU capability) or devices have PCI addresses."
        ),
        message="The guest has no index-0 PCI controller: {detail}",
        why=(
            "libvirt adds the implicit root when it parses the definition; one missing from the status XML "
            "is added again at load without an alias, and hotplug onto the root bus then fails for lack of "
            "an alias, or the addresses of existing devices cannot be resolved."
        ),
        evidence="qemuDomainDefAddDefaultDevices; qemuBuildDeviceAddressPCIGetBus",
        affected="all",
        remediation=(
            "Cold-boot the guest under the current libvirt so that the root is recorded with its alias."
        ),
    ),
    Rule(
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
        affected="all",
        remediation="Fix the root controller's model in the definition (and cold-boot the guest).",
    ),
    Rule(
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
        affected="pSeries guests with extra host bridges",
        remediation="Give the host bridge an explicit <target index='N'/> in the definition and cold-boot.",
    ),
    Rule(
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
        affected=">= 6.4.0 for detach",
        remediation=(
            "Nothing to do unless the device must be unplugged live; then enable hotplug on the port."
        ),
    ),
    Rule(
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
        affected="all",
        remediation="Cold-boot the guest so that the addresses are recorded.",
    ),
    Rule(
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
        affected=">= 3.9.0",
        remediation="Rename one of the aliases in the definition (management layer) and cold-boot.",
    ),
    Rule(
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
        affected="all",
        remediation="Cold-boot the guest so that aliases are reassigned.",
    ),
    Rule(
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
        affected=">= 3.9.0",
        remediation="Use only letters, digits, '_' and '-' after 'ua-'.",
    ),
    Rule(
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
    ),
    Rule(
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
        affected=">= 1.1.1",
        remediation=(
            "Compare with 'virsh qemu-monitor-command --hmp info qtree' (or qom-list /machine/peripheral) "
            "and "
            "reconcile by detaching stale devices, or cold-boot the guest."
        ),
    ),
    Rule(
        code="ALS006",
        name="dimm-alias-slot",
        scope="status",
        severities=("medium",),
        severity_logic="medium: a memory device aliased dimmN whose DIMM slot is not N.",
        message="{device} has the alias {alias} but sits in DIMM slot {recorded_bus}: {detail}",
        why=(
            "At reconnect libvirt checks that dimmN sits in slot N; if not it marks the guest and uses the "
            "old alias algorithm for memory hotplug, and the alias/slot mismatch is a migration ABI hazard."
        ),
        evidence="93d9ff3da0 (2.5.0), qemuProcessReconnectCheckMemAliasOrderMismatch",
        affected=">= 2.5.0",
        remediation="Cold-boot the guest so that DIMM aliases follow their slots.",
    ),
    Rule(
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
    ),
    Rule(
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
    ),
    Rule(
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
        affected="all; guest killed from 6.0.0",
        remediation=(
            "Do not restart or upgrade libvirtd while this guest runs: shut it down cleanly (or migrate it "
            "with the current daemon) first."
        ),
    ),
    Rule(
        code="RST002",
        name="transient-state",
        scope="status",
        severities=("high",),
        severity_logic="high: status state 'shutoff', or 'paused' with reason 'starting up'.",
        message="The guest's recorded state is {recorded_bus}: {detail}",
        why=(
            "At reconnect libvirt treats a guest that was not fully started as broken ('wasn't fully started "
            "yet, killing it') and stops it."
        ),
        evidence="qemuProcessReconnect",
        affected="all recent releases",
        remediation="Wait until the guest has finished starting (or is gone) before restarting libvirtd.",
    ),
    Rule(
        code="RST003",
        name="legacy-multibus-flag",
        scope="status",
        severities=("info",),
        severity_logic="info: the pci-multibus capability flag is recorded.",
        message="The status XML records the pci-multibus capability: {detail}",
        why=(
            "The flag was dropped in 3.2.0, so the file was written by libvirt <= 3.1.x; expect the other "
            "gaps of old status files (secret objects, USB addresses) and the old alias rules."
        ),
        evidence="5b783379 (3.2.0)",
        affected="files written by <= 3.1.x",
        remediation="Plan a cold boot of the guest under the current libvirt.",
    ),
    Rule(
        code="RST004",
        name="virtio-video-device-unrecorded",
        scope="status",
        severities=("medium",),
        severity_logic=(
            "medium for targets >= 12.5.0: a virtio video device without a recorded device model "
            "(<model type='virtio'> without device=); not reported for older targets."
        ),
        message="{device} ({alias}) has no recorded device model: {detail}",
        why=(
            "Before 12.5.0 libvirt did not record which QEMU device (virtio-vga, virtio-gpu, ...) backs a "
            "virtio video model, so a newer daemon or a migration target may pick a different default when "
            "the host configuration changes: a guest ABI change. How 12.5.0 fills the field for old status "
            "files is unconfirmed."
        ),
        evidence="b6f7c2d3db28 (12.5.0); tests virtio-vga-upgrade[-missing]-in.xml",
        affected=">= 12.5.0 reading status written before 12.5.0",
        remediation=(
            "Cold-boot the guest under >= 12.5.0, or set device= explicitly in the definition, before "
            "migrating it."
        ),
    ),
    Rule(
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
    ),
    Rule(
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
        affected="all",
        remediation="After the guest stops, rebind the device by hand (virsh nodedev-reattach).",
    ),
    Rule(
        code="RST007",
        name="blockjob-active",
        scope="status",
        severities=("low", "info"),
        severity_logic=(
            "low for targets < 6.0.0 (jobs without stored data are cancelled or marked broken at the "
            "restart; full job data is stored from a 5.x release, exact release unconfirmed); info otherwise."
        ),
        message="The status XML records active block jobs: {detail}",
        why=(
            "Block jobs (copy, commit, backup) must be re-attached at reconnect; releases that do not find "
            "the job's data in the status XML cancel mirrors or mark the jobs broken."
        ),
        evidence="e8f263e0d0 (1.2.17); 802fd24506 (3.9.0); d3158852fa (5.x)",
        affected="< 6.0.0 (job data from a 5.x release)",
        remediation=(
            "Let running block jobs finish (or abort them) before restarting or downgrading libvirtd."
        ),
    ),
    Rule(
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
    ),
)

CATALOG: Final[Mapping[str, Rule]] = {rule.code: rule for rule in _RULES}

NOT_COVERED: Final = (
    (
        "R-CAPS-UNKNOWN (H-05)",
        "needs the capability flag table of every target release; the scan tables have the flags, not "
        "the per-release string tables",
    ),
    ("R-EMULATOR-GONE (H-14)", "needs host facts about emulator binaries"),
    ("H-12 iSCSI hostdev nodename", "the scan tables do not extract hostdev private data"),
    ("H-07, H-17", "historic: daemons older than the modelled range (2.5.0, 4.0.0)"),
    ("H-18 network ports", "consequence not settled by the doc"),
)
"""Section 4/5 hazards without a rule, and why."""


def severity_rank(severity: str) -> int:
    """0 for critical ... 4 for info."""
    return SEVERITIES.index(severity)


def select_codes(
    select: Iterable[str] | str | None = None, ignore: Iterable[str] | str | None = None
) -> list[str]:
    """Rule codes chosen by ``select`` and ``ignore`` (codes like ``PCI001`` or families like ``PCI``)."""

    def expand(items: Iterable[str] | str | None) -> set[str]:
        if items is None:
            return set()
        if isinstance(items, str):
            items = [part for part in items.replace(",", " ").split() if part]
        chosen: set[str] = set()
        for item in items:
            token = item.strip().upper()
            if token in CATALOG:
                chosen.add(token)
            elif token in FAMILIES:
                chosen.update(code for code in CATALOG if code.startswith(token))
            elif token == "ALL":
                chosen.update(CATALOG)
            else:
                raise ValueError(f"unknown rule code or family: {item!r}")
        return chosen

    chosen = expand(select) if select is not None else set(CATALOG)
    chosen -= expand(ignore)
    return [code for code in CATALOG if code in chosen]


def rules() -> pl.DataFrame:
    """The catalog as a DataFrame, one row per rule, in code order."""
    import polars as pl

    return pl.DataFrame(
        {
            "code": [r.code for r in _RULES],
            "name": [r.name for r in _RULES],
            "family": [r.family for r in _RULES],
            "scope": [r.scope for r in _RULES],
            "severities": [list(r.severities) for r in _RULES],
            "severity_logic": [r.severity_logic for r in _RULES],
            "message": [r.message for r in _RULES],
            "why": [r.why for r in _RULES],
            "evidence": [r.evidence for r in _RULES],
            "affected": [r.affected for r in _RULES],
            "remediation": [r.remediation for r in _RULES],
        },
        schema={
            "code": pl.String,
            "name": pl.String,
            "family": pl.String,
            "scope": pl.String,
            "severities": pl.List(pl.String),
            "severity_logic": pl.String,
            "message": pl.String,
            "why": pl.String,
            "evidence": pl.String,
            "affected": pl.String,
            "remediation": pl.String,
        },
    )


def markdown() -> str:
    """The catalog for operators, as Markdown (``docs/rules.md`` is generated from this)."""
    lines = [
        "# virtaudit rules",
        "",
        "<!-- Generated by `python -m virtaudit.catalog > docs/rules.md`; edit python/virtaudit/catalog.py. "
        "-->",
        "",
        "Each rule judges the status XML of running guests (`/run/libvirt/qemu/*.xml`) for the libvirt "
        "release",
        "that will read it after a restart or upgrade: `--target` / `target_libvirt`, or a host's own",
        "`libvirt_version` from host facts; the newest known behaviour by default. Rules marked *status* "
        "only",
        "apply to status XML; rules marked *any* also apply to domain XML definitions.",
        "",
        "Severities: **critical**: the guest is lost or killed at the restart; **high**: hotplug or unplug "
        "fails",
        "after the restart; **medium**: may fail, or an ABI/migration risk; **low** and **info**: hygiene "
        "and",
        "context.",
        "",
        "| code | name | scope | severities |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| [{r.code}](#{r.code.lower()}) | {r.name} | {r.scope} | {', '.join(r.severities)} |"
        for r in _RULES
    ]
    for family, title in FAMILIES.items():
        lines += ["", f"## {family}: {title}"]
        for r in (rule for rule in _RULES if rule.family == family):
            lines += [
                "",
                f"### {r.code}",
                "",
                f"**{r.name}** ({r.scope}). {r.severity_logic}",
                "",
                f"- Message: `{r.message}`",
                f"- Why it breaks: {r.why}",
                f"- Evidence: {r.evidence}",
                f"- Affected: {r.affected}",
                f"- What to do: {r.remediation}",
            ]
    lines += ["", "## Hazards without a rule", ""]
    lines += [f"- {what}: {why}." for what, why in NOT_COVERED]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())
