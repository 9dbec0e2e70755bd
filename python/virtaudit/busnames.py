"""A version-aware model of the QEMU names libvirt gives PCI buses, and what it uses after a restart.

Source of the facts: ``libvirt-restart-hazards.md`` sections 1.2 to 1.5 (libvirt commits named per row).
The behaviour lives in four small tables of data, each row valid for a window of libvirt releases
(``since`` inclusive, ``until`` exclusive; the first matching row wins):

* :data:`ROOT_MODELS`: which machines get an implicit PCI root, and of which model
  (``qemuDomainDefAddDefaultDevices``).
* :data:`MULTIBUS`: whether QEMU names the root bus ``pci.0``/``pcie.0`` ("multibus") or ``pci``, as
  libvirt decided it (``virQEMUCapsHasPCIMultiBus``), possibly depending on the QEMU version.
* :data:`UNKNOWN_QEMU`: what an unknown QEMU version (capabilities rebuilt from status XML, which never
  stores the version) counted as: 0 before 3.10.0-rc2, "new enough" from then on (``65108d94``).
* :data:`RESTART`: which bus name libvirt uses for a hotplug after rebuilding its state from status XML:
  the stored alias (up to 3.9), a recomputed name for every implicit root (3.10.0-rc1 only, ``937f3195``),
  or a recomputed name only for ``ua-`` user aliases (from 3.10.0-rc2, ``dacfc6b1``).

Section 6 of the doc (checked release by release up to 11.3.0) corrects the older sections; the rows say
which release each fact was read at. Two of its facts change no bus name and are not in the tables:
``virQEMUCapsHasPCIMultiBus`` became ``qemuDomainSupportsPCIMultibus`` between 9.10.0 and 10.4.0 (same
answers, plus "any PPC arch" and loongarch64 virt, which are in :data:`MULTIBUS`), and from 9.8.0 a
reconnect fills the capabilities' arch again (``qemuProcessReloadMachineTypes``): the empty arch mattered
only to 3.10.0-rc1, the one release that recomputed the root name from it; every release from 3.10.0 on
asks ``def->os.arch``.

Releases before 1.2.16 are not modelled: from 1.2.16 on (``75cd7d9b05``) the alias libvirt assigns to a
PCI controller is the QEMU bus name, which is what makes the stored alias meaningful.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Final, Literal

import polars as pl

from virtaudit.targets import HostFacts, document_targets
from virtaudit.versions import (
    NEWEST_KEY,
    LibvirtVersion,
    QemuVersion,
    libvirt_key,
    qemu_number,
)

if TYPE_CHECKING:
    from virtaudit.scanning import Scan

__all__ = [
    "MULTIBUS",
    "RESTART",
    "ROOT_MODELS",
    "MultibusRow",
    "RestartRow",
    "RootFacts",
    "RootRow",
    "bus_after_restart",
    "bus_in_qemu",
    "buses",
    "default_root_model",
    "is_pseries",
    "machine_matches",
    "multibus",
    "root_bus",
    "root_facts",
]

# ---------------------------------------------------------------------------------------------------
# Architectures and machine predicates (7.10 qemu_domain.c, §1.4 of the doc)

X86: Final = frozenset({"i686", "x86_64"})
PPC32: Final = frozenset({"ppc"})
PPC64: Final = frozenset({"ppc64", "ppc64le"})
PPC: Final = PPC32 | PPC64  # VIR_ARCH_PPC || ARCH_IS_PPC64: the arches with the PPC multibus branch
ARM_VIRT_ARCHES: Final = frozenset({"armv6l", "armv7l", "aarch64"})  # qemuDomainMachineIsARMVirt (7.10)
ARM_ALL: Final = frozenset({"armv6l", "armv7l", "armv7b", "aarch64"})  # ARCH_IS_ARM
ARM_V7_64: Final = frozenset({"armv7l", "aarch64"})
S390: Final = frozenset({"s390", "s390x"})
RISCV: Final = frozenset({"riscv32", "riscv64"})
MIPS: Final = frozenset({"mips", "mipsel", "mips64", "mips64el"})
LOONGARCH: Final = frozenset({"loongarch64"})

ANY: Final[tuple[str, ...]] = ()
I440FX: Final = ("pc", "pc-0.*", "pc-1.*", "pc-i440fx-*", "rhel*")
I440FX_BEFORE_5_1: Final = ("pc", "pc-0.*", "pc-1.*", "pc-i440*", "rhel*")  # until 5.0.x: prefix pc-i440
Q35: Final = ("q35", "pc-q35-*")
VIRT: Final = ("virt", "virt-*")
PSERIES: Final = ("pseries", "pseries-*")
S390_CCW: Final = ("s390-ccw*",)

PCI_ROOT: Final = "pci-root"
PCIE_ROOT: Final = "pcie-root"
ROOT_MODEL_NAMES: Final = (PCI_ROOT, PCIE_ROOT)

# QEMU's default machine where a document names none (the two corpus files without <os><type> ran on
# an x86_64 test host, whose default machine is the i440fx "pc").
DEFAULT_MACHINES: Final[Mapping[str, str]] = {"i686": "pc", "x86_64": "pc"}

# Releases where an unconfirmed fact first appears: the doc read these only in sources newer than 7.10
# without finding the release; 8.0.0 (the first release after the 7.10 tree) is the assumption.
AFTER_7_10: Final = "8.0.0"


def machine_matches(machine: str | None, patterns: Iterable[str]) -> bool:
    """``True`` if ``machine`` matches one of ``patterns`` (``name`` exactly or ``prefix*``); ``()``
    matches any machine, including an unknown one. Matching is case-sensitive like libvirt's."""
    patterns = tuple(patterns)
    if not patterns:
        return True
    if machine is None:
        return False
    return any(machine.startswith(p[:-1]) if p.endswith("*") else machine == p for p in patterns)


