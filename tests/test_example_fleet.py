"""Checks of the example fleet in examples/fleet, with lxml only (independent of virtaudit itself).

* every HOST/GUEST.xml is well-formed libvirt status XML whose file name is the domain name;
* planted.csv names existing hosts and guests, with known codes and severities;
* a small independent detector finds exactly the planted hazards (and nothing in the healthy guests);
* every string of secrets.txt occurs in the inputs, so that "no output contains a secret" tests mean
  something;
* the benchmark generator (benches/gen_fleet.py) plants exactly the hazards its planted.csv lists.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

etree = pytest.importorskip("lxml.etree")

FLEET = Path(__file__).resolve().parent.parent / "examples" / "fleet"
SEVERITIES = {"critical", "high", "medium", "low", "info"}
CODES = {
    "PCI001",
    "PCI002",
    "PCI003",
    "PCI004",
    "PCI006",
    "ALS001",
    "ALS002",
    "ALS005",
    "ALS006",
    "RST001",
    "RST002",
    "RST004",
    "PCI010",
    "RST011",
    "RST014",
    "CAP001",
    "CAP002",
    "CAP003",
    "CAP004",
}
# PCI controller models whose bus takes hotplugs: one QEMU's live list lacks is drift (ALS005), and PCI010 as
# well when the list holds an id of a controller's form (pci.N, ua-...) that no device carries (renamed)
HOTPLUG_BUS_MODELS = ("pci-bridge", "pcie-root-port", "pcie-switch-downstream-port", "pcie-to-pci-bridge")


def fleet_files() -> list[Path]:
    return sorted(FLEET.glob("*/*.xml"))


def parse(path: Path):
    return etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()


def planted_rows() -> list[dict[str, str]]:
    with open(FLEET / "planted.csv", newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------------------
# a deliberately small, independent detector for the planted features
# --------------------------------------------------------------------------------------------------


def _machine_family(arch: str, machine: str) -> str:
    if arch in ("x86_64", "i686"):
        if machine == "q35" or machine.startswith("pc-q35-"):
            return "q35"
        return "i440fx"
    if arch.startswith("ppc64") and machine.startswith("pseries"):
        return "pseries"
    if arch in ("aarch64", "armv7l") and (machine == "virt" or machine.startswith("virt-")):
        return "virt"
    if machine.startswith("s390-ccw"):
        return "s390"
    return "other"


def _pci_ctrls(domain) -> list:
    return domain.findall("devices/controller[@type='pci']")


def _alias(el) -> str | None:
    a = el.find("alias")
    return None if a is None else a.get("name")


def _not_device_backed(el, family: str) -> bool:
    """Devices that QEMU has built in (no -device), so they are absent from <domstatus><devices>."""
    tag = el.tag
    if tag == "console":  # mirrors serial0 (or is sclp console0, which *is* -device: handled below)
        return el.find("target").get("type") != "sclp"
    if tag == "controller":
        t, idx = el.get("type"), el.get("index")
        if t == "pci" and el.get("model") in ("pci-root", "pcie-root") and idx == "0":
            return True
        if t == "ide" and family == "i440fx":
            return True
        if t == "sata" and idx == "0" and family == "q35":
            return True
        if t == "fdc":
            return True
    if tag == "input" and el.get("bus") == "ps2":
        return True
    if tag == "serial" and el.find("target").get("type") == "system-serial":  # pl011
        return True
    return tag in ("nvram", "panic")


def _live_list_codes(root, domain, devices: list, ctrls: list, family: str) -> set[str]:
    """ALS005 and PCI010: QEMU's live device list against the definition."""
    live_el = root.find("devices")
    if live_el is None:
        return set()
    codes: set[str] = set()
    live = {d.get("alias") for d in live_el.findall("device")}
    in_domain = {_alias(el) for el in devices} - {None}
    zpci = {f"zpci{int(z.get('uid'), 16)}" for z in domain.iter("zpci")}
    ports = {_alias(c) for c in ctrls if c.get("model") in HOTPLUG_BUS_MODELS} - {None}
    backed = {_alias(el) for el in devices if not _not_device_backed(el, family)} - {None}
    orphans = live - in_domain - zpci
    if orphans or (backed - live):
        codes.add("ALS005")
    if (ports - live) and any(re.fullmatch(r"pci\.\d+|ua-.+", o) for o in orphans):
        codes.add("PCI010")
    return codes


