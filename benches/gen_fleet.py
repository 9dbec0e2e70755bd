"""Deterministic generator of a synthetic fleet of libvirt status XML files, for benchmarks.

    python benches/gen_fleet.py OUTDIR --files N [--hosts H] [--seed S] [--hazard-rate R]

writes OUTDIR/host-NNN/guest-NNNNN.xml (the domain <name> is the file stem) and OUTDIR/planted.csv
(host,guest,code,severity: every hazard planted on purpose, about 1% of the files by default).

The files have the shape of the status files libvirtd keeps in /run/libvirt/qemu: <domstatus> with the QEMU
private part (monitor, vCPU threads, a few hundred <qemuCaps> flags, QEMU's live device list, paths) and the
full live <domain>: CPU model with many <feature> elements, 20 to 60 devices with aliases and addresses on
PCI trees (roots, pcie-root-ports, pci-bridges, pcie-to-pci-bridges, an extra pSeries PHB, zPCI), CCW
addresses on s390, and for part of them <metadata> in foreign namespaces. Sizes are 8 to 60 KB, about 22 KB
on average. Platforms: x86_64 q35 and i440fx, ppc64le pseries, aarch64 virt, s390x; host styles: plain
libvirt (generated aliases), oVirt-like (ua-<uuid> on managed devices) and KubeVirt-like (ua-<name>).

Planted hazard codes (same as examples/fleet): PCI001 PCI002 PCI003 PCI004 PCI006 ALS001 ALS002 ALS005
ALS006 RST001 RST002 RST004. Every other file is meant to be free of findings at severity low or higher.

Output depends only on (files, hosts, seed, hazard_rate): file i is generated from its own random stream, so
any file can be regenerated alone. Written with plain string building; 20,000 files take seconds.
Importable: ``generate(outdir, files, hosts, seed) -> dict``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path

__all__ = ["CODES", "generate", "main"]

CODES = (
    "PCI001", "PCI002", "PCI003", "PCI004", "PCI006",
    "ALS001", "ALS002", "ALS005", "ALS006",
    "RST001", "RST002", "RST004",
)  # fmt: skip
# Expected severity per code, as virtaudit's rule catalog (docs/rules.md) rates it for the newest target.
# PCI001 is info (x86 roots are translated since 3.10.0, the pSeries default host bridge since 10.4.0).
# ALS005 is low in the catalog (the hazards doc says medium); RST004 info at most (doc 6.4).
SEVERITY = {
    "PCI002": "high",
    "PCI003": "high",
    "PCI004": "high",
    "PCI006": "medium",
    "ALS001": "high",
    "ALS002": "medium",
    "ALS005": "low",
    "ALS006": "medium",
    "RST001": "critical",
    "RST002": "high",
    "RST004": "info",
}

# ------------------------------------------------------------------------------------------------
# qemuCaps: flag names from libvirt's virQEMUCaps string table, in enum order
# ------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


def _wordset(text: str) -> set[str]:
    return set(text.split())


# ('blockdev' sits early, out of its enum place, so that every generated build keeps it, as every libvirt
# >= 5.10 with QEMU >= 4.2 records it: a file without it would be a CAP002 finding, which is not planted.)
_CAPS = _words("""
kvm mem-path drive-serial monitor-json sdl netdev rtc vhost-net no-hpet no-kvm-pit pci-configfd nodefconfig
boot-menu fsdev name-process smbios-type spice vga-none boot-index hda-duplex drive-aio pci-bootindex
ccid-emulated ccid-passthru chardev-spicevmc virtio-tx-alg pci-multifunction virtio-blk-pci.ioeventfd sga
virtio-blk-pci.event_idx virtio-net-pci.event_idx cache-directsync piix3-usb-uhci piix4-usb-uhci usb-ehci
ich9-usb-ehci1 vt82c686b-usb-uhci pci-ohci usb-redir usb-hub no-shutdown cache-unsafe ich9-ahci no-acpi
fsdev-readonly virtio-blk-pci.scsi drive-copy-on-read fsdev-writeout drive-iotune system_wakeup
scsi-disk.channel scsi-block transaction block-job-async scsi-cd ide-cd no-user-config hda-micro
dump-guest-memory nec-usb-xhci balloon-event bridge lsi virtio-scsi-pci blockio disable-s3 disable-s4
usb-redir.filter ide-drive.wwn scsi-disk.wwn seccomp-sandbox reboot-timeout dump-guest-core
seamless-migration block-commit vnc drive-mirror blockdev usb-redir.bootindex usb-host.bootindex
blockdev-snapshot-sync
qxl VGA cirrus-vga vmware-svga device-video-primary s390-sclp usb-serial usb-net add-fd nbd-server virtio-rng
rng-random rng-egd virtio-ccw dtb megasas ipv6-migration machine-opt machine-usb-opt tpm-passthrough tpm-tis
nvram pci-bridge vfio-pci vfio-pci.bootindex scsi-generic scsi-generic.bootindex mem-merge vnc-websocket
drive-discard mlock vnc-share-policy device-del-event dmi-to-pci-bridge i440fx-pci-hole64-size
q35-pci-hole64-size usb-storage usb-storage.removable virtio-mmio ich9-intel-hda kvm-pit-lost-tick-policy
boot-strict pvpanic spice-file-xfer-disable spiceport usb-kbd host-pci-multidomain msg-timestamp active-commit
change-backing-file memory-backend-ram numa memory-backend-file usb-audio rtc-reset-reinjection splash-timeout
iothread migrate-rdma ivshmem drive-iotune-max VGA.vgamem_mb vmware-svga.vgamem_mb qxl.vgamem_mb
qxl-vga.vgamem_mb pc-dimm machine-vmport-opt aes-key-wrap dea-key-wrap pci-serial aarch64-off
vhost-user-multiqueue migration-event gpex-pcihost ioh3420 x3130-upstream xio3130-downstream rtl8139 e1000
virtio-net gic-version incoming-defer virtio-gpu virtio-gpu.virgl virtio-keyboard virtio-mouse virtio-tablet
virtio-input-host chardev-file-append ich9-disable-s3 ich9-disable-s4 vserport-change-event
virtio-balloon-pci.deflate-on-oom mptsas1068 spice-gl qxl.vram64_size_mb chardev-logfile debug-threads secret
pxb pxb-pcie device-tray-moved-event nec-usb-xhci-ports virtio-scsi-pci.iothread name-guest qxl.max_outputs
spice-unix drive-detect-zeroes tls-creds-x509 display intel-iommu smm virtio-pci-disable-legacy
query-hotpluggable-cpus virtio-net.rx_queue_size virtio-vga drive-iotune-max-length ivshmem-plain
ivshmem-doorbell query-qmp-schema gluster.debug_level vhost-scsi drive-iotune-group query-cpu-model-expansion
virtio-net.host_mtu spice-rendernode nvdimm pcie-root-port query-cpu-definitions block-write-threshold
query-named-block-nodes cpu-cache qemu-xhci kernel-irqchip kernel-irqchip.split intel-iommu.intremap
intel-iommu.caching-mode intel-iommu.eim intel-iommu.device-iotlb virtio.iommu_platform virtio.ats loadparm
spapr-pci-host-bridge spapr-pci-host-bridge.numa_node vnc-multi-servers virtio-net.tx_queue_size
chardev-reconnect virtio-gpu.max_outputs vxhs virtio-blk.num-queues machine.pseries.resize-hpt vmcoreinfo
spapr-vty sclplmconsole numa.dist disk-share-rw iscsi.password-secret isa-serial pl011
machine.pseries.max-cpu-compat dump-completed virtio-gpu-ccw virtio-keyboard-ccw virtio-mouse-ccw
virtio-tablet-ccw qcow2-luks pcie-pci-bridge seccomp-blacklist query-cpus-fast disk-write-cache nbd-tls
tpm-crb pr-manager-helper qom-list-properties memory-backend-file.discard-data virtual-css-bridge
virtual-css-bridge.cssid-unrestricted vfio-ccw sdl-gl screendump_device hda-output blockdev-del vmgenid
vhost-vsock chardev-fd-pass tpm-emulator mch mch.extended-tseg-mbytes sev-guest
machine.pseries.cap-hpt-max-page-size machine.pseries.cap-htm usb-storage.werror egl-headless
vfio-pci.display vfio-ap zpci memory-backend-memfd memory-backend-memfd.hugetlb iothread.poll-max-ns
machine.pseries.cap-nested-hv egl-headless.rendernode memory-backend-file.align memory-backend-file.pmem
nvdimm.unarmed scsi-disk.device_id virtio-pci-non-transitional overcommit query-current-machine
machine.virt.iommu bitmap-merge nbd-bitmap x86-max-cpu cpu-unavailable-features canonical-cpu-features
bochs-display migration-file-drop-cache dbus-vmstate vhost-user-gpu vhost-user-vga incremental-backup
query-cpu-model-baseline query-cpu-model-comparison ramfb machine.pseries.cap-ccf-assist arm-max-cpu
blockdev-file-dynamic-auto-read-only savevm-monitor-nodes drive-nvme smp-dies i8042 rng-builtin
virtio-net.failover tpm-spapr cpu.kvm-no-adjvtime vhost-user-fs query-named-block-nodes.flat
blockdev-snapshot.allow-write-only-overlay blockdev-reopen storage.werror fsdev.multidevs virtio.packed
pcie-root-port.hotplug aio.io_uring machine.pseries.cap-cfpc machine.pseries.cap-sbbc machine.pseries.cap-ibs
tcg virtio-blk-pci.scsi.default.disabled pvscsi cpu.migratable query-cpu-model-expansion.migratable fw_cfg
migration-param.bandwidth migration-param.downtime migration-param.xbzrle-cache-size intel-iommu.aw-bits
numa.hmat blockdev-hostdev-scsi usb-host.hostdevice virtio-balloon.free-page-reporting block-export-add
netdev.vhost-vdpa fsdev.createmode dc390 am53c974 virtio-pmem-pci vhost-user-fs.bootindex vhost-user-blk
cpu-max migration-param.block-bitmap-mapping
""")

_X86 = _wordset(
    "no-hpet no-kvm-pit piix3-usb-uhci piix4-usb-uhci ich9-usb-ehci1 vt82c686b-usb-uhci ich9-ahci disable-s3 "
    "disable-s4 i440fx-pci-hole64-size q35-pci-hole64-size ich9-intel-hda kvm-pit-lost-tick-policy pvpanic "
    "machine-vmport-opt ich9-disable-s3 ich9-disable-s4 intel-iommu smm intel-iommu.intremap "
    "intel-iommu.caching-mode intel-iommu.eim intel-iommu.device-iotlb isa-serial tpm-crb vmgenid mch "
    "mch.extended-tseg-mbytes sev-guest x86-max-cpu i8042 intel-iommu.aw-bits pvscsi vmware-svga "
    "vmware-svga.vgamem_mb cirrus-vga sga rtc cpu.kvm-no-adjvtime dc390 am53c974 virtio-pmem-pci smp-dies "
    "hda-duplex hda-micro hda-output"
)
_PPC = {n for n in _CAPS if n.startswith(("spapr-", "machine.pseries."))} | {"tpm-spapr"}
_S390 = _wordset(
    "s390-sclp virtio-ccw aes-key-wrap dea-key-wrap sclplmconsole virtio-gpu-ccw virtio-keyboard-ccw "
    "virtio-mouse-ccw virtio-tablet-ccw virtual-css-bridge virtual-css-bridge.cssid-unrestricted vfio-ccw "
    "vfio-ap zpci loadparm"
)
_ARM = _wordset("pl011 aarch64-off gic-version arm-max-cpu dtb gpex-pcihost machine.virt.iommu")
_SPICE = _wordset(
    "qxl qxl.vgamem_mb qxl-vga.vgamem_mb qxl.vram64_size_mb qxl.max_outputs spice spice-gl spice-rendernode "
    "spice-unix spice-file-xfer-disable chardev-spicevmc seamless-migration usb-redir usb-redir.filter "
    "usb-redir.bootindex ccid-emulated ccid-passthru spiceport"
)
_NO_PC_HW = _wordset(
    "VGA VGA.vgamem_mb virtio-vga bochs-display ramfb usb-kbd usb-storage usb-storage.removable "
    "usb-storage.werror usb-hub usb-serial usb-net usb-audio usb-ehci pci-ohci nec-usb-xhci "
    "nec-usb-xhci-ports "
    "qemu-xhci usb-host.hostdevice usb-host.bootindex lsi megasas mptsas1068 rtl8139 e1000 pci-bridge "
    "dmi-to-pci-bridge ioh3420 x3130-upstream xio3130-downstream pcie-root-port pcie-pci-bridge pxb pxb-pcie "
    "pcie-root-port.hotplug ivshmem ivshmem-plain ivshmem-doorbell egl-headless egl-headless.rendernode "
    "vhost-user-gpu vhost-user-vga virtio-gpu.virgl tpm-tis tpm-passthrough tpm-emulator pci-serial nvdimm "
    "nvdimm.unarmed"
)
_RETIRED = {"sdl", "sdl-gl", "drive-serial", "nodefconfig", "vxhs", "pci-configfd"}
_ALL_ARCH = _X86 | _PPC | _S390 | _ARM


def _caps(arch: str, zpci: bool = True) -> list[str]:
    if arch == "x86_64":
        drop = _ALL_ARCH - _X86 - {"gpex-pcihost"}
    elif arch == "ppc64le":
        drop = (_ALL_ARCH - _PPC) | _SPICE
    elif arch == "aarch64":
        drop = (_ALL_ARCH - _ARM) | _SPICE | {"VGA", "VGA.vgamem_mb", "virtio-vga", "bochs-display"}
    else:
        drop = (_ALL_ARCH - _S390) | _SPICE | _NO_PC_HW
        if not zpci:
            drop = drop | {"zpci", "vfio-pci.display"}
    drop = drop | _RETIRED
    return [n for n in _CAPS if n not in drop]


def _caps_block(flags: list[str]) -> str:
    return "  <qemuCaps>\n" + "".join(f"    <flag name='{f}'/>\n" for f in flags) + "  </qemuCaps>\n"


# Per arch: "QEMU builds" as pre-joined blocks. Older libvirt/QEMU builds lack the newest flags, so a build
# is a prefix of the enum-ordered list; never fewer than 120 flags.
_CUTS = (0, 15, 30, 50, 70, 90, 110, 130)
_CAPS_BLOCKS: dict[tuple[str, bool], dict[int, str]] = {}
for _arch in ("x86_64", "ppc64le", "aarch64", "s390x"):
    for _z in (True, False) if _arch == "s390x" else (True,):
        _full = _caps(_arch, _z)
        _CAPS_BLOCKS[(_arch, _z)] = {
            cut: _caps_block(_full[: len(_full) - cut]) for cut in _CUTS if len(_full) - cut >= 120
        }

# ------------------------------------------------------------------------------------------------
# CPU definitions: pre-rendered feature lines; a file takes a prefix of them
# ------------------------------------------------------------------------------------------------

_X86_FEATS = _words(
    "ss vmx pdcm hypervisor tsc_adjust cmt clflushopt clwb intel-pt pku ospke umip md-clear stibp flush-l1d "
    "arch-capabilities ssbd xsaveopt xsavec xgetbv1 xsaves pdpe1gb abm invtsc ibpb ibrs amd-stibp amd-ssbd "
    "skip-l1dfl-vmentry pschange-mc-no rdctl-no ibrs-all mds-no tsx-ctrl fb-clear sbdr-ssdp-no fbsdp-no "
    "psdp-no vme ds acpi ht tm pbe dtes64 monitor ds_cpl smx est tm2 xtpr dca osxsave f16c rdrand arat "
    "tsc-deadline x2apic movbe pcid avx512vnni avx512bw avx512cd avx512dq avx512f avx512vl mpx-disabled "
    "gfni vaes vpclmulqdq avx512vbmi avx512vbmi2 avx512bitalg avx512-vpopcntdq la57 rdpid fsrm serialize "
    "tsxldtrk amx-bf16 amx-tile amx-int8 avx-vnni avx512-bf16 wbnoinvd xfd ibt lbr-fmt"
)
_AMD_FEATS = _words(
    "x2apic tsc-deadline hypervisor tsc_adjust spec-ctrl stibp arch-capabilities ssbd cmp_legacy topoext "
    "virt-ssbd rdctl-no skip-l1dfl-vmentry mds-no pschange-mc-no invtsc pdpe1gb ibpb ibrs amd-ssbd "
    "amd-stibp clzero xsaveerptr wbnoinvd rdpid umip perfctr_core svme-addr-chk lbrv tsc-scale vmcb-clean "
    "flushbyasid pause-filter pfthreshold v-vmsave-vmload vgif succor overflow-recov"
)
_S390_FEATS = _words(
    "aen cmmnt vxpdeh aefsi diag318 csske mepoch msa9 msa8 msa7 msa6 msa5 msa4 msa3 msa2 msa1 sthyi edat ri "
    "deflate edat2 etoken vx ipter mepochptff ap vxeh vxpd esop msa9_pckmo vxeh2 esort apqi apft els iep "
    "apqci cte ais bpb gs ppa15 zpci sea_esop2 te cmm"
)


def _feature_prefixes(names: list[str], disabled: tuple[str, ...] = ()) -> list[str]:
    lines = [f"      <feature policy='require' name='{n}'/>\n" for n in names]
    lines += [f"      <feature policy='disable' name='{n}'/>\n" for n in disabled]
    out = [""]
    acc = ""
    for ln in lines:
        acc += ln
        out.append(acc)
    return out


_X86_MODELS = [
    ("Cascadelake-Server", "Intel", _feature_prefixes(_X86_FEATS, ("hle", "rtm", "mpx"))),
    ("Icelake-Server", "Intel", _feature_prefixes(_X86_FEATS[5:], ("hle", "rtm"))),
    ("SapphireRapids", "Intel", _feature_prefixes(_X86_FEATS[10:] + _X86_FEATS[:10])),
    ("EPYC-Rome", "AMD", _feature_prefixes(_AMD_FEATS, ("svm", "npt", "nrip-save"))),
    ("EPYC-Milan", "AMD", _feature_prefixes(_AMD_FEATS[3:] + _AMD_FEATS[:3])),
]
_S390_PREFIXES = _feature_prefixes(_S390_FEATS)

# ------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------


def _pci(bus: int, slot: int, fn: int = 0, mf: bool = False) -> str:
    m = " multifunction='on'" if mf else ""
    return (
        f"<address type='pci' domain='0x0000' bus='0x{bus:02x}' slot='0x{slot:02x}' function='0x{fn:x}'{m}/>"
    )


def _zpci(slot: int, uid: int, fid: int) -> str:
    return (
        f"<address type='pci' domain='0x0000' bus='0x00' slot='0x{slot:02x}' function='0x0'>\n"
        f"          <zpci uid='0x{uid:04x}' fid='0x{fid:08x}'/>\n"
        f"        </address>"
    )


def _ccw(devno: int) -> str:
    return f"<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x{devno:04x}'/>"


def _uuid(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


def _mac(r: random.Random) -> str:
    return f"52:54:00:{r.randrange(256):02x}:{r.randrange(256):02x}:{r.randrange(256):02x}"


class _Dev:
    """One device of the live <domain>: its XML is rendered at the end, with whatever alias/address the
    hazards left it."""

    __slots__ = ("addr", "alias", "head", "kind", "live", "mid", "tail")

    def __init__(self, kind, head, alias, addr=None, mid="", tail="", live=True):
        self.kind = kind  # element name
        self.head = head  # opening tag + body before <alias>
        self.alias = alias
        self.addr = addr
        self.mid = mid  # after <address>
        self.tail = tail  # closing tag
        self.live = live  # backed by -device (in QEMU's peripheral list)

    def render(self) -> str:
        s = self.head
        if self.alias is not None:
            s += f"        <alias name='{self.alias}'/>\n"
        if self.addr is not None:
            s += f"        {self.addr}\n"
        return s + self.mid + self.tail


_ORDER = {
    k: i
    for i, k in enumerate(
        _words(
            "disk controller filesystem interface serial console channel input tpm graphics sound audio "
            "video hostdev redirdev watchdog memballoon rng nvram panic memory"
        )
    )
}

# ------------------------------------------------------------------------------------------------
# platform and host style
# ------------------------------------------------------------------------------------------------

_PLATFORMS = [  # (arch, weight)
    ("x86_64", 70),
    ("ppc64le", 9),
    ("aarch64", 12),
    ("s390x", 9),
]


def _host_profile(seed: int, k: int) -> dict:
    r = random.Random(f"virtaudit-bench-host:{seed}:{k}")
    arch = r.choices([a for a, _ in _PLATFORMS], [w for _, w in _PLATFORMS])[0]
    style = r.choices(["plain", "ovirt", "kube"], [55, 25, 20] if arch == "x86_64" else [75, 25, 0])[0]
    emulator = {
        "x86_64": "/usr/bin/qemu-system-x86_64",
        "ppc64le": "/usr/bin/qemu-system-ppc64",
        "aarch64": "/usr/bin/qemu-system-aarch64",
        "s390x": "/usr/bin/qemu-system-s390x",
    }[arch]
    if style != "plain":
        emulator = "/usr/libexec/qemu-kvm"
    return {
        "arch": arch,
        "style": style,
        "emulator": emulator,
        "caps_cut": r.choice(_CUTS[2:6]),
        "zpci": r.random() < 0.6,
        "cpu_model": r.randrange(len(_X86_MODELS)),
        "new": r.random() < 0.3,  # libvirt >= 12.5 (records the virtio video device model)
    }


# ------------------------------------------------------------------------------------------------
# one guest
# ------------------------------------------------------------------------------------------------


class _Guest:
    def __init__(self, r: random.Random, host: dict, name: str):
        self.r = r
        self.h = host
        self.name = name
        self.uuid = _uuid(r)
        arch = host["arch"]
        if arch == "x86_64":
            self.machine = "q35" if (host["style"] == "kube" or r.random() < 0.65) else "i440fx"
        else:
            self.machine = {"ppc64le": "pseries", "aarch64": "virt", "s390x": "s390"}[arch]
        self.zpci = self.machine == "s390" and host["zpci"]
        self.devs: list[_Dev] = []
        self.extra_live: list[str] = []
        self.drop_live: set[str] = set()
        self.caps = True
        self.state = ("running", "booted")
        self.pci_indexes: list[int] = []
        self.dimms: list[_Dev] = []
        self.counters: dict[str, int] = {}

    # --- aliases ---------------------------------------------------------------------------
    def ua(self, generated: str, kname: str | None = None) -> str:
        st = self.h["style"]
        if st == "ovirt":
            return "ua-" + _uuid(self.r)
        if st == "kube" and kname:
            return "ua-" + kname
        return generated

    def nxt(self, key: str) -> int:
        n = self.counters.get(key, 0)
        self.counters[key] = n + 1
        return n


def _build(g: _Guest, target: int) -> None:
    r = g.r
    m = g.machine
    pcie = m in ("q35", "virt")
    devs = g.devs
    slot0 = [3 if m == "i440fx" else 1]  # next free slot on bus 0
    bus_slots: dict[int, int] = {}
    ports: list[_Dev] = []
    index = [1]
    ccw = [0]
    port_base = (2, 0x10) if m == "q35" else (1, 0x8)

    def new_port() -> int:
        i = index[0]
        index[0] += 1
        k = len(ports)
        fn = k % 8
        ports.append(
            _Dev(
                "controller",
                f"      <controller type='pci' index='{i}' model='pcie-root-port'>\n"
                f"        <model name='pcie-root-port'/>\n"
                f"        <target chassis='{i}' port='0x{port_base[1] + k:x}'/>\n",
                f"pci.{i}",
                _pci(0, port_base[0] + k // 8, fn, fn == 0),
                tail="      </controller>\n",
            )
        )
        g.pci_indexes.append(i)
        return i

    def on_bus(bus: int) -> str:
        s = bus_slots.get(bus, 1)
        bus_slots[bus] = s + 1
        return _pci(bus, s)

    conv_bus: list[int] = []  # conventional PCI buses that take extra devices (bridges, PHB)
    ctrl: list[_Dev] = []

    def add_conv_bus() -> int:
        """A pci-bridge on bus 0 (i440fx, slots 0x1e/0x1f) or an extra PHB (pseries)."""
        i = index[0]
        index[0] += 1
        if m == "pseries":
            ctrl.append(
                _Dev(
                    "controller",
                    f"      <controller type='pci' index='{i}' model='pci-root'>\n"
                    f"        <model name='spapr-pci-host-bridge'/>\n        <target index='{i}'/>\n",
                    f"pci.{i}",
                    tail="      </controller>\n",
                )
            )
        else:
            nb = sum(1 for b in conv_bus if b > 0)
            ctrl.append(
                _Dev(
                    "controller",
                    f"      <controller type='pci' index='{i}' model='pci-bridge'>\n"
                    f"        <model name='pci-bridge'/>\n        <target chassisNr='{i}'/>\n",
                    f"pci.{i}",
                    _pci(0, 0x1E + nb),
                    tail="      </controller>\n",
                )
            )
        g.pci_indexes.append(i)
        conv_bus.append(i)
        return i

    def endpoint(prefer_conv: bool = False) -> str:
        if m == "s390":
            c = ccw[0]
            ccw[0] += 1
            return _ccw(c)
        if conv_bus and (prefer_conv or r.random() < 0.3) and bus_slots.get(conv_bus[-1], 1) < 31:
            return on_bus(conv_bus[-1])
        if pcie:
            return _pci(new_port(), 0)
        if slot0[0] > 0x1D:
            if not conv_bus or bus_slots.get(conv_bus[-1], 1) >= 31:
                add_conv_bus()
            return on_bus(conv_bus[-1])
        s = slot0[0]
        slot0[0] += 1
        return _pci(0, s)

    # ---- roots and built-in controllers
    if m == "i440fx":
        ctrl.append(
            _Dev(
                "controller",
                "      <controller type='usb' index='0' model='piix3-uhci'>\n",
                "usb",
                _pci(0, 1, 2),
                tail="      </controller>\n",
            )
        )
        ctrl.append(
            _Dev(
                "controller",
                "      <controller type='pci' index='0' model='pci-root'>\n",
                "pci.0",
                tail="      </controller>\n",
                live=False,
            )
        )
        ctrl.append(
            _Dev(
                "controller",
                "      <controller type='ide' index='0'>\n",
                "ide",
                _pci(0, 1, 1),
                tail="      </controller>\n",
                live=False,
            )
        )
        g.pci_indexes.append(0)
    elif pcie:
        if m == "q35":
            ctrl.append(
                _Dev(
                    "controller",
                    "      <controller type='sata' index='0'>\n",
                    "ide",
                    _pci(0, 0x1F, 2),
                    tail="      </controller>\n",
                    live=False,
                )
            )
        ctrl.append(
            _Dev(
                "controller",
                "      <controller type='pci' index='0' model='pcie-root'>\n",
                "pcie.0",
                tail="      </controller>\n",
                live=False,
            )
        )
        g.pci_indexes.append(0)
    elif m == "pseries":
        ctrl.append(
            _Dev(
                "controller",
                "      <controller type='pci' index='0' model='pci-root'>\n"
                "        <model name='spapr-pci-host-bridge'/>\n        <target index='0'/>\n",
                "pci.0",
                tail="      </controller>\n",
                live=False,
            )
        )
        g.pci_indexes.append(0)
        if r.random() < 0.25:
            add_conv_bus()
    elif g.zpci:
        ctrl.append(
            _Dev(
                "controller",
                "      <controller type='pci' index='0' model='pci-root'>\n",
                "pci.0",
                tail="      </controller>\n",
                live=False,
            )
        )
        g.pci_indexes.append(0)

    # optional bridges
    if m == "i440fx" and r.random() < 0.35:
        add_conv_bus()
    if m == "q35" and r.random() < 0.2:
        port = new_port()
        i = index[0]
        index[0] += 1
        ctrl.append(
            _Dev(
                "controller",
                f"      <controller type='pci' index='{i}' model='pcie-to-pci-bridge'>\n"
                f"        <model name='pcie-pci-bridge'/>\n",
                f"pci.{i}",
                _pci(port, 0),
                tail="      </controller>\n",
            )
        )
        g.pci_indexes.append(i)
        conv_bus.append(i)

    if m != "s390":
        usb_model = "qemu-xhci' ports='15" if m != "i440fx" else None
        if usb_model:
            ctrl.insert(
                0,
                _Dev(
                    "controller",
                    f"      <controller type='usb' index='0' model='{usb_model}'>\n",
                    "usb",
                    endpoint(),
                    tail="      </controller>\n",
                ),
            )
    ctrl.append(
        _Dev(
            "controller",
            "      <controller type='virtio-serial' index='0'>\n",
            g.ua("virtio-serial0"),
            endpoint(),
            tail="      </controller>\n",
        )
    )

    # ---- fixed devices
    fixed: list[_Dev] = []
    kube = g.h["style"] == "kube"
    pts = r.randrange(0, 40)
    src = (
        f"        <source mode='bind' path='/var/run/kubevirt-private/{g.uuid}/virt-serial0'/>\n"
        if kube
        else f"        <source path='/dev/pts/{pts}'/>\n"
    )
    chtype = "unix" if kube else "pty"
    tty = "" if kube else f" tty='/dev/pts/{pts}'"
    if m in ("i440fx", "q35"):
        fixed.append(
            _Dev(
                "serial",
                f"      <serial type='{chtype}'>\n{src}"
                "        <target type='isa-serial' port='0'>\n          <model name='isa-serial'/>\n"
                "        </target>\n",
                "serial0",
                tail="      </serial>\n",
            )
        )
        fixed.append(
            _Dev(
                "console",
                f"      <console type='{chtype}'{tty}>\n{src}        <target type='serial' port='0'/>\n",
                "serial0",
                tail="      </console>\n",
                live=False,
            )
        )
    elif m == "pseries":
        a = "<address type='spapr-vio' reg='0x30000000'/>"
        fixed.append(
            _Dev(
                "serial",
                f"      <serial type='{chtype}'>\n{src}"
                "        <target type='spapr-vio-serial' port='0'>\n          <model name='spapr-vty'/>\n"
                "        </target>\n",
                "serial0",
                a,
                tail="      </serial>\n",
            )
        )
        fixed.append(
            _Dev(
                "console",
                f"      <console type='{chtype}'{tty}>\n{src}        <target type='serial' port='0'/>\n",
                "serial0",
                a,
                tail="      </console>\n",
                live=False,
            )
        )
        fixed.append(
            _Dev(
                "nvram",
                "      <nvram>\n",
                "nvram",
                "<address type='spapr-vio' reg='0x00003000'/>",
                tail="      </nvram>\n",
                live=False,
            )
        )
        fixed.append(_Dev("panic", "      <panic model='pseries'/>\n", None, live=False))
    elif m == "virt":
        fixed.append(
            _Dev(
                "serial",
                f"      <serial type='{chtype}'>\n{src}"
                "        <target type='system-serial' port='0'>\n          <model name='pl011'/>\n"
                "        </target>\n",
                "serial0",
                tail="      </serial>\n",
                live=False,
            )
        )
        fixed.append(
            _Dev(
                "console",
                f"      <console type='{chtype}'{tty}>\n{src}        <target type='serial' port='0'/>\n",
                "serial0",
                tail="      </console>\n",
                live=False,
            )
        )
    else:
        fixed.append(
            _Dev(
                "console",
                f"      <console type='{chtype}'{tty}>\n{src}        <target type='sclp' port='0'/>\n",
                "console0",
                tail="      </console>\n",
            )
        )
        fixed.append(_Dev("panic", "      <panic model='s390'/>\n", None, live=False))
    if m in ("i440fx", "q35"):
        fixed.append(
            _Dev(
                "input",
                "      <input type='tablet' bus='usb'>\n",
                "input0",
                "<address type='usb' bus='0' port='1'/>",
                tail="      </input>\n",
            )
        )
        fixed.append(
            _Dev(
                "input",
                "      <input type='mouse' bus='ps2'>\n",
                "input1",
                tail="      </input>\n",
                live=False,
            )
        )
        fixed.append(
            _Dev(
                "input",
                "      <input type='keyboard' bus='ps2'>\n",
                "input2",
                tail="      </input>\n",
                live=False,
            )
        )
    elif m in ("pseries", "virt"):
        fixed.append(
            _Dev(
                "input",
                "      <input type='keyboard' bus='usb'>\n",
                "input0",
                "<address type='usb' bus='0' port='1'/>",
                tail="      </input>\n",
            )
        )
        fixed.append(
            _Dev(
                "input",
                "      <input type='mouse' bus='usb'>\n",
                "input1",
                "<address type='usb' bus='0' port='2'/>",
                tail="      </input>\n",
            )
        )
    # video
    video = None
    if m != "s390":
        vr = r.random()
        if m == "virt":
            video = "virtio-gpu" if (vr < 0.5 and g.h["new"]) else None
        elif m == "pseries" or vr < 0.45:
            video = "vga"
        elif vr < 0.7:
            video = "qxl"
        elif vr < 0.8 and m == "i440fx":
            video = "cirrus"
        elif g.h["new"]:
            video = "virtio-vga"
        else:
            video = "vga"
    g.video = video
    if video:
        model = {
            "vga": "<model type='vga' vram='16384' heads='1' primary='yes'/>",
            "cirrus": "<model type='cirrus' vram='16384' heads='1' primary='yes'/>",
            "qxl": "<model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' primary='yes'/>",
            "virtio-vga": "<model type='virtio' heads='1' primary='yes' device='virtio-vga'/>",
            "virtio-gpu": "<model type='virtio' heads='1' primary='yes' device='virtio-gpu'/>",
        }[video]
        if m == "i440fx":
            vaddr = _pci(0, 2)
        elif m == "q35":
            vaddr = _pci(0, 1)
        else:
            vaddr = endpoint()
        fixed.append(
            _Dev("video", f"      <video>\n        {model}\n", g.ua("video0"), vaddr, tail="      </video>\n")
        )
    # balloon
    if kube:
        fixed.append(
            _Dev(
                "memballoon",
                "      <memballoon model='virtio-non-transitional' freePageReporting='on'>\n"
                "        <stats period='10'/>\n",
                "balloon0",
                endpoint(),
                tail="      </memballoon>\n",
            )
        )
    else:
        fixed.append(
            _Dev(
                "memballoon",
                "      <memballoon model='virtio'>\n        <stats period='5'/>\n",
                g.ua("balloon0"),
                endpoint(),
                tail="      </memballoon>\n",
            )
        )
    if r.random() < 0.7:
        fixed.append(
            _Dev(
                "rng",
                "      <rng model='virtio'>\n        <backend model='random'>/dev/urandom</backend>\n",
                g.ua("rng0"),
                endpoint(),
                tail="      </rng>\n",
            )
        )

    # ---- variable devices until the target count is reached
    var: list[_Dev] = []
    scsi: list[_Dev] = []
    spare = 0 if not pcie else r.randrange(1, 5)
    nchan = 0
    zuid = [1]

    def count() -> int:
        return len(ctrl) + len(ports) + len(fixed) + len(var) + len(scsi) + len(g.dimms) + spare

    first = True
    while count() < target or first:
        x = r.random()
        if first or x < 0.4:
            var.append(_disk(g, endpoint, scsi, first, zuid))
            first = False
        elif x < 0.62:
            var.append(_nic(g, endpoint, zuid))
        elif x < 0.72 and nchan < 4:
            names = (
                "org.qemu.guest_agent.0",
                "org.libguestfs.channel.0",
                "com.redhat.spice.0",
                "org.qemu.guest_agent.1",
            )
            n = g.nxt("channel")
            path = f"/run/libvirt/qemu/channel/{g.name}/{names[n]}"
            var.append(
                _Dev(
                    "channel",
                    f"      <channel type='unix'>\n"
                    f"        <source mode='bind' path='{path}'/>\n"
                    f"        <target type='virtio' name='{names[n]}' state='connected'/>\n",
                    f"channel{n}",
                    f"<address type='virtio-serial' controller='0' bus='0' port='{n + 1}'/>",
                    tail="      </channel>\n",
                )
            )
            nchan += 1
        elif x < 0.78 and m != "s390":
            var.append(_hostdev(g, endpoint))
        elif x < 0.82 and m in ("q35", "i440fx", "pseries", "virt") and len(g.dimms) < 4:
            _add_dimm(g)
        elif x < 0.92 and pcie:
            spare += 1
        else:
            var.append(_disk(g, endpoint, scsi, False, zuid))
    for _ in range(spare):
        new_port()
    # insert root ports after the root
    if ports:
        pos = next(i for i, d in enumerate(ctrl) if "index='0' model='pci" in d.head)
        ctrl[pos + 1 : pos + 1] = ports
    devs.extend(ctrl)
    devs.extend(scsi)
    devs.extend(fixed)
    devs.extend(var)
    devs.extend(g.dimms)


def _disk(g: _Guest, endpoint, scsi: list[_Dev], boot: bool, zuid: list[int]) -> _Dev:
    r = g.r
    m = g.machine
    n = g.nxt("node") * 2 + 1
    bus = "virtio"
    x = r.random()
    if x < 0.18 and m != "s390":
        bus = "scsi"
    elif x < 0.24 and m == "q35":
        bus = "sata"
    priv = (
        "          <privateData>\n            <nodenames>\n"
        f"              <nodename type='storage' name='libvirt-{n}-storage'/>\n"
        f"              <nodename type='format' name='libvirt-{n}-format'/>\n"
        "            </nodenames>\n          </privateData>\n"
    )
    kind = r.random()
    tag = "file"
    if kind < 0.6:
        fmt = "qcow2"
        src = (
            f"        <source file='/var/lib/libvirt/images/{g.name}-{n}.qcow2' index='{n}'>\n"
            f"{priv}        </source>\n"
        )
        if r.random() < 0.35:
            src += (
                f"        <backingStore type='file' index='{n + 1}'>\n          <format type='qcow2'/>\n"
                f"          <source file='/var/lib/libvirt/images/base/tmpl-{r.randrange(40)}.qcow2'>\n"
                "            <privateData>\n              <nodenames>\n"
                f"                <nodename type='storage' name='libvirt-{n + 1}-storage'/>\n"
                f"                <nodename type='format' name='libvirt-{n + 1}-format'/>\n"
                "              </nodenames>\n            </privateData>\n          </source>\n"
                "          <backingStore/>\n        </backingStore>\n"
            )
        else:
            src += "        <backingStore/>\n"
    elif kind < 0.85:
        fmt = "raw"
        tag = "block"
        src = (
            f"        <source dev='/dev/mapper/vg_guests-{g.name}_{n}' index='{n}'>\n"
            f"{priv}        </source>\n"
            "        <backingStore/>\n"
        )
    else:
        fmt = "raw"
        tag = "network"
        # auth references a secret by UUID; the generator plants no real secret values
        src = (
            f"        <source protocol='rbd' name='volumes/{g.name}-{n}' index='{n}'>\n"
            "          <host name='10.20.0.11' port='6789'/>\n"
            "          <host name='10.20.0.12' port='6789'/>\n"
            "          <host name='10.20.0.13' port='6789'/>\n"
            f"          <auth username='bench-{g.name[-5:]}'>\n"
            f"            <secret type='ceph' uuid='{_uuid(r)}'/>\n          </auth>\n"
            "          <privateData>\n            <nodenames>\n"
            f"              <nodename type='storage' name='libvirt-{n}-storage'/>\n"
            f"              <nodename type='format' name='libvirt-{n}-format'/>\n"
            "            </nodenames>\n            <objects>\n"
            f"              <secret type='auth' alias='libvirt-{n}-storage-auth-secret0'/>\n"
            "            </objects>\n          </privateData>\n        </source>\n        <backingStore/>\n"
        )
    cache = " cache='none' io='native'" if tag != "file" else ""
    head = (
        f"      <disk type='{tag}' device='disk'>\n"
        f"        <driver name='qemu' type='{fmt}'{cache} discard='unmap'/>\n"
    )
    head += src
    tail = "      </disk>\n"
    mid = ""
    kname = None if boot is False else "rootdisk"
    if bus == "virtio":
        i = g.nxt("virtio")
        dev = "vd" + _letters(i)
        kname = kname or f"disk{i}"
        alias = g.ua(f"virtio-disk{i}", kname)
        if g.zpci and r.random() < 0.3:
            u = zuid[0]
            zuid[0] += 1
            addr = _zpci(u, u, u - 1)
        else:
            addr = endpoint()
        mid = (
            "        <privateData>\n"
            f"          <qom name='/machine/peripheral/{alias}/virtio-backend'/>\n"
            "        </privateData>\n"
        )
    elif bus == "scsi":
        if not scsi:
            scsi.append(
                _Dev(
                    "controller",
                    "      <controller type='scsi' index='0' model='virtio-scsi'>\n",
                    g.ua("scsi0"),
                    endpoint(),
                    tail="      </controller>\n",
                )
            )
        i = g.nxt("scsi")
        dev = "sd" + _letters(g.nxt("sd"))
        alias = g.ua(f"scsi0-0-0-{i}", kname or f"lun{i}")
        addr = f"<address type='drive' controller='0' bus='0' target='0' unit='{i}'/>"
    else:
        i = g.nxt("sata")
        dev = "sd" + _letters(g.nxt("sd"))
        alias = g.ua(f"sata0-0-{i}", kname or f"sata{i}")
        addr = f"<address type='drive' controller='0' bus='0' target='0' unit='{i}'/>"
    head += f"        <target dev='{dev}' bus='{bus}'/>\n"
    if boot:
        head += "        <boot order='1'/>\n"
    d = _Dev("disk", head, alias, addr, mid, tail)
    d.kind = "disk"
    return d


def _letters(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(97 + rem) + s
    return s


def _nic(g: _Guest, endpoint, zuid: list[int]) -> _Dev:
    r = g.r
    n = g.nxt("net")
    st = g.h["style"]
    if st == "ovirt":
        body = (
            "      <interface type='bridge'>\n"
            f"        <mac address='56:6f:{r.randrange(256):02x}:{r.randrange(256):02x}:"
            f"{r.randrange(256):02x}:"
            f"{r.randrange(256):02x}'/>\n"
            "        <source bridge='ovirtmgmt'/>\n"
            f"        <target dev='vnet{r.randrange(400)}'/>\n        <model type='virtio'/>\n"
            "        <driver name='vhost' queues='4'/>\n        <filterref filter='vdsm-no-mac-spoofing'/>\n"
            "        <link state='up'/>\n        <mtu size='1500'/>\n"
        )
    elif st == "kube":
        body = (
            "      <interface type='ethernet'>\n"
            f"        <mac address='02:4a:1c:{r.randrange(256):02x}:{r.randrange(256):02x}:"
            f"{r.randrange(256):02x}'/>\n"
            f"        <target dev='tap{n}' managed='no'/>\n        <model type='virtio-non-transitional'/>\n"
            "        <mtu size='1450'/>\n        <rom enabled='no'/>\n"
        )
    else:
        net = ("default", "prod", "storage", "backup")[n % 4]
        br = f"virbr{n % 4}"
        body = (
            "      <interface type='network'>\n"
            f"        <mac address='{_mac(r)}'/>\n"
            f"        <source network='{net}' portid='{_uuid(r)}' bridge='{br}'/>\n"
            f"        <actual type='network'>\n          <source bridge='{br}'/>\n        </actual>\n"
            f"        <target dev='vnet{r.randrange(400)}'/>\n        <model type='virtio'/>\n"
        )
    if g.zpci and r.random() < 0.3:
        u = zuid[0]
        zuid[0] += 1
        addr = _zpci(u, u, u - 1)
    else:
        addr = endpoint()
    return _Dev(
        "interface",
        body,
        g.ua(f"net{n}", "default" if n == 0 else f"net{n}"),
        addr,
        tail="      </interface>\n",
    )


def _hostdev(g: _Guest, endpoint) -> _Dev:
    r = g.r
    n = g.nxt("hostdev")
    body = (
        "      <hostdev mode='subsystem' type='pci' managed='yes'>\n        <driver name='vfio'/>\n"
        "        <source>\n"
        f"          <address domain='0x0000' bus='0x{r.choice((0x3B, 0x5E, 0x86, 0xAF, 0xD8)):02x}' "
        f"slot='0x{r.randrange(32):02x}' function='0x{r.randrange(8):x}'/>\n"
        "          <origstates>\n            <unbind/>\n            <removeslot/>\n            <reprobe/>\n"
        "          </origstates>\n        </source>\n"
    )
    return _Dev("hostdev", body, g.ua(f"hostdev{n}", f"gpu{n}"), endpoint(), tail="      </hostdev>\n")


def _add_dimm(g: _Guest) -> None:
    i = len(g.dimms)
    base = 0x100000000 + 0x80000000 * i
    g.dimms.append(
        _Dev(
            "memory",
            "      <memory model='dimm'>\n        <target>\n          <size unit='KiB'>2097152</size>\n"
            "          <node>0</node>\n        </target>\n",
            f"dimm{i}",
            f"<address type='dimm' slot='{i}' base='0x{base:x}'/>",
            tail="      </memory>\n",
        )
    )


# ------------------------------------------------------------------------------------------------
# hazards
# ------------------------------------------------------------------------------------------------


def _applicable(g: _Guest) -> list[str]:
    m = g.machine
    codes = ["PCI001", "ALS001", "ALS002", "ALS005", "RST001", "RST002"]
    if _pci_devices(g):
        codes.append("PCI004")
    if m in ("i440fx", "q35", "virt"):
        codes.append("PCI002")
    if _bridges(g):
        codes.append("PCI003")
    if m == "q35":
        codes.append("PCI006")
    if m != "s390":
        codes += ["ALS006", "RST004"]
    if m == "s390" and not g.zpci:
        codes.remove("PCI001")
    return codes


def _root(g: _Guest) -> _Dev:
    return next(d for d in g.devs if d.kind == "controller" and "index='0' model='pci" in d.head)


def _plant(g: _Guest, code: str) -> str:
    """Apply one hazard; returns its severity."""
    r = g.r
    if code == "PCI001":
        _root(g).alias = "ua-" + (_uuid(r) if g.h["style"] == "ovirt" else "pci-root")
        return "info"
    if code == "PCI002":
        _root(g).alias = "pci"
    elif code == "PCI003":
        c = r.choice(_bridges(g))
        c.alias = None  # QEMU still has it, but nothing names it; keep the live list consistent
    elif code == "PCI004":
        bus = max(g.pci_indexes) + r.randrange(1, 4)
        d = r.choice(_pci_devices(g))
        d.addr = (
            _pci(bus, r.randrange(1, 31))
            if "<zpci" not in d.addr
            else d.addr.replace("bus='0x00'", f"bus='0x{bus:02x}'")
        )
    elif code == "PCI006":
        root = _root(g)
        root.head = root.head.replace("model='pcie-root'", "model='pci-root'")
        root.alias = "pci.0"
    elif code == "ALS001":
        ua = "ua-" + (_uuid(r) if g.h["style"] == "ovirt" else "shared-disk")
        pair = [d for d in g.devs if d.kind in ("disk", "interface")][:2]
        if len(pair) < 2:
            pair.append(_extra_disk(g))
        for d in pair:
            d.mid = d.mid.replace(f"/{d.alias}/", f"/{ua}/")
            d.alias = ua
    elif code == "ALS002":
        disks = [d for d in g.devs if d.kind == "disk"]
        if len(disks) < 2:
            disks.append(_extra_disk(g))
        gen = "virtio-disk0"
        for d in disks[:2]:
            d.mid = d.mid.replace(f"/{d.alias}/", f"/{gen}/")
            d.alias = gen
    elif code == "ALS005":
        if r.random() < 0.5:
            g.extra_live.append("virtio-disk99" if g.h["style"] != "kube" else "ua-hotplug-vol1")
        else:
            # a -device backed device with an address and a generated alias (what a rule can tell for sure)
            g.drop_live.add(
                r.choice(
                    [
                        d.alias
                        for d in g.devs
                        if d.live
                        and d.alias
                        and d.addr
                        and not d.alias.startswith("ua-")
                        and d.kind != "console"
                        # (a PCI controller missing from the list is PCI010, not drift)
                        and not (d.kind == "controller" and "type='pci'" in d.head)
                    ]
                )
            )
    elif code == "ALS006":
        if len(g.dimms) < 2:
            for _ in range(2 - len(g.dimms)):
                _add_dimm(g)
                g.devs.append(g.dimms[-1])
        a, b = g.dimms[0], g.dimms[1]
        a.addr, b.addr = b.addr, a.addr
    elif code == "RST001":
        g.caps = False
    elif code == "RST002":
        g.state = ("paused", "starting up")
    elif code == "RST004":
        v = next((d for d in g.devs if d.kind == "video"), None)
        model = "        <model type='virtio' heads='1' primary='yes'/>\n"
        if v is None:
            addr = _pci(max(g.pci_indexes) + 1, 0) if g.machine in ("q35", "virt") else None
            if addr is not None:  # give it a root port of its own
                _add_port(g, max(g.pci_indexes) + 1)
            else:
                addr = _pci(0, 0x1D)
            g.devs.append(
                _Dev("video", "      <video>\n" + model, g.ua("video0"), addr, tail="      </video>\n")
            )
        else:
            v.head = "      <video>\n" + model
    return SEVERITY[code]


def _bridges(g: _Guest) -> list[_Dev]:
    """PCI controllers other than roots and PHBs (a PHB without alias would add a low-severity finding)."""
    return [
        d
        for d in g.devs
        if d.kind == "controller"
        and ("pcie-root-port" in d.head or "-pci-bridge" in d.head or "'pci-bridge'" in d.head)
    ]


def _pci_devices(g: _Guest) -> list[_Dev]:
    return [d for d in g.devs if d.addr and d.addr.startswith("<address type='pci'")]


def _add_port(g: _Guest, i: int) -> None:
    k = sum(1 for d in g.devs if "pcie-root-port" in d.head)
    base_slot, base_port = (2, 0x10) if g.machine == "q35" else (1, 0x8)
    g.devs.append(
        _Dev(
            "controller",
            f"      <controller type='pci' index='{i}' model='pcie-root-port'>\n"
            "        <model name='pcie-root-port'/>\n"
            f"        <target chassis='{i}' port='0x{base_port + k:x}'/>\n",
            f"pci.{i}",
            _pci(0, base_slot + k // 8, k % 8, k % 8 == 0),
            tail="      </controller>\n",
        )
    )
    g.pci_indexes.append(i)


def _extra_disk(g: _Guest) -> _Dev:
    if g.machine == "s390":
        addr = _ccw(0x0F00)
    elif g.machine in ("q35", "virt"):
        i = max(g.pci_indexes) + 1
        _add_port(g, i)
        addr = _pci(i, 0)
    else:
        addr = _pci(0, 0x1D)
    d = _disk(g, lambda: addr, [], False, [90])
    if not d.addr.startswith("<address type='pci'") and not d.addr.startswith("<address type='ccw'"):
        d.addr = addr  # scsi/sata picked: put it on PCI as virtio instead
        d.head = d.head.replace("bus='scsi'", "bus='virtio'").replace("bus='sata'", "bus='virtio'")
    g.devs.append(d)
    return d


# ------------------------------------------------------------------------------------------------
# rendering
# ------------------------------------------------------------------------------------------------

_META_OVIRT = """    <metadata xmlns:ns1="http://ovirt.org/vm/tune/1.0" xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
      <ns1:qos/>
      <ovirt-vm:vm xmlns:ovirt-vm="http://ovirt.org/vm/1.0">
        <ovirt-vm:clusterVersion>4.7</ovirt-vm:clusterVersion>
        <ovirt-vm:destroy_on_reboot type="bool">False</ovirt-vm:destroy_on_reboot>
        <ovirt-vm:launchPaused>false</ovirt-vm:launchPaused>
        <ovirt-vm:memGuaranteedSize type="int">{mem}</ovirt-vm:memGuaranteedSize>
        <ovirt-vm:resumeBehavior>auto_resume</ovirt-vm:resumeBehavior>
        <ovirt-vm:startTime type="float">{t}</ovirt-vm:startTime>
        <ovirt-vm:device devtype="disk" name="sda">
          <ovirt-vm:domainID>{a}</ovirt-vm:domainID>
          <ovirt-vm:imageID>{b}</ovirt-vm:imageID>
          <ovirt-vm:poolID>{c}</ovirt-vm:poolID>
          <ovirt-vm:volumeID>{d}</ovirt-vm:volumeID>
        </ovirt-vm:device>
      </ovirt-vm:vm>
    </metadata>
