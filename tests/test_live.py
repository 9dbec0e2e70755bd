"""virtaudit.live: QEMU's bus names from its command line, checked against libvirt's generated ones.

libvirt's own test data pairs domain XML with the QEMU command line libvirt generated for it
(qemuxml2argvdata/NAME.xml and NAME.args): the ground truth for what a running QEMU's /proc/PID/cmdline
holds. A user alias (``ua-…``) is kept as the device's id, so for the devices that carry one the command
line tells the bus name QEMU was given.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from conftest import load_scan
from virtaudit.live import (
    LiveDevice,
    StatusDevice,
    bus_names_by_index,
    judge,
    parse_devices,
    read_cmdline,
    uuid_of,
)

ARGS_SUBDIR = Path("tests") / "qemuxml2argvdata"


def _argv(args_file: Path) -> list[str]:
    # The .args files are shell text with one option a line, continued with backslashes.
    return shlex.split(args_file.read_text().replace("\\\n", " "))


def _status_devices(xml: Path) -> list[StatusDevice]:
    scan = load_scan()(xml)
    rows = scan.devices.select("element", "index", "alias", "pci_bus", "target_index").to_dicts()
    return [
        StatusDevice(
            alias=r["alias"],
            pci_bus=r["pci_bus"],
            controller_index=r["index"] if r["element"] == "controller" else None,
            target_index=r["target_index"],
        )
        for r in rows
    ]


def test_user_aliases_name_qemus_root_bus(corpus_dir: Path) -> None:
    base = corpus_dir / ARGS_SUBDIR / "user-aliases"
    argv = _argv(base.with_suffix(".args"))
    devices = parse_devices(argv)
    assert LiveDevice("virtio-blk-pci", "ua-myDisk2", "pci.0", "0x5") in devices
    assert uuid_of(argv) == "a75aca4b-a02f-2bcb-4a91-c93cd848c34b"
    buses = bus_names_by_index(devices, _status_devices(base.with_suffix(".xml")))
    # The root carries 'ua-SomeWeirdController', yet QEMU's root bus of an i440fx is 'pci.0'.
    assert buses == {0: "pci.0"}
    assert judge(0, "pci.0", buses).verdict == "refuted"
    assert judge(0, "ua-SomeWeirdController", buses).verdict == "confirmed"
    assert judge(1, "pci.1", buses).verdict == "unverified"


def test_every_user_alias_in_the_corpus_agrees_with_the_model(corpus_dir: Path) -> None:
    """For each generated command line whose domain has user aliases on PCI devices, the root bus name QEMU
    was given equals virtaudit's model of the root bus at libvirt 7.10."""
    import virtaudit

    checked = 0
    for args in sorted((corpus_dir / ARGS_SUBDIR).glob("*.args")):
        xml = args.with_suffix(".xml")
        if not xml.exists() or "ua-" not in xml.read_text(errors="replace"):
            continue
        buses = bus_names_by_index(parse_devices(_argv(args)), _status_devices(xml))
        if 0 not in buses:
            continue
        domain = load_scan()(xml).domains.row(0, named=True)
        model = virtaudit.root_bus(domain["arch"], domain["machine"], libvirt="7.10.0")
        assert buses[0] == model, (args.name, buses, model)
        checked += 1
    assert checked >= 2


def test_pseries_extra_phb_buses_are_id_dot_zero() -> None:
    live = [
        LiveDevice("spapr-pci-host-bridge", "pci.1", None, None),
        LiveDevice("virtio-net-pci", "net0", "pci.0", "0x1"),
    ]
    status = [
        StatusDevice("pci.1", None, controller_index=1, target_index=1),
        StatusDevice("net0", 0),
        StatusDevice("hotplugged0", 1),  # not on the command line: no evidence from it
    ]
    assert bus_names_by_index(live, status) == {0: "pci.0", 1: "pci.1.0"}


def test_disagreeing_proofs_leave_a_bus_unproven() -> None:
    live = [LiveDevice("e1000", "net0", "pci.0", "0x3"), LiveDevice("e1000", "net1", "pci", "0x4")]
    status = [StatusDevice("net0", 0), StatusDevice("net1", 0)]
    assert bus_names_by_index(live, status) == {}


def test_json_and_keyval_device_syntax() -> None:
    spec = {"driver": "virtio-blk-pci", "bus": "ua-root", "addr": "0x5", "id": "ua-disk", "drive": "x"}
    argv = [
        "qemu-system-x86_64",
        "-device",
        json.dumps(spec),
        "-device",
        "pcie-root-port,port=16,chassis=1,id=pci.1,bus=pcie.0,multifunction=on,addr=0x2",
        "-device",
        "virtio-serial-pci,id=a,,b,bus=pci.0",  # ',,' is a comma inside a value
        "-device",
        "{not json",
        "-uuid",
        "A75ACA4B-A02F-2BCB-4A91-C93CD848C34B",
    ]
    assert parse_devices(argv) == [
        LiveDevice("virtio-blk-pci", "ua-disk", "ua-root", "0x5"),
        LiveDevice("pcie-root-port", "pci.1", "pcie.0", "0x2"),
        LiveDevice("virtio-serial-pci", "a,b", "pci.0", None),
    ]
    assert uuid_of(argv) == "a75aca4b-a02f-2bcb-4a91-c93cd848c34b"


