"""Evidence from the running QEMU: the bus names its command line used, read without touching the guest.

A status file says what libvirt believes; the QEMU process of a running guest says what QEMU has. Its
command line (``/proc/PID/cmdline``, PID from ``<domstatus pid=…>``) names every device created at start
with its ``id`` and the ``bus`` it was plugged into, so for every PCI bus that carried a device at start it
tells QEMU's real name of that bus. Devices hotplugged since are not on it, which is why the evidence is
per bus, from the devices that were: a bus name QEMU accepted at start exists in QEMU.

Reading ``/proc`` has no side effect on the guest. QMP (``virsh qemu-monitor-command``) would also see
hotplugged devices, but libvirt then taints the domain (``custom-monitor``), which support teams treat as
a modified guest; nothing here uses it.

The PID of a status file may have been reused by another process since (a guest that died while libvirtd
was down): the command line counts only when its ``-uuid`` is the guest's.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.scanning import Scan

__all__ = [
    "Evidence",
    "LiveDevice",
    "StatusDevice",
    "annotate",
    "bus_names_by_index",
    "judge",
    "parse_devices",
    "read_cmdline",
]

# A command line is a few KiB; a cap keeps a hostile /proc entry (or a path given in a test) bounded.
CMDLINE_LIMIT: Final = 4 * 1024 * 1024

# QEMU devices that are PCI buses themselves: devices are plugged into them by their `id`.
PCI_BUS_DRIVERS: Final = frozenset(
    {
        "pci-bridge",
        "pcie-pci-bridge",
        "pcie-root-port",
        "ioh3420",
        "x3130-upstream",
        "xio3130-downstream",
        "i82801b11-bridge",
        "dmi-to-pci-bridge",
        "pxb",
        "pxb-pcie",
        "spapr-pci-host-bridge",
    }
)

Verdict = Literal["confirmed", "refuted", "unverified"]


@dataclass(frozen=True)
class LiveDevice:
    """One ``-device`` of a QEMU command line (the properties that name it and where it sits)."""

    driver: str
    id: str | None
    bus: str | None
    addr: str | None
    index: str | None = None
    """``index`` of a pSeries host bridge (its target index)."""


@dataclass(frozen=True)
class StatusDevice:
    """What the status file says of one device: its alias, and for PCI controllers their index."""

    alias: str | None
    pci_bus: int | None
    controller_index: int | None = None
    target_index: int | None = None
    pci_slot: int | None = None
    pci_function: int | None = None


@dataclass(frozen=True)
class Evidence:
    verdict: Verdict
    detail: str


def read_cmdline(pid: int, *, proc: Path = Path("/proc")) -> list[str] | None:
    """The argv of process ``pid``, or None when it is gone or unreadable. Opened read-only, capped."""
    if pid <= 0:
        return None
    try:
        fd = os.open(proc / str(pid) / "cmdline", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(CMDLINE_LIMIT + 1)
    except OSError:
        return None
    if not data or len(data) > CMDLINE_LIMIT:
        return None
    return [arg.decode("utf-8", "replace") for arg in data.rstrip(b"\0").split(b"\0")]


def _keyval(text: str) -> dict[str, str]:
    """QEMU's ``driver,key=value,...`` syntax: ``,,`` stands for a comma inside a value."""
    fields: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if text[i + 1 : i + 2] == ",":
                current.append(",")
                i += 2
                continue
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    fields.append("".join(current))
    props = {"driver": fields[0]} if fields and "=" not in fields[0] else {}
    for field in fields[1 if props else 0 :]:
        key, sep, value = field.partition("=")
        if sep:
            props[key] = value
    return props