def is_pseries(arch: str | None, machine: str | None) -> bool:
    """``qemuDomainMachineIsPSeries``: ppc64/ppc64le and ``pseries``/``pseries-*``."""
    return arch in PPC64 and machine_matches(machine, PSERIES)


def _window(since: str, until: str | None) -> tuple[int, int]:
    return libvirt_key(since), (NEWEST_KEY + 1 if until is None else libvirt_key(until))


# ---------------------------------------------------------------------------------------------------
# Table 1: the implicit root controller per machine


@dataclass(frozen=True, slots=True)
class RootRow:
    """Machines (``arches`` x ``machines``) that get an implicit PCI root of ``model`` (None: no PCI
    root) in libvirt releases ``[since, until)``. ``needs`` names the QEMU capability the root depends
    on (the status XML cannot prove it absent); ``confirmed`` is False where the doc marks the fact
    INFERENCE or UNCONFIRMED."""

    arches: frozenset[str]
    machines: tuple[str, ...]
    model: str | None
    since: str = "1.2.16"
    until: str | None = None
    needs: str | None = None
    confirmed: bool = True
    evidence: str = ""

    def applies(self, arch: str, machine: str | None, key: int) -> bool:
        low, high = _window(self.since, self.until)
        return arch in self.arches and machine_matches(machine, self.machines) and low <= key < high