def detect(root) -> set[str]:  # noqa: C901 (one flat check per planted hazard, kept independent of the rules)
    codes: set[str] = set()
    domain = root.find("domain")
    ostype = domain.find("os/type")
    family = _machine_family(ostype.get("arch"), ostype.get("machine"))
    devices = [el for el in domain.find("devices") if el.tag is not etree.Comment and el.tag != "emulator"]
    ctrls = _pci_ctrls(domain)
    pci_root = next((c for c in ctrls if c.get("index") == "0"), None)

    if pci_root is not None:
        alias = _alias(pci_root)
        if alias and alias.startswith("ua-"):
            codes.add("PCI001")
        elif alias is not None:
            expected = "pcie.0" if pci_root.get("model") == "pcie-root" else "pci.0"
            if alias != expected:
                codes.add("PCI002")
        if family == "q35" and pci_root.get("model") == "pci-root":
            codes.add("PCI006")
    if any(_alias(c) is None for c in ctrls):
        codes.add("PCI003")
    indexes = {int(c.get("index")) for c in ctrls}
    for el in devices:
        addr = el.find("address")
        if addr is not None and addr.get("type") == "pci" and int(addr.get("bus"), 16) not in indexes:
            codes.add("PCI004")

    ua = Counter()
    gen = Counter()
    for el in devices:
        a = _alias(el)
        if a is None:
            continue
        if a.startswith("ua-"):
            ua[a] += 1
        elif el.tag != "console" and not (el.tag == "controller" and el.get("type") == "usb"):
            gen[a] += 1
    if any(n > 1 for n in ua.values()):
        codes.add("ALS001")
    if any(n > 1 for n in gen.values()):
        codes.add("ALS002")

    codes |= _live_list_codes(root, domain, devices, ctrls, family)

    for mem in domain.findall("devices/memory[@model='dimm']"):
        m = re.fullmatch(r"dimm(\d+)", _alias(mem) or "")
        addr = mem.find("address")
        if m and addr is not None and int(m.group(1)) != int(addr.get("slot")):
            codes.add("ALS006")

    caps = root.find("qemuCaps")
    if caps is None:
        codes.add("RST001")
    else:
        flags = {f.get("name") for f in caps}
        if flags & {"kqemu", "enable-kqemu"}:  # names every release from 5.3.0 on rejects
            codes.add("CAP001")
        if "blockdev" not in flags:
            codes.add("CAP002")
        if "device.json" in flags and "device.json+hotplug" not in flags:
            codes.add("CAP003")
        if "secret" not in flags:
            codes.add("CAP004")
    if root.find("dbusDaemon") is not None:
        codes.add("RST011")
    if any(
        d.find("source").get("actualType") is None for d in domain.findall("devices/disk[@type='volume']")
    ):
        codes.add("RST014")
    if root.get("state") == "shutoff" or (
        root.get("state") == "paused" and root.get("reason") == "starting up"
    ):
        codes.add("RST002")
    for model in domain.findall("devices/video/model"):
        if model.get("type") == "virtio" and model.get("device") is None:
            codes.add("RST004")
    return codes


# --------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------


def test_fleet_shape() -> None:
    files = fleet_files()
    hosts = {p.parent.name for p in files}
    assert 25 <= len(files) <= 40, len(files)
    assert len(hosts) >= 5
    for p in files:
        assert re.fullmatch(r"hv-[a-z0-9]+-\d\d", p.parent.name), p