def _device(spec: str) -> LiveDevice | None:
    props: Mapping[str, object]
    if spec.startswith("{"):  # libvirt >= 7.9 with QEMU >= 6.2 writes -device as JSON
        try:
            loaded = json.loads(spec)
        except ValueError:
            return None
        if not isinstance(loaded, dict):
            return None
        props = loaded
    else:
        props = _keyval(spec)

    def text(key: str) -> str | None:
        value = props.get(key)
        if isinstance(value, int) and not isinstance(value, bool):  # JSON numbers (a PHB's index)
            return str(value)
        return value if isinstance(value, str) else None

    driver = text("driver")
    if driver is None:
        return None
    return LiveDevice(driver, text("id"), text("bus"), text("addr"), text("index"))


def parse_devices(argv: Sequence[str]) -> list[LiveDevice]:
    """Every ``-device`` of a command line, in order (unparsable ones are left out)."""
    devices = []
    for option, value in itertools.pairwise(argv):
        if option in ("-device", "--device"):
            device = _device(value)
            if device is not None:
                devices.append(device)
    return devices


def uuid_of(argv: Sequence[str]) -> str | None:
    for option, value in itertools.pairwise(argv):
        if option in ("-uuid", "--uuid"):
            return value.lower()
    return None


def _slot_function(addr: str | None) -> tuple[int, int] | None:
    """QEMU's ``addr`` (``0x5``, ``0x4.0x7``, ``5``) as (slot, function)."""
    if not addr:
        return None
    slot, _, function = addr.partition(".")
    try:
        return int(slot, 0), int(function or "0", 0)
    except ValueError:
        return None


def _controller_bus(qemu: LiveDevice, device: StatusDevice) -> str | None:
    """The bus a PCI controller ``-device`` provides: its id (an extra pSeries PHB's: ``ID.0``)."""
    if device.controller_index is None or qemu.driver not in PCI_BUS_DRIVERS or not qemu.id:
        return None
    phb = qemu.driver == "spapr-pci-host-bridge" and (device.target_index or 0) > 0
    return f"{qemu.id}.0" if phb else qemu.id


def bus_names_by_index(live: Iterable[LiveDevice], status: Iterable[StatusDevice]) -> dict[int, str]:
    """QEMU's name of each PCI bus (by libvirt's controller index) that the command line proves.

    A device on PCI bus N whose alias is a ``-device`` id shows the name QEMU accepted for bus N. A PCI
    controller of index N that is a ``-device`` names bus N by its id (an extra pSeries PHB's bus is
    ``ID.0``). A controller whose alias the status file changed is found by where it sits instead: the
    ``-device`` plugged into its parent bus at its slot and function (a PHB: by its index). Two proofs
    that disagree make the bus unproven.
    """
    live = list(live)
    status = list(status)
    by_id = {d.id: d for d in live if d.id}
    seen: dict[int, set[str]] = {}
    for device in status:
        qemu = by_id.get(device.alias or "")
        if qemu is None:
            continue
        if device.pci_bus is not None and qemu.bus:
            seen.setdefault(device.pci_bus, set()).add(qemu.bus)
        if device.controller_index is not None and (name := _controller_bus(qemu, device)):
            seen.setdefault(device.controller_index, set()).add(name)
    known = {index: next(iter(names)) for index, names in seen.items() if len(names) == 1}
    if 0 not in seen:
        # The machine's own root bus is the one bus that devices are plugged into at an address but that no
        # -device provides (only when there is exactly one such name).
        provided = {d.id for d in live if d.id} | {f"{d.id}.0" for d in live if d.id}
        implicit = {d.bus for d in live if d.bus and d.addr and d.bus not in provided}
        if len(implicit) == 1:
            known[0] = next(iter(implicit))
            seen[0] = set(implicit)
    by_place = {(d.bus, _slot_function(d.addr)): d for d in live if d.bus and d.addr}
    phbs = {d.index: d for d in live if d.driver == "spapr-pci-host-bridge" and d.index}
    for device in status:
        if device.controller_index is None or device.controller_index in seen:
            continue
        if device.target_index:
            qemu = phbs.get(str(device.target_index))
        elif device.pci_bus in known and device.pci_slot is not None:
            place = (known[device.pci_bus], (device.pci_slot, device.pci_function or 0))
            qemu = by_place.get(place)
        else:
            qemu = None
        if qemu is not None and (name := _controller_bus(qemu, device)):
            seen.setdefault(device.controller_index, set()).add(name)
    return {index: next(iter(names)) for index, names in seen.items() if len(names) == 1}