ROOT_MODELS: Final[tuple[RootRow, ...]] = (
    RootRow(X86, Q35, PCIE_ROOT, "1.1.2", evidence="48a3f48ac5 (pcie-root introduced)"),
    RootRow(
        X86, I440FX_BEFORE_5_1, PCI_ROOT, "0.8.8", "5.1.0", evidence="machine prefix pc-i440 until 5.0.x"
    ),
    RootRow(X86, I440FX, PCI_ROOT, "5.1.0", evidence="qemuDomainDefAddDefaultDevices"),
    RootRow(X86, ANY, None, "0.8.8", evidence="isapc and other x86 machines have no PCI root"),
    RootRow(PPC64, PSERIES, PCI_ROOT, "1.2.4", evidence="implicit PHB, targetIndex 0"),
    # Every ppc64/ppc64le machine, and every 32-bit ppc machine (ref405ep, taihu, virtex-ml507 included):
    # qemuDomainDefAddDefaultDevices sets the root for the whole arch @3.0.0 to @11.3.0 (doc 6.1). Before
    # 3.0.0 the doc's older reading ("no pci" boards) stands.
    RootRow(PPC, ANY, PCI_ROOT, "3.0.0", evidence="whole arch @3.0.0-@11.3.0 (doc 6.1)"),
    RootRow(PPC32, ("ref405ep", "taihu", "virtex-ml507"), None, "1.2.4", "3.0.0", evidence='"no pci"'),
    RootRow(PPC32, ANY, PCI_ROOT, "1.2.4", "3.0.0", evidence="ppce500, bamboo, prep, mpc8544ds, mac99"),
    RootRow(frozenset({"ppcemb"}), ANY, PCI_ROOT, "1.2.4", confirmed=False, evidence="INFERENCE from code"),
    # ARM and RISC-V virt: the root depended on QEMU's gpex device; by 10.4.0 it is added without a check
    # (doc 6.1; 10.0-10.3 not read: the gpex rows end there as an assumption). armv6l virt: no root before
    # 10.x.
    RootRow(ARM_V7_64, VIRT, PCIE_ROOT, "1.2.19", "10.4.0", needs="gpex", evidence="e8d5517254"),
    RootRow(ARM_VIRT_ARCHES, VIRT, PCIE_ROOT, "10.4.0", evidence="no gpex check @10.4.0 (doc 6.1)"),
    RootRow(frozenset({"armv6l"}), ("versatilepb",), PCI_ROOT, "5.0.0", evidence="from 5.0.0 (doc 6.1)"),
    RootRow(
        frozenset({"armv7l", "armv7b", "aarch64"}), ("versatilepb",), PCI_ROOT, "10.4.0", evidence="doc 6.1"
    ),
    RootRow(S390, S390_CCW, PCI_ROOT, "4.10.0", needs="zpci", evidence="d466739138"),
    RootRow(RISCV, VIRT, PCIE_ROOT, "5.1.0", "10.4.0", needs="gpex", evidence="e266a41f1e"),
    RootRow(RISCV, VIRT, PCIE_ROOT, "10.4.0", evidence="no gpex check @10.4.0 (doc 6.1)"),
    RootRow(frozenset({"sparc64"}), ANY, PCI_ROOT, evidence="7.10 code"),
    RootRow(frozenset({"sparc"}), ANY, PCI_ROOT, "3.0.0", "6.10.0", evidence="@3.0.0-@6.9.0 (doc 6.1)"),
    RootRow(frozenset({"alpha", "sh4", "sh4eb"}), ANY, PCI_ROOT, evidence="7.10 code"),
    RootRow(MIPS, ("malta",), PCI_ROOT, "8.1.0", evidence="absent @8.0.0, present @8.1.0 (doc 6.1)"),
    RootRow(LOONGARCH, VIRT, PCIE_ROOT, "10.2.0", evidence="arch from 10.2.0 (doc 6.1)"),
)


def _root_row(arch: str | None, machine: str | None, key: int) -> RootRow | None:
    if arch is None:
        return None
    machine = machine if machine is not None else DEFAULT_MACHINES.get(arch)
    return next((row for row in ROOT_MODELS if row.applies(arch, machine, key)), None)


def default_root_model(
    arch: str | None, machine: str | None, *, libvirt: str | LibvirtVersion | None = None
) -> str | None:
    """Model of the implicit PCI root the release adds for this machine (None: no PCI root)."""
    row = _root_row(arch, machine, libvirt_key(libvirt))
    return None if row is None else row.model


# ---------------------------------------------------------------------------------------------------
# Table 2: virQEMUCapsHasPCIMultiBus per release


@dataclass(frozen=True, slots=True)
class MultibusRow:
    """For ``arches`` x ``machines`` in libvirt ``[since, until)``: multibus is ``multibus``, or, when
    ``qemu_min`` is set, whether the QEMU version is at least ``qemu_min``. ``unknown`` overrides what an
    unknown QEMU version gives (default: :data:`UNKNOWN_QEMU`)."""

    arches: frozenset[str]
    machines: tuple[str, ...]
    since: str
    until: str | None
    multibus: bool = True
    qemu_min: str | None = None
    unknown: bool | None = None
    confirmed: bool = True
    evidence: str = ""

    def applies(self, arch: str, machine: str | None, key: int) -> bool:
        low, high = _window(self.since, self.until)
        return arch in self.arches and machine_matches(machine, self.machines) and low <= key < high