def test_read_cmdline(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cmdline").write_bytes(b"qemu\0-uuid\0abc\0")
    assert read_cmdline(42, proc=tmp_path) == ["qemu", "-uuid", "abc"]
    assert read_cmdline(43, proc=tmp_path) is None  # gone
    assert read_cmdline(0, proc=tmp_path) is None
    (tmp_path / "44").mkdir()
    (tmp_path / "44" / "cmdline").write_bytes(b"")  # a zombie's command line is empty
    assert read_cmdline(44, proc=tmp_path) is None


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="no /proc on this system")
def test_read_cmdline_of_this_process() -> None:
    import os

    argv = read_cmdline(os.getpid())
    assert argv is not None and argv[0]


LAB_FILE = (
    Path(__file__).resolve().parent
    / "lab"
    / "recorded"
    / "restart-9.0.0"
    / "lab"
    / "vlab-i440fx-root-alias-wrong.xml"
)


def _fake_proc(tmp_path: Path, pid: int, argv: list[str]) -> Path:
    proc = tmp_path / "proc"
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return proc


def test_annotate_marks_a_recorded_lab_guest(tmp_path: Path) -> None:
    """The lab's guest whose root alias was edited to 'pci' (libvirt 9.0.0 then failed every hotplug onto
    bus 0 with "Bus 'pci' not found"): its QEMU plugged the pci-bridge into 'pci.0' at start."""
    import virtaudit
    from virtaudit.live import annotate

    scan = virtaudit.scan(LAB_FILE)
    findings = virtaudit.audit(scan, target_libvirt="9.0.0")
    assert "PCI002" in findings["code"].to_list()
    uuid = scan.domains["uuid"][0]
    pid = scan.domains["pid"][0]
    bridge = {"driver": "pci-bridge", "chassis_nr": 1, "id": "pci.1", "bus": "pci.0", "addr": "0x5"}
    argv = ["/usr/bin/qemu-system-x86_64", "-uuid", uuid, "-device", json.dumps(bridge)]
    marked = annotate(scan, findings, proc=_fake_proc(tmp_path, pid, argv))
    message = marked.filter(marked["code"] == "PCI002")["message"][0]
    assert message.endswith("[live: confirmed: QEMU calls bus 0 'pci.0' on its command line, not 'pci']")
    # Findings that name no PCI controller's bus are left as they were.
    others = marked.filter(marked["code"] != "PCI002")
    assert others.equals(findings.filter(findings["code"] != "PCI002"))

    # The same pid running another guest (a reused pid): no evidence, whatever its command line says.
    other = ["/usr/bin/qemu-system-x86_64", "-uuid", "00000000-0000-0000-0000-000000000000"]
    other += ["-device", json.dumps(bridge)]
    marked = annotate(scan, findings, proc=_fake_proc(tmp_path / "b", pid, other))
    assert (
        "[live: unverified: no QEMU process of this guest"
        in marked.filter(marked["code"] == "PCI002")["message"][0]
    )


def test_a_renamed_controller_is_found_where_it_sits() -> None:
    """The status file says the bridge at 00:05.0 is 'pci.7' (an edit, as in the lab); QEMU's command line
    has the bridge at that place as 'pci.1', and no device proves bus 0's name by alias."""
    live = [
        LiveDevice("pci-bridge", "pci.1", "pci.0", "0x5"),
        LiveDevice("spapr-pci-host-bridge", "pci.2", None, None, "2"),
    ]
    status = [
        StatusDevice("pci", None, controller_index=0),
        StatusDevice("pci.7", 0, controller_index=1, pci_slot=5, pci_function=0),
        StatusDevice("ua-phb", None, controller_index=2, target_index=2),
    ]
    buses = bus_names_by_index(live, status)
    assert buses == {0: "pci.0", 1: "pci.1", 2: "pci.2.0"}
    assert judge(1, "pci.7", buses).verdict == "confirmed"
    assert judge(2, "ua-phb.0", buses).verdict == "confirmed"
    # Two buses used at an address and provided by no -device: the root is not inferred.
    two_roots = [*live, LiveDevice("e1000", "net0", "pcie.0", "0x3")]
    assert 0 not in bus_names_by_index(two_roots, status[:1])