"""
_META_KUBE = """    <metadata>
      <kubevirt xmlns="http://kubevirt.io">
        <uid>{a}</uid>
        <graceperiod>
          <deletionGracePeriodSeconds>30</deletionGracePeriodSeconds>
        </graceperiod>
      </kubevirt>
    </metadata>
"""
_META_OSINFO = """    <metadata>
      <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
        <libosinfo:os id="{os}"/>
      </libosinfo:libosinfo>
    </metadata>
"""
_OSES = (
    "http://rockylinux.org/rocky/9",
    "http://debian.org/debian/12",
    "http://ubuntu.com/ubuntu/24.04",
    "http://redhat.com/rhel/9.4",
    "http://fedoraproject.org/fedora/41",
    "http://microsoft.com/win/2k22",
)


def _machine_type(g: _Guest) -> str:
    r = g.r
    m = g.machine
    if m == "i440fx":
        return r.choice(("pc-i440fx-6.2", "pc-i440fx-7.2", "pc-i440fx-rhel7.6.0", "pc-i440fx-8.2"))
    if m == "q35":
        return r.choice(("pc-q35-6.2", "pc-q35-7.2", "pc-q35-rhel8.6.0", "pc-q35-rhel9.2.0", "pc-q35-8.2"))
    if m == "pseries":
        return r.choice(("pseries-7.2", "pseries-rhel8.6.0", "pseries-8.2"))
    if m == "virt":
        return r.choice(("virt-7.2", "virt-8.2", "virt-rhel9.2.0"))
    return r.choice(("s390-ccw-virtio-7.2", "s390-ccw-virtio-rhel9.2.0"))


def _render(g: _Guest, dom_id: int) -> str:
    r = g.r
    h = g.h
    arch = h["arch"]
    short = g.name[:20]
    libdir = f"/var/lib/libvirt/qemu/domain-{dom_id}-{short}"
    pid = 1000 + r.randrange(4_000_000)
    vcpus = r.choice((1, 2, 2, 2, 4, 4, 4, 8, 8, 16, 16, 32, 64))
    out = [f"<domstatus state='{g.state[0]}' reason='{g.state[1]}' pid='{pid}'>\n"]
    if arch == "aarch64" or h["style"] == "kube":
        out.append("  <taint flag='host-cpu'/>\n")
    out.append(
        f"  <monitor path='{libdir}/monitor.sock' type='unix'/>\n"
        "  <namespaces>\n    <mount/>\n  </namespaces>\n"
    )
    out.append("  <vcpus>\n")
    out.append("".join(f"    <vcpu id='{i}' pid='{pid + 30 + i}'/>\n" for i in range(vcpus)))
    out.append("  </vcpus>\n")
    if g.caps:
        blocks = _CAPS_BLOCKS[(arch, g.zpci or arch != "s390x")]
        cut = h["caps_cut"] if r.random() < 0.75 else r.choice(list(blocks))  # some guests started long ago
        out.append(blocks.get(cut) or blocks[max(blocks)])
    # QEMU's live device list
    live = []
    seen = set(g.drop_live)
    for d in g.devs:
        a = d.alias
        if d.live and a is not None and a not in seen:
            seen.add(a)
            live.append(a)
        if d.addr is not None and "<zpci" in d.addr:
            uid = int(d.addr.split("uid='")[1][:6], 16)
            live.append(f"zpci{uid}")
    live += g.extra_live
    r.shuffle(live)
    out.append("  <devices>\n")
    out.append("".join(f"    <device alias='{a}'/>\n" for a in live))
    out.append("  </devices>\n")
    out.append(
        f"  <libDir path='{libdir}'/>\n"
        f"  <channelTargetDir path='/run/libvirt/qemu/channel/{dom_id}-{short}'/>\n"
    )
    if h["new"]:
        out.append(f"  <memoryBackingDir path='/var/lib/libvirt/qemu/ram/{dom_id}-{short}'/>\n")
    out.append("  <chardevStdioLogd/>\n  <rememberOwner/>\n  <allowReboot value='yes'/>\n")
    out.append(f"  <nodename index='{r.randrange(4, 200)}'/>\n")
    if h["new"]:
        out.append("  <fdset index='0'/>\n")
    out.append("  <blockjobs active='no'/>\n  <agentTimeout>-2</agentTimeout>\n")
    # ---- domain
    mem_gib = r.choice((1, 2, 4, 4, 8, 8, 16, 32, 64, 128))
    mem = mem_gib * 1048576
    out.append(f"  <domain type='kvm' id='{dom_id}'>\n    <name>{g.name}</name>\n    <uuid>{g.uuid}</uuid>\n")
    x = r.random()
    if h["style"] == "ovirt" and x < 0.9:
        out.append(
            _META_OVIRT.format(
                mem=mem_gib * 1024,
                t=f"{1761800000 + r.randrange(9_000_000)}.{r.randrange(99)}",
                a=_uuid(r),
                b=_uuid(r),
                c=_uuid(r),
                d=_uuid(r),
            )
        )
    elif h["style"] == "kube":
        out.append(_META_KUBE.format(a=_uuid(r)))
    elif x < 0.4:
        out.append(_META_OSINFO.format(os=r.choice(_OSES)))
    if g.dimms:
        out.append(f"    <maxMemory slots='16' unit='KiB'>{mem * 4}</maxMemory>\n")
        mem += 2097152 * len(g.dimms)
    out.append(
        f"    <memory unit='KiB'>{mem}</memory>\n    <currentMemory unit='KiB'>{mem}</currentMemory>\n"
    )
    out.append(f"    <vcpu placement='static'>{vcpus}</vcpu>\n")
    out.append("    <resource>\n      <partition>/machine</partition>\n    </resource>\n")
    out.append(f"    <os>\n      <type arch='{arch}' machine='{_machine_type(g)}'>hvm</type>\n")
    if g.machine in ("q35", "virt") and r.random() < 0.5:
        code = (
            "/usr/share/AAVMF/AAVMF_CODE.fd"
            if g.machine == "virt"
            else "/usr/share/OVMF/OVMF_CODE.secboot.fd"
        )
        out.append(
            f"      <loader readonly='yes' type='pflash'>{code}</loader>\n"
            f"      <nvram>/var/lib/libvirt/qemu/nvram/{g.name}_VARS.fd</nvram>\n"
        )
    out.append("      <boot dev='hd'/>\n    </os>\n    <features>\n")
    if arch in ("x86_64", "aarch64"):
        out.append("      <acpi/>\n")
    if arch == "x86_64":
        out.append("      <apic/>\n      <vmport state='off'/>\n")
    elif arch == "aarch64":
        out.append("      <gic version='3'/>\n")
    out.append("    </features>\n")
    topo = f"      <topology sockets='1' dies='1' cores='{vcpus}' threads='1'/>\n"
    numa = (
        (
            "      <numa>\n"
            f"        <cell id='0' cpus='0-{vcpus - 1}' memory='{mem_gib * 1048576}' unit='KiB'/>\n"
            "      </numa>\n"
        )
        if g.dimms
        else ""
    )
    if arch == "x86_64" and (h["style"] == "kube" or r.random() < 0.2):
        out.append(
            f"    <cpu mode='host-passthrough' check='none' migratable='on'>\n{topo}{numa}    </cpu>\n"
        )
    elif arch == "x86_64":
        model, vendor, prefixes = _X86_MODELS[h["cpu_model"]]
        k = int(r.triangular(8, len(prefixes) - 1, len(prefixes) * 0.4))
        out.append(
            "    <cpu mode='custom' match='exact' check='full'>\n"
            f"      <model fallback='forbid'>{model}</model>\n"
            f"      <vendor>{vendor}</vendor>\n{topo}{prefixes[k]}{numa}    </cpu>\n"
        )
    elif arch == "ppc64le":
        out.append(
            "    <cpu mode='custom' match='exact' check='none'>\n"
            "      <model fallback='forbid'>POWER9</model>\n"
            f"{topo}{numa}    </cpu>\n"
        )
    elif arch == "aarch64":
        out.append(f"    <cpu mode='host-passthrough' check='none'>\n{topo}{numa}    </cpu>\n")
    else:
        out.append(
            "    <cpu mode='custom' match='exact' check='partial'>\n"
            "      <model fallback='forbid'>gen15a-base</model>\n"
            f"{_S390_PREFIXES[r.randrange(20, len(_S390_PREFIXES))]}    </cpu>\n"
        )
    out.append(
        "    <clock offset='utc'>\n      <timer name='rtc' tickpolicy='catchup'/>\n"
        "      <timer name='pit' tickpolicy='delay'/>\n"
        "      <timer name='hpet' present='no'/>\n    </clock>\n"
        if arch == "x86_64"
        else "    <clock offset='utc'/>\n"
    )
    out.append(
        "    <on_poweroff>destroy</on_poweroff>\n    <on_reboot>restart</on_reboot>\n"
        "    <on_crash>destroy</on_crash>\n"
    )
    out.append(f"    <devices>\n      <emulator>{h['emulator']}</emulator>\n")
    graphics = None
    if g.machine != "s390" and (g.video or r.random() < 0.3):
        if h["style"] == "kube":
            graphics = (
                f"      <graphics type='vnc' socket='/var/run/kubevirt-private/{g.uuid}/virt-vnc'>\n"
                f"        <listen type='socket' socket='/var/run/kubevirt-private/{g.uuid}/virt-vnc'/>\n"
                "      </graphics>\n"
            )
        else:
            port = 5900 + r.randrange(200)
            graphics = (
                f"      <graphics type='vnc' port='{port}' autoport='yes' listen='0.0.0.0'>\n"
                "        <listen type='address' address='0.0.0.0' fromConfig='1' autoGenerated='no'/>\n"
                "      </graphics>\n"
            )
    gpos = _ORDER["graphics"]
    done_gfx = False
    for d in sorted(g.devs, key=lambda d: _ORDER[d.kind]):
        if not done_gfx and graphics and _ORDER[d.kind] > gpos:
            out.append(graphics)
            done_gfx = True
        out.append(d.render())
    if graphics and not done_gfx:
        out.append(graphics)
    out.append("    </devices>\n")
    c1, c2 = sorted(r.sample(range(1024), 2))
    out.append(
        "    <seclabel type='dynamic' model='selinux' relabel='yes'>\n"
        f"      <label>system_u:system_r:svirt_t:s0:c{c1},c{c2}</label>\n"
        f"      <imagelabel>system_u:object_r:svirt_image_t:s0:c{c1},c{c2}</imagelabel>\n    </seclabel>\n"
        "    <seclabel type='dynamic' model='dac' relabel='yes'>\n      <label>+107:+107</label>\n"
        "      <imagelabel>+107:+107</imagelabel>\n    </seclabel>\n  </domain>\n</domstatus>\n"
    )
    return "".join(out)


def _target_devices(r: random.Random) -> int:
    """Number of device elements: 20 to 60, most around 25-35, a long tail to 60."""
    if r.random() < 0.9:
        return min(57, 20 + int(r.expovariate(1 / 4)))
    return 24 + int(r.uniform(0, 34))  # the last addition may overshoot by up to 3 (disk + controller + port)


def _guest_file(seed: int, i: int, host_idx: int, host: dict, hazard_rate: float) -> tuple[str, list]:
    r = random.Random(f"virtaudit-bench:{seed}:{i}")
    name = f"guest-{i:05d}"
    g = _Guest(r, host, name)
    _build(g, _target_devices(r))
    planted = []
    if r.random() < hazard_rate:
        code = r.choice(_applicable(g))
        planted.append((code, _plant(g, code)))
    return _render(g, 1 + (i % 500)), planted


# ------------------------------------------------------------------------------------------------
# API and CLI
# ------------------------------------------------------------------------------------------------


def generate(
    outdir: str | os.PathLike[str],
    files: int,
    hosts: int | None = None,
    seed: int = 0,
    hazard_rate: float = 0.01,
) -> dict:
    """Write `files` status XML files spread over `hosts` host directories under `outdir`.

    Returns a summary: files, hosts, total_bytes, mean_bytes, min_bytes, max_bytes, planted (rows),
    seconds, outdir. Existing files with the same names are overwritten; nothing else is touched.
    """
    if files < 1:
        raise ValueError("files must be >= 1")
    if hosts is None:
        hosts = max(1, files // 50)
    hosts = max(1, min(hosts, files))
    out = Path(outdir)
    t0 = time.perf_counter()
    profiles = [_host_profile(seed, k) for k in range(hosts)]
    for k in range(hosts):
        (out / f"host-{k:03d}").mkdir(parents=True, exist_ok=True)
    total = 0
    smin = 1 << 62
    smax = 0
    planted_rows: list[tuple[str, str, str, str]] = []
    for i in range(files):
        k = i * hosts // files
        text, planted = _guest_file(seed, i, k, profiles[k], hazard_rate)
        data = text.encode()
        host_name = f"host-{k:03d}"
        with open(out / host_name / f"guest-{i:05d}.xml", "wb") as f:
            f.write(data)
        n = len(data)
        total += n
        smin = min(smin, n)
        smax = max(smax, n)
        for code, sev in planted:
            planted_rows.append((host_name, f"guest-{i:05d}", code, sev))
    with open(out / "planted.csv", "w") as f:
        f.write("host,guest,code,severity\n")
        for row in planted_rows:
            f.write(",".join(row) + "\n")
    return {
        "outdir": str(out),
        "files": files,
        "hosts": hosts,
        "seed": seed,
        "total_bytes": total,
        "mean_bytes": total / files,
        "min_bytes": smin,
        "max_bytes": smax,
        "planted": len(planted_rows),
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate a deterministic synthetic fleet of libvirt status XML.")
    p.add_argument("outdir")
    p.add_argument("--files", type=int, default=2000, help="number of status files (default 2000)")
    p.add_argument("--hosts", type=int, default=None, help="number of host directories (default files/50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hazard-rate", type=float, default=0.01, help="share of files with a planted hazard")
    a = p.parse_args(argv)
    s = generate(a.outdir, a.files, a.hosts, a.seed, a.hazard_rate)
    print(
        f"{s['files']} files in {s['hosts']} hosts, {s['total_bytes']} bytes total, "
        f"mean {s['mean_bytes'] / 1024:.1f} KiB "
        f"(min {s['min_bytes'] / 1024:.1f}, max {s['max_bytes'] / 1024:.1f}), "
        f"{s['planted']} planted hazards, {s['seconds']:.1f} s -> {s['outdir']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