MULTIBUS: Final[tuple[MultibusRow, ...]] = (
    # x86: the pci-multibus flag (<= 3.1), qemuCaps->arch (3.2-3.9), def->os.arch (>= 3.10).
    # 3.10.0-rc1 alone recomputed the root name after a restart with qemuCaps->arch unset -> "pci".
    MultibusRow(X86, I440FX_BEFORE_5_1, "3.10.0-rc1", "3.10.0-rc2", unknown=False, evidence="937f3195"),
    MultibusRow(X86, ANY, "0.8.8", None, evidence="0b864eb103, 5b78337992, fdf354fb51"),
    # PPC: QEMU-version dependent until 7.4.0, then always (minimum QEMU 2.11); from 10.4.0 the check is
    # "any PPC arch" (qemuDomainSupportsPCIMultibus), which takes in ppcle and ppcemb (doc 6.1).
    MultibusRow(PPC | frozenset({"ppcle", "ppcemb"}), ANY, "10.4.0", None, evidence="doc 6.1 (@10.4.0)"),
    MultibusRow(PPC, ANY, "7.4.0", None, evidence="d4374a629f"),
    MultibusRow(PPC, ("bamboo", "mpc8544ds", "prep"), "4.8.0", "7.4.0", evidence="36504033ae"),
    MultibusRow(PPC, ("ppce500",), "1.2.4", "7.4.0", qemu_min="1.6.0", evidence="27b2b987bf"),
    MultibusRow(PPC, ("prep",), "1.2.4", "4.8.0", qemu_min="1.4.0", evidence="27b2b987bf"),
    MultibusRow(PPC, ("bamboo",), "1.2.4", "4.8.0", qemu_min="1.1.0", evidence="27b2b987bf"),
    MultibusRow(PPC, ("mpc8544ds",), "1.2.4", "4.8.0", evidence="27b2b987bf"),
    MultibusRow(PPC, ANY, "1.2.4", "7.4.0", qemu_min="2.0.0", evidence="27b2b987bf, 36504033ae"),
    # ARM virt ("virt" from 1.2.19, "virt-*" from 1.3.4): every ARM arch in 1.2.19-2.0.x, armv7l and
    # aarch64 in 2.1.0-4.10.x, armv6l again from 5.0.0 (doc 6.1).
    MultibusRow(ARM_ALL, ("virt",), "1.2.19", "1.3.4", evidence="e8d5517254"),
    MultibusRow(ARM_ALL, VIRT, "1.3.4", "2.1.0", evidence="f06ca25d23"),
    MultibusRow(ARM_V7_64, VIRT, "2.1.0", "5.0.0", evidence="210acdb1a5 (doc 6.1)"),
    MultibusRow(ARM_VIRT_ARCHES, VIRT, "5.0.0", None, evidence="doc 6.1"),
    MultibusRow(S390, ANY, "4.10.0", None, evidence="f49a5e3bf4"),
    MultibusRow(RISCV, VIRT, "5.1.0", None, evidence="e266a41f1e"),
    # loongarch64 exists from 10.2.0; qemuDomainSupportsPCIMultibus is true for its virt machines
    # (@10.4.0, @11.3.0), so a ua- alias on its root is translated to pcie.0.
    MultibusRow(LOONGARCH, VIRT, "10.2.0", None, evidence="doc 6.1 (@10.4.0, @11.3.0)"),
    # Where the doc only infers "not multibus" the prediction is marked unconfirmed: trust the alias.
    MultibusRow(MIPS, ANY, "0.8.8", None, multibus=False, confirmed=False, evidence="INFERENCE"),
    MultibusRow(frozenset({"ppcemb", "ppcle"}), ANY, "0.8.8", "10.4.0", False, evidence="doc 6.1"),
)

UNKNOWN_QEMU: Final = (("0.8.8", "3.10.0-rc2", False), ("3.10.0-rc2", None, True))
"""An unknown QEMU version counted as version 0 (False: older than any minimum) before 65108d94
(3.10.0-rc2), and as new enough (True) from then on."""


def _unknown_is_new(key: int) -> bool:
    for since, until, value in UNKNOWN_QEMU:
        low, high = _window(since, until)
        if low <= key < high:
            return value
    return False


def _multibus_row(arch: str | None, machine: str | None, key: int) -> MultibusRow | None:
    if arch is None:
        return None
    machine = machine if machine is not None else DEFAULT_MACHINES.get(arch)
    return next((row for row in MULTIBUS if row.applies(arch, machine, key)), None)


def _check_release(key: int) -> None:
    if key < libvirt_key("1.2.16"):
        raise ValueError("libvirt releases before 1.2.16 are not modelled (aliases were not bus names)")