@pytest.mark.parametrize("path", fleet_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_file_is_wellformed_status_xml(path: Path) -> None:
    root = parse(path)
    assert root.tag == "domstatus"
    assert root.get("state") in ("running", "paused")
    domain = root.find("domain")
    assert domain is not None
    assert domain.findtext("name") + ".xml" == path.name
    assert domain.find("os/type").get("arch") in ("x86_64", "ppc64le", "aarch64", "s390x")
    assert root.find("monitor") is not None and root.find("vcpus") is not None
    caps = root.find("qemuCaps")
    if caps is not None:
        assert 100 <= len(caps) <= 300, len(caps)
        assert "pci-multibus" not in {f.get("name") for f in caps}
    # every device that is not graphics/audio/emulator/panic carries an alias
    for el in domain.find("devices"):
        if el.tag in ("emulator", "graphics", "audio", "panic"):
            continue
        if el.tag == "controller" and el.get("type") == "pci" and el.get("model") == "pci-bridge":
            continue  # lab-bridge's bridge lost its alias on purpose (PCI003)
        assert el.find("alias") is not None, (path, el.tag)


def test_planted_csv_refers_to_existing_guests() -> None:
    rows = planted_rows()
    assert rows, "planted.csv is empty"
    assert list(rows[0].keys()) == ["host", "guest", "code", "severity"]
    for r in rows:
        assert (FLEET / r["host"] / f"{r['guest']}.xml").is_file(), r
        assert r["code"] in CODES, r
        assert r["severity"] in SEVERITIES, r
    assert len({(r["host"], r["guest"], r["code"]) for r in rows}) == len(rows), "duplicate rows"
    assert {r["code"] for r in rows} == CODES, "every rule code is planted at least once"


def test_planted_features_present_and_healthy_guests_clean() -> None:
    expected: dict[tuple[str, str], set[str]] = {}
    for r in planted_rows():
        expected.setdefault((r["host"], r["guest"]), set()).add(r["code"])
    mismatches = {}
    for p in fleet_files():
        key = (p.parent.name, p.stem)
        found = detect(parse(p))
        if found != expected.get(key, set()):
            mismatches[key] = (sorted(found), sorted(expected.get(key, set())))
    assert not mismatches, mismatches
    serious = {(r["host"], r["guest"]) for r in planted_rows() if r["severity"] not in ("info", "low")}
    assert len(serious) < len(fleet_files()) / 2, "most guests should be healthy"


def test_root_user_alias_is_info_at_the_newest_target() -> None:
    # x86 roots are translated since 3.10.0, the pSeries default host bridge since 10.4.0 (doc 6.1)
    rows = [r for r in planted_rows() if r["code"] == "PCI001"]
    machines = {
        parse(FLEET / r["host"] / f"{r['guest']}.xml").find("domain/os/type").get("machine") for r in rows
    }
    assert any(m.startswith("pseries") for m in machines) and any(
        not m.startswith("pseries") for m in machines
    )
    assert {r["severity"] for r in rows} == {"info"}


def test_secrets_occur_in_inputs() -> None:
    secrets = [s for s in (FLEET / "secrets.txt").read_text().splitlines() if s]
    assert len(secrets) >= 8
    blob = "\n".join(p.read_text() for p in fleet_files())
    for s in secrets:
        assert s in blob, s
        assert len(s) >= 8
    # each kind of secret is represented
    assert re.search(r"<graphics type='vnc'[^>]* passwd='", blob)
    assert re.search(r"<graphics type='spice'[^>]* passwd='", blob)
    assert "<secret type='ceph' uuid=" in blob and "<secret type='iscsi' uuid=" in blob
    # secrets are not in names that outputs legitimately print
    for p in fleet_files():
        for s in secrets:
            assert s not in str(p.relative_to(FLEET))


def test_pseries_extra_phb_present() -> None:
    found = False
    for p in FLEET.glob("hv-ppc-*/*.xml"):
        for c in parse(p).findall("domain/devices/controller[@type='pci'][@model='pci-root']"):
            if c.get("index") == "1":
                assert c.find("model").get("name") == "spapr-pci-host-bridge"
                assert c.find("target").get("index") == "1"
                assert _alias(c) == "pci.1"
                found = True
    assert found


def test_s390_with_and_without_zpci() -> None:
    with_root = without_root = 0
    for p in FLEET.glob("hv-s390-*/*.xml"):
        root = parse(p)
        if root.find("domain/devices/controller[@type='pci'][@index='0']") is not None:
            with_root += 1
        else:
            without_root += 1
            # no zPCI root is only consistent if the QEMU had no zpci capability
            caps = root.find("qemuCaps")
            if caps is not None:
                assert "zpci" not in {f.get("name") for f in caps}
    assert with_root and without_root


# --------------------------------------------------------------------------------------------------
# the benchmark generator (benches/gen_fleet.py) plants what it records, with the same detector
# --------------------------------------------------------------------------------------------------


def _load_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_fleet", FLEET.parent.parent / "benches" / "gen_fleet.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_generator_planted_hazards_match_detector(tmp_path: Path) -> None:
    gen = _load_generator()
    summary = gen.generate(tmp_path / "a", 300, 6, seed=3, hazard_rate=0.5)
    assert summary["files"] == 300 and summary["hosts"] == 6
    assert summary["min_bytes"] >= 7 * 1024  # a file without <qemuCaps> (RST001) may be a little under 8 KB
    assert summary["max_bytes"] <= 60 * 1024
    expected: dict[tuple[str, str], set[str]] = {}
    with open(tmp_path / "a" / "planted.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        assert r["code"] in CODES and r["severity"] in SEVERITIES
        expected.setdefault((r["host"], r["guest"]), set()).add(r["code"])
    assert len(rows) == summary["planted"] > 100
    files = sorted((tmp_path / "a").glob("host-*/guest-*.xml"))
    assert len(files) == 300
    mismatches = {}
    for p in files:
        root = parse(p)
        assert root.find("domain").findtext("name") == p.stem
        n_dev = sum(
            1 for el in root.find("domain/devices") if el.tag not in ("emulator", "graphics", "audio")
        )
        assert 20 <= n_dev <= 62, (p, n_dev)  # 20-60, plus a device a hazard may add
        found = detect(root)
        if found != expected.get((p.parent.name, p.stem), set()):
            mismatches[p.name] = (sorted(found), sorted(expected.get((p.parent.name, p.stem), set())))
    assert not mismatches, mismatches
    # deterministic: same arguments, same bytes
    gen.generate(tmp_path / "b", 300, 6, seed=3, hazard_rate=0.5)
    for p in files[::25]:
        assert p.read_bytes() == (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes()