def judge(bus_index: int, libvirt_bus: str, qemu_buses: Mapping[int, str]) -> Evidence:
    """Does the name libvirt will use for bus ``bus_index`` after a restart exist in QEMU?"""
    qemu = qemu_buses.get(bus_index)
    if qemu is None:
        return Evidence("unverified", f"no device on PCI bus {bus_index} was on QEMU's command line")
    if qemu == libvirt_bus:
        return Evidence("refuted", f"QEMU's command line plugs devices of bus {bus_index} into '{qemu}'")
    return Evidence(
        "confirmed", f"QEMU calls bus {bus_index} '{qemu}' on its command line, not '{libvirt_bus}'"
    )


def _evidence_for_document(
    domain: Mapping[str, Any], devices: pl.DataFrame, rows: list[dict[str, Any]], proc: Path
) -> list[Evidence]:
    pid = domain.get("pid")
    argv = read_cmdline(int(pid), proc=proc) if isinstance(pid, int) else None
    uuid = (domain.get("uuid") or "").lower()
    if argv is None or not uuid or uuid_of(argv) != uuid:
        # A guest of another host (an archive, a dataset), one that is gone, or a reused pid.
        why = f"no QEMU process of this guest on this host (pid {pid})" if pid else "no QEMU pid recorded"
        return [Evidence("unverified", why) for _ in rows]
    status = [
        StatusDevice(
            alias=d["alias"],
            pci_bus=d["pci_bus"],
            controller_index=d["index"] if d["element"] == "controller" else None,
            target_index=d["target_index"],
            pci_slot=d["pci_slot"],
            pci_function=d["pci_function"],
        )
        for d in devices.iter_rows(named=True)
    ]
    buses = bus_names_by_index(parse_devices(argv), status)
    index_of = {s.alias: s.controller_index for s in status if s.alias and s.controller_index is not None}
    out = []
    for row in rows:
        index = index_of.get(row["alias"])
        if index is None:
            out.append(Evidence("unverified", "the finding's controller is not in the status file"))
        else:
            out.append(judge(index, row["recorded_bus"], buses))
    return out


def annotate(scan: Scan, findings: pl.DataFrame, *, proc: Path = Path("/proc")) -> pl.DataFrame:
    """``findings`` with the running QEMU's evidence appended to each PCI controller finding's message:
    ``[live: confirmed|refuted|unverified: why]``. Reads ``/proc`` only; changes nothing.

    A finding qualifies when it names a PCI controller and the bus libvirt will use for it after a restart
    (``recorded_bus``): PCI001, PCI002, PCI010 and their kin.
    """
    import polars as pl

    wanted = (
        (pl.col("element") == "controller")
        & pl.col("recorded_bus").is_not_null()
        & pl.col("code").str.starts_with("PCI")
    )
    marked = findings.with_row_index("_row")
    candidates = marked.filter(wanted)
    if candidates.is_empty():
        return findings
    suffix: dict[int, str] = {}
    for (path,), rows in candidates.group_by(["path"], maintain_order=True):
        domain = scan.domains.filter(pl.col("path") == path)
        if domain.is_empty():
            continue
        devices = scan.devices.filter(pl.col("path") == path)
        listed = rows.to_dicts()
        for row, evidence in zip(
            listed, _evidence_for_document(domain.row(0, named=True), devices, listed, proc), strict=True
        ):
            suffix[row["_row"]] = f" [live: {evidence.verdict}: {evidence.detail}]"
    extra = pl.Series("_suffix", [suffix.get(i, "") for i in range(findings.height)], dtype=pl.String)
    return (
        marked.with_columns(extra)
        .with_columns((pl.col("message") + pl.col("_suffix")).alias("message"))
        .drop("_row", "_suffix")
    )