def _multibus(row: MultibusRow | None, key: int, qemu: int | None) -> bool:
    if row is None:
        return False
    if qemu is None and row.unknown is not None:
        return row.unknown
    if row.qemu_min is None:
        return row.multibus
    if qemu is None:
        return _unknown_is_new(key)
    return qemu >= QemuVersion.parse(row.qemu_min).number


def multibus(
    arch: str | None,
    machine: str | None,
    *,
    libvirt: str | LibvirtVersion | None = None,
    qemu: str | QemuVersion | None = None,
) -> bool:
    """``virQEMUCapsHasPCIMultiBus`` of the release, for a known or unknown (None) QEMU version."""
    key = libvirt_key(libvirt)
    _check_release(key)
    return _multibus(_multibus_row(arch, machine, key), key, qemu_number(qemu))


def _name(model: str, is_multibus: bool) -> str:
    # 1.2.16 qemuAssignDeviceControllerAlias: without multibus every PCI controller is "pci".
    if not is_multibus:
        return "pci"
    return "pcie.0" if model == PCIE_ROOT else "pci.0"


def root_bus(
    arch: str | None,
    machine: str | None,
    root_model: str | None = None,
    *,
    libvirt: str | LibvirtVersion | None = None,
    qemu: str | QemuVersion | None = None,
) -> str | None:
    """QEMU name of the root PCI bus that the libvirt release assigns (the index-0 controller's alias
    and the ``bus=`` of devices on bus 0): ``pci``, ``pci.0``, ``pcie.0``, or None where the machine has
    no PCI root. ``root_model`` is the explicit index-0 controller model, if any (None: the machine's
    default). ``qemu=None`` is an unknown QEMU version, as when the release rebuilt its state from status
    XML. ``libvirt=None`` is the newest behaviour.
    """
    key = libvirt_key(libvirt)
    _check_release(key)
    model = root_model if root_model is not None else default_root_model(arch, machine, libvirt=libvirt)
    if model not in ROOT_MODEL_NAMES:
        return None
    return _name(model, _multibus(_multibus_row(arch, machine, key), key, qemu_number(qemu)))


# ---------------------------------------------------------------------------------------------------
# Table 3 and 4: what a hotplug uses after a restart; what QEMU has


Recompute = Literal["none", "every-root", "user-alias"]


@dataclass(frozen=True, slots=True)
class RestartRow:
    """In libvirt ``[since, until)``, after a restart the bus name of an implicit root is recomputed
    for ``recompute`` (``none``: the stored alias is used as is)."""

    since: str
    until: str | None
    recompute: Recompute
    evidence: str


RESTART: Final[tuple[RestartRow, ...]] = (
    RestartRow("1.2.16", "3.10.0-rc1", "none", "75cd7d9b05: bus=<controller alias>"),
    RestartRow("3.10.0-rc1", "3.10.0-rc2", "every-root", "937f3195"),
    RestartRow("3.10.0-rc2", None, "user-alias", "dacfc6b1, fdf354fb, 65108d94"),
)

PSERIES_UA: Final = (
    ("1.2.16", "10.0.0", False, "pSeries excluded from the translation (3.10.0 on; @9.10.0; seen on 9.0.0)"),
    ("10.0.0", "10.4.0", None, "10.0-10.3 not read: unknown"),
    ("10.4.0", None, True, "qemuBuildDeviceAddressPCIGetBus: 'target index <= 0' (@10.4.0, @11.3.0)"),
)
"""Whether a release translates a ``ua-`` alias on the pSeries default host bridge (index 0) into QEMU's
name after a restart: not up to 9.10.x, yes from 10.4.0 (doc 6.1; seen on the 9.0.0 -> 11.3.0 upgrade),
unknown (None) in between."""


def pseries_translates(key: int) -> bool | None:
    """:data:`PSERIES_UA` at the release ``key``."""
    for since, until, translated, _evidence in PSERIES_UA:
        low, high = _window(since, until)
        if low <= key < high:
            return translated
    return False


# libvirt's minimum QEMU version: the newest release that still managed a given QEMU knew its naming.
_MIN_QEMU: Final = (("7.4.0", "2.11.0"), ("4.3.0", "1.5.0"))


def _recompute_mode(key: int) -> Recompute:
    for row in RESTART:
        low, high = _window(row.since, row.until)
        if low <= key < high:
            return row.recompute
    return "none"


