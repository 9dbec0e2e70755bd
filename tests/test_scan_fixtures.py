"""Hand-written expectations for tests/fixtures/devices/*.xml.

Every value below was worked out by hand from the fixture text and docs/schema.md, not by running a parser.
The same expectations are checked against both implementations, the scanner (``virtaudit.scan``) and the
reference extractor (``tests/reference_extractor.py``), so a parser that is wrong in the same way as the
reference still fails here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import TESTS_DIR, assert_files_seen, assert_frames_match, scan_tables
from reference_extractor import SCHEMAS, extract

FIXTURES = TESTS_DIR / "fixtures" / "devices"
Q35 = "q35-status.xml"
PPC = "pseries-domain.xml"
I440FX = "i440fx-controllers-domain.xml"
MIN_DOMAIN = "minimal-domain.xml"
MIN_STATUS = "minimal-status.xml"
FILES = [Q35, PPC, I440FX, MIN_DOMAIN, MIN_STATUS]

SECRET_MARK = "s3cret"  # every planted secret in the fixtures contains this


def fixture_paths() -> list[str]:
    return sorted(str(FIXTURES / name) for name in FILES)


# --------------------------------------------------------------------------------------------------
# the two implementations under test


@pytest.fixture(scope="module", params=["scanner", "reference"])
def tables(request: pytest.FixtureRequest) -> dict[str, pl.DataFrame]:
    paths = fixture_paths()
    if request.param == "reference":
        out = extract([Path(p) for p in paths])
    else:
        scan: Callable[..., Any] = request.getfixturevalue("scan")
        out = scan_tables(scan(*paths))
    assert_files_seen(out, len(paths))
    return out


def by_file(df: pl.DataFrame, name: str) -> pl.DataFrame:
    return df.filter(pl.col("path") == str(FIXTURES / name))


def device(tables: dict[str, pl.DataFrame], name: str, ordinal: int) -> dict[str, Any]:
    rows = by_file(tables["devices"], name).filter(pl.col("ordinal") == ordinal).to_dicts()
    assert len(rows) == 1, f"{name} ordinal {ordinal}: {len(rows)} rows"
    return rows[0]


# --------------------------------------------------------------------------------------------------
# domains


def _domain(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "host": "devices",
        "id": None,
        "state": None,
        "reason": None,
        "pid": None,
        "has_qemu_caps": False,
        "caps_count": 0,
        "has_live_devices": False,
        "live_alias_count": 0,
        "blockjobs_active": None,
    }
    row.update(kw)
    return row


EXPECTED_DOMAINS = {
    Q35: _domain(
        kind="status",
        name="web&db-A",  # &amp; entity, a comment splitting the text, &#x41;
        uuid="6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
        id=7,
        virt_type="kvm",
        state="running",
        reason="booted",
        pid=4242,
        arch="x86_64",
        machine="pc-q35-6.2",  # &#x36;
        emulator="/opt/qemu&tools/bin/qemu-system-x86_64",  # &amp; and CDATA
        has_qemu_caps=True,
        caps_count=5,
        has_live_devices=True,
        live_alias_count=8,
        blockjobs_active="yes",
        device_count=43,
    ),
    PPC: _domain(
        kind="domain",
        name="ppc-guest 'one'",  # &#45; &#x20; &apos;
        uuid="3b0e7c1a-95d2-4a3e-b7c4-5f6a7b8c9d0e",  # CDATA
        virt_type="kvm",
        arch="ppc64",
        machine="pseries-6.2",
        emulator="/usr/bin/qemu-system-ppc64",
        device_count=15,
    ),
    I440FX: _domain(
        kind="domain",
        name="i440fx-controllers",
        uuid="0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a",
        id=None,  # id='0x1F': libvirt reads id as a signed decimal number, so this is no id
        virt_type="qemu",
        arch="i686",
        machine="pc-i440fx-2.9",
        emulator="/usr/bin/qemu-system-i386",
        device_count=16,
    ),
    MIN_DOMAIN: _domain(
        kind="domain",
        name="minimal",
        uuid=None,
        virt_type="qemu",
        arch=None,
        machine=None,
        emulator=None,
        device_count=0,
    ),
    MIN_STATUS: _domain(
        kind="status",
        name="tiny",
        uuid="11111111-2222-3333-4444-555555555555",
        id=3,
        virt_type="qemu",
        state="paused",
        reason="user",
        pid=99,
        arch="x86_64",
        machine="pc-i440fx-1.4",
        emulator="/usr/bin/qemu-kvm",
        has_qemu_caps=True,  # <qemuCaps/>
        caps_count=0,
        has_live_devices=False,  # no <devices> list
        device_count=2,
    ),
}


def test_schema_columns_and_dtypes(tables: dict[str, pl.DataFrame]) -> None:
    for table, schema in SCHEMAS.items():
        # (doc_id, the scan's own numbering of its inputs, is not the reference's: test_doc_ids.py checks it)
        got = {c: t for c, t in tables[table].schema.items() if c != "doc_id"}
        assert list(got) == list(schema), f"{table}: columns {list(got)} != schema.md {list(schema)}"
        bad = {c: (got[c], schema[c]) for c in schema if got[c] != schema[c]}
        assert not bad, f"{table}: dtypes differ from schema.md (got, expected): {bad}"


@pytest.mark.parametrize("name", FILES)
def test_domain_rows(tables: dict[str, pl.DataFrame], name: str) -> None:
    rows = by_file(tables["domains"], name).to_dicts()
    assert len(rows) == 1
    row = rows[0]
    expected = {**EXPECTED_DOMAINS[name], "path": str(FIXTURES / name)}
    expected["file_size"] = os.path.getsize(FIXTURES / name)
    diff = {k: (row.get(k), v) for k, v in expected.items() if row.get(k) != v}
    assert not diff, f"{name}: (got, expected) {diff}"


def test_no_errors(tables: dict[str, pl.DataFrame]) -> None:
    assert tables["errors"].height == 0, tables["errors"].to_dicts()


def test_rows_in_path_then_document_order(tables: dict[str, pl.DataFrame]) -> None:
    assert tables["domains"]["path"].to_list() == fixture_paths()
    dev = tables["devices"]
    assert dev.select("path", "ordinal").rows() == sorted(dev.select("path", "ordinal").rows())


# --------------------------------------------------------------------------------------------------
# devices

BLANK_DEVICE: dict[str, Any] = {
    "type": None,
    "model": None,
    "model_name": None,
    "index": None,
    "alias": None,
    "user_alias": False,
    "address_type": None,
    "pci_domain": None,
    "pci_bus": None,
    "pci_slot": None,
    "pci_function": None,
    "multifunction": None,
    "dimm_slot": None,
    "target_index": None,
    "target_chassis": None,
    "target_port": None,
    "target_hotplug": None,
    "video_device": None,
    "managed": None,
    "has_auth": False,
    "has_encryption": False,
    "has_tls": False,
    "has_private_objects": False,
    "has_origstates": False,
    "has_actual": False,
}


def dev(element: str, pci: tuple[int, int, int, int] | None = None, **kw: Any) -> dict[str, Any]:
    """A complete expected device row: every column not given is null/false."""
    row = {**BLANK_DEVICE, "element": element}
    if pci is not None:
        row.update(
            address_type="pci", pci_domain=pci[0], pci_bus=pci[1], pci_slot=pci[2], pci_function=pci[3]
        )
    row.update(kw)
    if row["alias"] is not None and "user_alias" not in kw:
        row["user_alias"] = row["alias"].startswith("ua-")
    return row


def ctl(type_: str, index: int | None, **kw: Any) -> dict[str, Any]:
    return dev("controller", type=type_, index=index, **kw)


# fmt: off
EXPECTED_DEVICES: dict[str, list[dict[str, Any]]] = {
    Q35: [
        # 0: rbd disk: auth at disk level, tls='yes' on <source>, <privateData><objects>; <source index>
        # and <target dev> are not the device's index/target
        dev("disk", (0, 4, 0, 0), type="network", alias="ua-boot-disk", user_alias=True,
            has_auth=True, has_tls=True, has_private_objects=True),
        # 1: encryption inside <source>; <privateData> without <objects>
        dev("disk", (0, 5, 0, 0), type="file", alias="virtio-disk1", has_encryption=True),
        # 2: auth inside <source>, tls='no'
        dev("disk", type="network", alias="sata0-0-0", address_type="drive", has_auth=True),
        ctl("pci", 0, model="pcie-root", alias="pcie.0"),
        ctl("pci", 1, pci=(0, 0, 2, 0), model="pcie-root-port", model_name="pcie-root-port", alias="pci.1",
            multifunction=True, target_chassis=1, target_port=16, target_hotplug="off"),
        # attributes in another order, double quotes, whitespace around '='
        ctl("pci", 2, pci=(0, 0, 2, 1), model="pcie-root-port", model_name="pcie-root-port",
            alias="ua-rootport2", target_chassis=2, target_port=17),
        ctl("pci", 3, pci=(0, 1, 0, 0), model="pcie-to-pci-bridge", model_name="pcie-pci-bridge",
            alias="pci.3"),
        # <target chassisNr> is not <target chassis>; multifunction='off'
        ctl("pci", 4, pci=(0, 3, 1, 0), model="pci-bridge", model_name="pci-bridge", alias="pci.4",
            multifunction=False),
        ctl("usb", 0, pci=(0, 2, 0, 0), model="qemu-xhci", alias="usb"),
        ctl("sata", 0, pci=(0, 0, 31, 2), alias="ide"),
        ctl("virtio-serial", 0, pci=(0, 6, 0, 0), alias="virtio-serial0"),
        ctl("scsi", 0, pci=(0, 7, 0, 0), model="virtio-scsi", alias="scsi0"),
        dev("interface", (0, 8, 0, 0), type="network", model="virtio", alias="net0", has_actual=True),
        # the <source><address> (bus 0x3b) comes first and is not the device address
        dev("interface", (0, 9, 0, 0), type="hostdev", managed="yes", alias="hostdev0"),
        dev("hostdev", (0, 10, 0, 0), type="pci", managed="yes", alias="hostdev1", has_origstates=True),
        dev("hostdev", type="usb", managed="no", alias="hostdev2", address_type="usb"),
        # only a <source><address type='pci'>: no device address at all
        dev("hostdev", type="pci", managed="no", alias="ua-gpu"),
        dev("video", (0, 0, 1, 0), model="virtio", alias="video0", video_device="virtio-vga"),
        dev("video", (0, 11, 0, 0), model="virtio", alias="video1"),
        dev("memory", model="dimm", alias="dimm0", address_type="dimm", dimm_slot=0),
        dev("memory", model="dimm", alias="ua-dimm-hex", address_type="dimm", dimm_slot=1),
        # character devices: <target port> and <target><model name> are not controller/ device fields
        dev("serial", type="pty", alias="serial0"),
        dev("console", type="pty", alias="serial0"),
        dev("channel", type="unix", alias="channel0", address_type="virtio-serial"),
        dev("input", type="tablet", alias="input0", address_type="usb"),
        dev("input", type="mouse"),
        dev("input", type="keyboard"),
        dev("graphics", type="vnc"),
        dev("sound", (0, 0, 27, 0), model="ich9", alias="sound0"),
        dev("audio", type="none"),
        dev("watchdog", (0, 12, 0, 0), model="i6300esb", alias="watchdog0"),
        dev("memballoon", model="none"),
        dev("rng", (0, 13, 0, 0), model="virtio", alias="rng0"),
        dev("tpm", model="tpm-crb", alias="tpm0", has_encryption=True),
        dev("shmem", (0, 14, 0, 0), model="ivshmem-plain", alias="shmem0"),  # <model type=...>
        dev("redirdev", type="spicevmc", alias="redir0", address_type="usb"),
        dev("smartcard", type="spicevmc", alias="smartcard0", address_type="ccid"),
        dev("panic", model="isa", address_type="isa"),
        dev("iommu", model="intel", alias="iommu0"),
        dev("vsock", (0, 15, 0, 0), model="virtio", alias="vsock0"),
        dev("hub", type="usb", alias="hub0", address_type="usb"),
        dev("filesystem", (0, 16, 0, 0), type="mount", alias="fs0"),
        dev("lease"),
    ],
    PPC: [
        dev("disk", type="file", address_type="drive"),
        ctl("pci", 0, model="pci-root", model_name="spapr-pci-host-bridge", target_index=0),
        # attributes spread over lines with a tab, spaces around '=', whitespace before '>'
        ctl("pci", 1, model="pci-root", model_name="spapr-pci-host-bridge", target_index=1, alias="ua-phb1"),
        ctl("scsi", 0, model="ibmvscsi", address_type="spapr-vio"),
        ctl("usb", 0, pci=(0, 0, 3, 0), model="pci-ohci"),
        dev("interface", type="bridge", model="spapr-vlan", address_type="spapr-vio"),
        dev("interface", (1, 0, 1, 0), type="network", model="virtio"),
        dev("serial", type="pty", address_type="spapr-vio"),
        dev("console", type="pty", address_type="spapr-vio"),
        dev("video", (0, 0, 5, 0), model="virtio"),  # no <model device>
        dev("input", type="keyboard"),
        dev("memballoon", (0, 0, 6, 0), model="virtio"),
        dev("panic", model="pseries"),
        dev("tpm", model="tpm-spapr", address_type="spapr-vio"),
        dev("memory", model="dimm", address_type="dimm", dimm_slot=8),  # slot='010' is octal
    ],
    I440FX: [
        ctl("pci", 0, model="pci-root", alias="ua-MyPCIRoot"),
        ctl("ide", 0, pci=(0, 0, 1, 1)),
        ctl("fdc", 0),
        ctl("isa", 0, model_name="isa-bus"),
        ctl("usb", 0, pci=(0, 0, 1, 2), model="piix3-uhci"),
        ctl("ccid", 0, address_type="usb"),
        ctl("xenbus", 0),
        # index='010' octal 8; domain='0' bus='00' slot='0X0a' function='07'
        ctl("pci", 8, pci=(0, 0, 10, 7), model="pci-bridge", model_name="pci-bridge", multifunction=True),
        # index='08' invalid octal; domain above u32; bus=''; slot=UINT32_MAX; function='0x'
        ctl("virtio-serial", None, address_type="pci", pci_slot=4294967295),
        # index above u32; target chassis='0x0A' port='010'; multifunction='maybe' is neither on nor off
        ctl("pci", None, pci=(0, 0, 11, 0), model="pcie-root-port", model_name="pcie-root-port",
            target_index=19, target_chassis=10, target_port=8, target_hotplug="on"),
        dev("disk", type="file", address_type="drive"),
        dev("parallel", type="pty"),
        dev("sound", (0, 0, 4, 0), model="ac97"),
        dev("watchdog", model="ib700"),
        dev("smartcard", address_type="ccid"),
        dev("memballoon", (0, 0, 5, 0), model="virtio"),
    ],
    MIN_DOMAIN: [],
    MIN_STATUS: [
        ctl("pci", 0, model="pci-root", alias="pci.0"),
        dev("memballoon", (0, 0, 3, 0), model="virtio", alias="balloon0"),
    ],
}
# fmt: on


@pytest.mark.parametrize("name", FILES)
def test_device_rows(tables: dict[str, pl.DataFrame], name: str) -> None:
    got = by_file(tables["devices"], name).sort("ordinal")
    expected = EXPECTED_DEVICES[name]
    assert got["element"].to_list() == [e["element"] for e in expected], "device elements / order"
    assert got["ordinal"].to_list() == list(range(len(expected)))
    assert set(got["host"]) <= {"devices"}
    problems = []
    for row, exp in zip(got.to_dicts(), expected, strict=True):
        diff = {k: (row[k], v) for k, v in exp.items() if row[k] != v}
        if diff:
            problems.append(f"  ordinal {row['ordinal']} <{row['element']}>: (got, expected) {diff}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_device_count_matches_device_rows(tables: dict[str, pl.DataFrame]) -> None:
    counts = tables["devices"].group_by("path").len()
    for row in tables["domains"].iter_rows(named=True):
        n = counts.filter(pl.col("path") == row["path"])["len"].sum()
        assert row["device_count"] == n, row["path"]


def test_metadata_decoys_are_not_devices(tables: dict[str, pl.DataFrame]) -> None:
    """<app:devices>, <ns:devices>, <ns:disk> and a default-namespace <devices> in <metadata>."""
    dev_ = tables["devices"]
    aliases = set(dev_["alias"].drop_nulls())
    assert not aliases & {"virtio-disk99", "metadata-disk"}
    assert by_file(dev_, PPC).filter(pl.col("index") == 9).height == 0
    assert by_file(dev_, Q35).filter(pl.col("element") == "disk").height == 3
    assert by_file(dev_, PPC).filter(pl.col("element") == "disk").height == 1


def test_q35_selected_rows_directly(tables: dict[str, pl.DataFrame]) -> None:
    """A few rows spelled out once more without the helpers, as a reader would check them."""
    root_port = device(tables, Q35, 4)
    assert root_port["element"] == "controller"
    assert root_port["model"] == "pcie-root-port"
    assert root_port["model_name"] == "pcie-root-port"
    assert (
        root_port["pci_domain"],
        root_port["pci_bus"],
        root_port["pci_slot"],
        root_port["pci_function"],
    ) == (
        0,
        0,
        2,
        0,
    )
    assert root_port["multifunction"] is True
    assert (root_port["target_chassis"], root_port["target_port"], root_port["target_hotplug"]) == (
        1,
        16,
        "off",
    )
    bridge = device(tables, Q35, 7)
    assert bridge["target_chassis"] is None  # chassisNr
    vf = device(tables, Q35, 13)
    assert (vf["type"], vf["managed"], vf["pci_bus"]) == ("hostdev", "yes", 9)  # not the source's 0x3b
    gpu = device(tables, Q35, 16)
    assert gpu["address_type"] is None and gpu["pci_bus"] is None
    balloon = device(tables, Q35, 31)
    assert (balloon["element"], balloon["model"], balloon["alias"]) == ("memballoon", "none", None)
    serial = device(tables, Q35, 21)
    assert serial["target_port"] is None and serial["model_name"] is None


# --------------------------------------------------------------------------------------------------
# caps, live aliases, secrets


def test_caps(tables: dict[str, pl.DataFrame]) -> None:
    assert by_file(tables["caps"], Q35)["flag"].to_list() == [
        "kvm",
        "device-alias",
        "blockdev",
        "virtio-vga",
        "pcie-root-port",
    ]
    assert set(tables["caps"]["path"]) == {str(FIXTURES / Q35)}
    assert set(tables["caps"]["host"]) == {"devices"}


def test_live_aliases(tables: dict[str, pl.DataFrame]) -> None:
    assert by_file(tables["live_aliases"], Q35)["alias"].to_list() == [
        "ua-boot-disk",
        "virtio-disk1",
        "pci.1",
        "ua-rootport2",
        "net0",
        "hostdev0",
        "ua-<lt>A",
        "video0",
    ]
    assert set(tables["live_aliases"]["path"]) == {str(FIXTURES / Q35)}


def test_secrets_never_in_any_table(tables: dict[str, pl.DataFrame]) -> None:
    planted = (FIXTURES / Q35).read_text().count(SECRET_MARK)
    assert planted >= 8, "the fixture should plant secrets for this test to mean anything"
    for name, df in tables.items():
        for col, dtype in df.schema.items():
            if dtype == pl.String:
                hits = df.filter(pl.col(col).str.to_lowercase().str.contains(SECRET_MARK, literal=True))
                assert hits.height == 0, f"secret leaked into {name}.{col}: {hits[col].to_list()[:3]}"
    for forbidden in ("opaque-lock-state", "web-space", "web-key"):  # plain text of non-device elements
        for df in tables.values():
            for col, dtype in df.schema.items():
                if dtype == pl.String:
                    assert not df[col].drop_nulls().str.contains(forbidden, literal=True).any()


def test_scan_repr_has_no_secrets(scan: Callable[..., Any]) -> None:
    result = scan(*fixture_paths())
    assert_files_seen(scan_tables(result), len(FILES))
    for text in (repr(result), str(result), getattr(result, "_repr_html_", lambda: "")()):
        assert SECRET_MARK not in text.lower()


def test_scanner_matches_reference_on_these_fixtures(scan: Callable[..., Any]) -> None:
    paths = fixture_paths()
    got = scan_tables(scan(*paths))
    ref = extract([Path(p) for p in paths])
    assert_files_seen(got, len(paths))
    for table in ("domains", "devices", "caps", "live_aliases", "errors"):
        assert_frames_match(got[table], ref[table], table, exclude=("message", "line", "column"))


def test_scan_batches_drops_a_batch_before_building_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the caller may hold a batch while the next one is scanned: two alive double peak memory."""
    import weakref

    import polars as pl
    import virtaudit
    from virtaudit import _core, scanning

    class Tables(dict[str, pl.DataFrame]):
        """The core's tables of one batch (a dict subclass, so it can be watched with a weak reference)."""

    empty = {name: pl.DataFrame({"path": pl.Series([], dtype=pl.String)}) for name in scanning.TABLE_NAMES}
    alive: list[weakref.ref[object]] = []

    class Scanner:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.left = 3

        def next_batch(self, batch_files: int) -> Tables | None:
            assert all(ref() is None for ref in alive), "a previous batch is still referenced"
            if not self.left:
                return None
            self.left -= 1
            tables = Tables(empty)
            alive.append(weakref.ref(tables))
            return tables

    monkeypatch.setattr(_core, "Scanner", Scanner)
    batches = 0
    for batch in virtaudit.scan_batches("anything", batch_files=1):
        alive.append(weakref.ref(batch))
        batches += 1
        del batch
    assert batches == 3


def test_scan_batches_keeps_only_the_caps_flags_asked_for() -> None:
    import virtaudit

    fleet = TESTS_DIR.parent / "examples" / "fleet"
    full = virtaudit.scan(fleet)
    wanted = ["pci-multibus", "kvm", "no-such-flag"]
    batches = list(virtaudit.scan_batches(fleet, batch_files=7, caps_flags=wanted))
    caps = pl.concat([b.caps for b in batches])
    domains = pl.concat([b.domains for b in batches])
    expected = full.caps.filter(pl.col("flag").is_in(wanted))
    assert expected.height > 10, "the fleet should carry some of these flags"
    assert caps.sort(["path", "flag"]).equals(expected.sort(["path", "flag"]))
    # caps_count still counts every flag of the file, not the rows kept.
    assert domains.sort("path").equals(full.domains.sort("path"))