def _newest_release_for(qemu: int | None) -> int:
    """Key of the newest release that still supported this QEMU (its naming knowledge is the best)."""
    if qemu is None:
        return NEWEST_KEY
    newest = NEWEST_KEY
    for since, minimum in _MIN_QEMU:
        if qemu >= QemuVersion.parse(minimum).number:
            return newest
        newest = libvirt_key(since) - 1
    return newest


@dataclass(frozen=True, slots=True)
class RootFacts:
    """Everything the rules need about an implicit root on one (arch, machine, model, release, QEMU)."""

    model: str | None  # effective root model (explicit, else the machine's default)
    default_model: str | None  # the machine's default root model at the release
    default_confirmed: bool
    default_needs: str | None
    qemu_name: str | None  # the name QEMU has for the root bus (best knowledge, given the QEMU)
    recomputed: str | None  # the name the release recomputes for the root (None: uses the alias)
    recompute: Recompute
    pseries: bool
    confirmed: bool  # the naming prediction rests on confirmed facts
    qemu_dependent: bool  # the release's answer depends on a QEMU version it does not know


# A pure function of a handful of combinations per fleet: an audit in batches asks for the same ones
# every batch, and each answer walks the tables and parses their version strings.
@lru_cache(maxsize=4096)
def _facts_for_key(
    arch: str | None, machine: str | None, model: str | None, key: int, qemu: int | None
) -> RootFacts:
    root_row = _root_row(arch, machine, key)
    default_model = None if root_row is None else root_row.model
    eff_model = model if model is not None else default_model
    pseries = is_pseries(arch, machine)
    mb_row = _multibus_row(arch, machine, key)
    mode = _recompute_mode(key)

    recomputed: str | None = None
    translates = pseries_translates(key) if pseries else True
    if eff_model == PCIE_ROOT:
        recomputed = "pcie.0"  # translated without a multibus check
    elif eff_model == PCI_ROOT and translates:
        recomputed = _name(PCI_ROOT, _multibus(mb_row, key, None))  # caps rebuilt: version unknown

    truth_key = _newest_release_for(qemu)
    truth_row = _multibus_row(arch, machine, truth_key)
    qemu_name = (
        _name(eff_model, _multibus(truth_row, truth_key, qemu))
        if eff_model in ROOT_MODEL_NAMES and arch is not None
        else None
    )
    confirmed = (
        arch is not None
        and translates is not None
        and (mb_row is None or mb_row.confirmed)
        and (truth_row is None or truth_row.confirmed)
        and (model is not None or root_row is None or root_row.confirmed)
    )
    qemu_dependent = mb_row is not None and mb_row.qemu_min is not None and qemu is None
    return RootFacts(
        model=eff_model,
        default_model=default_model,
        default_confirmed=root_row is not None and root_row.confirmed,
        default_needs=None if root_row is None else root_row.needs,
        qemu_name=qemu_name,
        recomputed=recomputed,
        recompute=mode,
        pseries=pseries,
        confirmed=confirmed,
        qemu_dependent=qemu_dependent,
    )


def root_facts(
    arch: str | None,
    machine: str | None,
    model: str | None = None,
    *,
    libvirt: str | LibvirtVersion | None = None,
    qemu: str | QemuVersion | None = None,
) -> RootFacts:
    """The root-bus facts for one machine at a target release, with the host's QEMU if known."""
    key = libvirt_key(libvirt)
    _check_release(key)
    return _facts_for_key(arch, machine, model, key, qemu_number(qemu))


def _is_user_alias(alias: str | None) -> bool:
    return alias is not None and alias.startswith("ua-")


def _is_phb(facts: RootFacts, model: str | None, index: int | None) -> bool:
    return facts.pseries and model == PCI_ROOT and index is not None and index > 0


def bus_after_restart(
    arch: str | None,
    machine: str | None,
    model: str | None,
    index: int | None,
    alias: str | None,
    target_index: int | None = None,
    *,
    libvirt: str | LibvirtVersion | None = None,
) -> str | None:
    """Bus name the release would put in ``bus=`` for a hotplug onto this PCI controller after a
    restart, or None where it would fail ("Device alias was not set for PCI controller")."""
    key = libvirt_key(libvirt)
    _check_release(key)
    facts = _facts_for_key(arch, machine, model, key, None)
    eff_model = model if model is not None else (facts.model if index == 0 else None)
    is_root = index == 0 and eff_model in ROOT_MODEL_NAMES
    name = alias
    recomputes = facts.recompute == "every-root" or (
        facts.recompute == "user-alias" and _is_user_alias(alias)
    )
    if is_root and facts.recomputed is not None and recomputes:
        name = facts.recomputed
    if name is None:
        return None
    if _is_phb(facts, eff_model, index) and target_index is not None and target_index > 0:
        return f"{name}.0"
    return name


def bus_in_qemu(
    arch: str | None,
    machine: str | None,
    model: str | None,
    index: int | None,
    alias: str | None,
    *,
    qemu: str | QemuVersion | None = None,
) -> str | None:
    """Name QEMU has for the bus behind this PCI controller: the root's name from the model (the stored
    alias where the model is unconfirmed), ``ALIAS.0`` for a pSeries host bridge, else the alias (the
    ``-device`` id)."""
    facts = _facts_for_key(arch, machine, model, NEWEST_KEY, qemu_number(qemu))
    eff_model = model if model is not None else (facts.model if index == 0 else None)
    if index == 0 and eff_model in ROOT_MODEL_NAMES:
        if facts.qemu_name is not None and (facts.confirmed or _is_user_alias(alias) or alias is None):
            return facts.qemu_name
        return alias if not _is_user_alias(alias) else None
    if alias is None:
        return None
    return f"{alias}.0" if _is_phb(facts, eff_model, index) else alias


# ---------------------------------------------------------------------------------------------------
# Vectorised: the table of PCI buses per guest

_COMBO_KEYS: Final = ("arch", "machine", "model", "target_key", "qemu_key")

_FACT_SCHEMA: Final = {
    "root_model": pl.String,
    "default_root_model": pl.String,
    "default_root_confirmed": pl.Boolean,
    "default_root_needs": pl.String,
    "qemu_root_bus": pl.String,
    "recomputed_root_bus": pl.String,
    "recompute": pl.String,
    "pseries": pl.Boolean,
    "confirmed": pl.Boolean,
    "qemu_dependent": pl.Boolean,
}


def facts_frame(combos: pl.DataFrame) -> pl.DataFrame:
    """Map the tables over the unique (arch, machine, model, target_key, qemu_key) combinations of
    ``combos`` (a handful per fleet) and return them with the :class:`RootFacts` columns."""
    unique = combos.select(_COMBO_KEYS).unique()
    rows = [_fact_row(*combo) for combo in unique.iter_rows()]
    facts_df = pl.DataFrame(rows, schema=_FACT_SCHEMA, orient="row")
    return pl.concat([unique, facts_df], how="horizontal")


_OLDEST_MODELLED_KEY: Final = libvirt_key("1.2.16")


@lru_cache(maxsize=4096)
def _fact_row(
    arch: str | None, machine: str | None, model: str | None, target_key: int | None, qemu_key: int | None
) -> tuple[object, ...]:
    """One combination's :data:`_FACT_SCHEMA` row (every batch meets the same few combinations again)."""
    if target_key is not None and target_key < _OLDEST_MODELLED_KEY:
        _check_release(target_key)
    facts = _facts_for_key(arch, machine, model, NEWEST_KEY if target_key is None else target_key, qemu_key)
    return (
        facts.model,
        facts.default_model,
        facts.default_confirmed,
        facts.default_needs,
        facts.qemu_name,
        facts.recomputed,
        facts.recompute,
        facts.pseries,
        facts.confirmed,
        facts.qemu_dependent,
    )


def _devices_with_context(scan: Scan, targets: pl.DataFrame | None, target_key: int) -> pl.DataFrame:
    domains = scan.domains.select("path", "host", "kind", "name", "uuid", "arch", "machine")
    if targets is None:
        domains = domains.with_columns(
            pl.lit(target_key, pl.Int64).alias("target_key"), pl.lit(None, pl.Int64).alias("qemu_key")
        )
    else:
        domains = domains.join(targets, on=["path", "host"], how="left")
    return scan.devices.join(domains, on=["path", "host"], how="inner")


def pci_controllers(devices: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """PCI controllers of ``devices`` (joined with document context: kind, name, arch, machine,
    target_key, qemu_key) with the bus names QEMU has and libvirt would use after a restart, plus the
    root facts. ``devices`` is a scan's devices table joined with per-document context (or a query of
    one: it is filtered before anything is copied)."""
    ctrl = devices.lazy().filter((pl.col("element") == "controller") & (pl.col("type") == "pci"))
    ctrl_df = ctrl.collect(engine="in-memory")
    keys = ctrl_df.select(_COMBO_KEYS)
    # The root facts are keyed on the model as written; only index-0 controllers need them, but the
    # pSeries flag matters for host bridges, so every controller gets its combination's facts. (Joined
    # on the keys alone and put beside: a join of the whole table would copy every column.)
    facts = keys.join(
        facts_frame(keys), on=list(_COMBO_KEYS), how="left", nulls_equal=True, maintain_order="left"
    )
    ctrl_df = ctrl_df.hstack(facts.drop(_COMBO_KEYS).get_columns())
    out = ctrl_df.lazy()
    for stage in _controller_columns():
        out = out.with_columns(stage)
    return out.collect(engine="in-memory")


@lru_cache(maxsize=1)
def _controller_columns() -> tuple[tuple[pl.Expr, ...], ...]:
    """The bus-name columns of :func:`pci_controllers`, in stages that read the columns the stages before
    added (cheaper than one stage repeating their expressions). Built once: they depend on no data."""
    alias, index = pl.col("alias"), pl.col("index")
    eff_model = pl.when(index == 0).then(pl.col("root_model")).otherwise(pl.col("model"))
    effective = pl.col("effective_model")
    is_root = (index == 0) & effective.is_in(ROOT_MODEL_NAMES).fill_null(False)
    user = alias.str.starts_with("ua-").fill_null(False)
    phb = (pl.col("pseries") & (effective == PCI_ROOT) & (index > 0)).fill_null(False)
    root, user_alias, host_bridge = pl.col("is_root"), pl.col("user_alias_flag"), pl.col("phb")
    recompute = pl.col("recompute")
    recomputes = (
        root
        & pl.col("recomputed_root_bus").is_not_null()
        & ((recompute == "every-root") | ((recompute == "user-alias") & user_alias))
    )
    named = pl.when(recomputes).then(pl.col("recomputed_root_bus")).otherwise(alias)
    restart_bus = (
        pl.when(host_bridge & (pl.col("target_index") > 0).fill_null(False))
        .then(pl.concat_str(named, pl.lit(".0")))
        .otherwise(named)
    )
    trust_model = pl.col("confirmed") | user_alias | alias.is_null()
    qemu_bus = (
        pl.when(root)
        .then(
            pl.when(pl.col("qemu_root_bus").is_not_null() & trust_model)
            .then(pl.col("qemu_root_bus"))
            .when(~user_alias)
            .then(alias)
        )
        .when(host_bridge)
        .then(pl.concat_str(alias, pl.lit(".0")))
        .otherwise(alias)
    )
    return (
        (eff_model.alias("effective_model"),),
        (is_root.alias("is_root"), user.alias("user_alias_flag")),
        (phb.alias("phb"),),
        (qemu_bus.alias("qemu_bus"), restart_bus.alias("restart_bus")),
        ((pl.col("qemu_bus") == pl.col("restart_bus")).fill_null(False).alias("agrees"),),
    )


BUSES_COLUMNS: Final = (
    "host",
    "path",
    "guest",
    "index",
    "model",
    "alias",
    "qemu_bus",
    "restart_bus",
    "agrees",
)


def buses(
    scan: Scan,
    *,
    target_libvirt: str | LibvirtVersion | None = None,
    host_facts: HostFacts = None,
) -> pl.DataFrame:
    """One row per PCI controller of every running guest (status XML): the bus name QEMU has
    (``qemu_bus``), the one libvirt ``target_libvirt`` would use for a hotplug after a restart
    (``restart_bus``; null where it would fail for lack of an alias), and whether they agree.

    ``host_facts`` (see :func:`virtaudit.auditing.audit`) gives per-host libvirt and QEMU versions.
    """
    targets = document_targets(scan, target_libvirt=target_libvirt, host_facts=host_facts)
    devices = _devices_with_context(scan, targets, libvirt_key(target_libvirt))
    ctrl = pci_controllers(devices.filter(pl.col("kind") == "status"))
    return ctrl.select(
        "host",
        "path",
        pl.col("name").alias("guest"),
        "index",
        pl.col("effective_model").fill_null(pl.col("model")).alias("model"),
        "alias",
        "qemu_bus",
        "restart_bus",
        "agrees",
    ).sort("host", "path", "index", maintain_order=True)
