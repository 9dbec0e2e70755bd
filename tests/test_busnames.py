"""The bus-name model against libvirt's own command lines, the doc's tables, and versions."""

from __future__ import annotations

import csv
import itertools
import os
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from virtaudit.busnames import (
    MULTIBUS,
    RESTART,
    ROOT_MODELS,
    bus_after_restart,
    bus_in_qemu,
    buses,
    default_root_model,
    machine_matches,
    multibus,
    root_bus,
    root_facts,
)
from virtaudit.versions import (
    NEWEST_KEY,
    LibvirtVersion,
    QemuVersion,
    libvirt_key,
    libvirt_label,
    qemu_number,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules"


def corpus_dir() -> Path:
    env = os.environ.get("VIRTAUDIT_CORPUS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "libvirt-7.10"


def manifest_rows() -> list[dict[str, str]]:
    manifest = corpus_dir() / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"libvirt corpus not found at {corpus_dir()}: set VIRTAUDIT_CORPUS or lay out ../shared")
    with manifest.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------------------------------
# Ground truth: libvirt 7.10's own .args files


def test_root_bus_matches_every_libvirt_7_10_command_line() -> None:
    rows = [r for r in manifest_rows() if r["observed_root_bus"]]
    assert len(rows) > 500, "the manifest should have hundreds of (.xml, .args) pairs with a root bus"
    mismatches = []
    for row in rows:
        # The two files without <os><type> ran on the test host's default arch, x86_64.
        arch = row["arch"] or "x86_64"
        predicted = root_bus(arch, row["machine"] or None, row["root_model"] or None, libvirt="7.10.0")
        if predicted != row["observed_root_bus"]:
            mismatches.append((row["path"], row["args_variant"], arch, row["machine"], predicted))
    assert mismatches == [], f"{len(mismatches)} of {len(rows)} rows mismatch: {mismatches[:10]}"


def test_manifest_rows_without_arch_are_the_host_default_ones() -> None:
    no_arch = [r for r in manifest_rows() if r["observed_root_bus"] and not r["arch"]]
    assert {Path(r["path"]).name for r in no_arch} == {
        "default-kvm-host-arch.xml",
        "default-qemu-host-arch.xml",
    }


def test_user_alias_on_pci_root_is_rendered_pci_0_on_7_10() -> None:
    (row,) = [r for r in manifest_rows() if r["root_alias_xml"] == "ua-MyPCIRootController"]
    assert row["observed_root_bus"] == "pci.0"
    assert bus_after_restart(row["arch"], row["machine"], "pci-root", 0, "ua-MyPCIRootController") == "pci.0"


# ---------------------------------------------------------------------------------------------------
# Older releases' own command lines and the §1.5 table


@pytest.mark.parametrize(("arch", "machine"), [("ppc64", "pseries"), ("ppc", "ppce500")])
def test_libvirt_3_1_emitted_bus_pci_for_ppc_with_unknown_qemu(arch: str, machine: str) -> None:
    assert root_bus(arch, machine, libvirt="3.1.0") == "pci"
    assert root_bus(arch, machine, libvirt="3.1.0", qemu="2.5.0") == "pci.0"
    # 3.2.0 changed the tests to fake a QEMU version (3a37af1e): with one, pci.0.
    assert root_bus(arch, machine, libvirt="3.2.0", qemu="2.8.0") == "pci.0"


ROOT_BUS_CASES = [
    # arch, machine, root_model, libvirt, qemu, expected
    ("x86_64", "pc-i440fx-2.9", None, None, None, "pci.0"),
    ("i686", "pc", None, "1.2.16", None, "pci.0"),
    ("x86_64", "rhel6.5.0", None, None, None, "pci.0"),
    ("x86_64", "pc-q35-6.2", None, None, None, "pcie.0"),
    ("x86_64", "q35", "pcie-root", "3.10.0-rc1", None, "pcie.0"),
    ("x86_64", "isapc", None, None, None, None),
    ("x86_64", "microvm", None, None, None, None),
    # 3.10.0-rc1 recomputed every pci-root after a restart with qemuCaps->arch unset.
    ("x86_64", "pc-i440fx-2.9", None, "3.10.0-rc1", None, "pci"),
    ("x86_64", "pc-i440fx-2.9", None, "3.10.0-rc1", "2.10.0", "pci.0"),
    ("x86_64", "pc-i440fx-2.9", None, "3.10.0-rc2", None, "pci.0"),
    ("x86_64", "pc-i440fx-2.9", None, "3.10.0", None, "pci.0"),
    # pSeries: QEMU >= 2.0; unknown = 0 before 3.10, new enough from 3.10; always from 7.4.
    ("ppc64", "pseries-2.7", None, "3.9.0", None, "pci"),
    ("ppc64", "pseries-2.7", None, "3.10.0", None, "pci.0"),
    ("ppc64le", "pseries", None, "5.0.0", "1.7.0", "pci"),
    ("ppc64le", "pseries", None, "7.3.0", "1.7.0", "pci"),
    ("ppc64le", "pseries", None, "7.4.0", "1.7.0", "pci.0"),
    ("ppc64", "pseries-5.0", None, None, None, "pci.0"),
    # 32-bit PPC machines
    ("ppc", "ppce500", None, "5.0.0", "1.5.0", "pci"),
    ("ppc", "ppce500", None, "5.0.0", "1.6.0", "pci.0"),
    ("ppc", "ppce500", None, "3.10.0", None, "pci.0"),
    ("ppc", "bamboo", None, "4.7.0", "1.0.0", "pci"),
    ("ppc", "bamboo", None, "4.8.0", "1.0.0", "pci.0"),
    ("ppc", "prep", None, "4.7.0", "1.3.0", "pci"),
    ("ppc", "prep", None, "4.7.0", "1.4.0", "pci.0"),
    ("ppc", "mpc8544ds", None, "2.0.0", None, "pci.0"),
    ("ppc", "mac99", None, "7.3.0", "1.7.0", "pci"),
    ("ppc", "g3beige", None, "7.3.0", "2.0.0", "pci.0"),
    ("ppc", "mac99", None, None, None, "pci.0"),
    # doc 6.1: every 32-bit ppc machine has a pci-root from 3.0.0 on; before, the "no pci" boards had none
    ("ppc", "ref405ep", None, None, None, "pci.0"),
    ("ppc", "ref405ep", None, "2.5.0", None, None),
    # doc 6.1: ppcemb is multibus from 10.4.0 ("any PPC arch"), not before
    ("ppcemb", "bamboo", None, None, None, "pci.0"),
    ("ppcemb", "bamboo", None, "9.10.0", None, "pci"),
    # ARM and RISC-V virt: pcie-root; virt from 1.2.19, virt-* from 1.3.4
    ("aarch64", "virt", None, None, None, "pcie.0"),
    ("aarch64", "virt-4.2", None, "7.10.0", None, "pcie.0"),
    ("armv7l", "virt", None, "1.2.19", None, "pcie.0"),
    ("aarch64", "virt-2.6", None, "1.3.3", None, "pci"),
    ("aarch64", "virt-2.6", None, "1.3.4", None, "pcie.0"),
    ("aarch64", "virt", None, "1.2.18", None, None),
    ("armv7l", "vexpress-a9", None, None, None, None),
    ("armv6l", "versatilepb", None, None, None, "pci"),
    ("riscv64", "virt", None, "5.0.0", None, None),
    ("riscv64", "virt", None, "5.1.0", None, "pcie.0"),
    ("riscv32", "virt", None, None, None, "pcie.0"),
    # s390: a root only from 4.10 (zPCI)
    ("s390x", "s390-ccw-virtio", None, "4.9.0", None, None),
    ("s390x", "s390-ccw-virtio", None, "4.10.0", None, "pci.0"),
    ("s390x", "s390-ccw-virtio-2.7", "pci-root", "7.10.0", None, "pci.0"),
    # machines without multibus
    ("sparc64", "sun4u", None, None, None, "pci"),
    ("alpha", "clipper", None, None, None, "pci"),
    ("sh4", "r2d", None, None, None, "pci"),
    ("mips64el", "malta", None, None, None, "pci"),
    ("mips64el", "malta", None, "7.10.0", None, None),
    # loongarch64 (doc 6.1): virt machines get a pcie-root from 10.2.0, multibus (pcie.0)
    ("loongarch64", "virt", None, None, None, "pcie.0"),
    ("loongarch64", "virt", None, "10.1.0", None, None),
    # explicit root model wins over the machine default
    ("x86_64", "pc", "pcie-root", None, None, "pcie.0"),
    ("x86_64", "pc", "pcie-root-port", None, None, None),
    # unknown arch
    (None, None, None, None, None, None),
    ("x86_64", None, None, None, None, "pci.0"),
]


@pytest.mark.parametrize(("arch", "machine", "model", "libvirt", "qemu", "expected"), ROOT_BUS_CASES)
def test_root_bus_table(
    arch: str | None,
    machine: str | None,
    model: str | None,
    libvirt: str | None,
    qemu: str | None,
    expected: str | None,
) -> None:
    assert root_bus(arch, machine, model, libvirt=libvirt, qemu=qemu) == expected


def test_releases_before_1_2_16_are_refused() -> None:
    with pytest.raises(ValueError, match=r"1\.2\.16"):
        root_bus("x86_64", "pc", libvirt="1.2.15")


def test_multibus_and_default_root_model() -> None:
    assert multibus("x86_64", "pc")
    assert not multibus("sparc64", "sun4u")
    assert multibus("ppc64", "pseries", libvirt="7.3.0", qemu="2.0.0")
    assert not multibus("ppc64", "pseries", libvirt="7.3.0", qemu="1.7.2")
    assert default_root_model("x86_64", "pc-q35-2.10") == "pcie-root"
    assert default_root_model("ppc64", "pseries") == "pci-root"
    assert default_root_model("s390x", "s390-ccw-virtio", libvirt="4.9.0") is None


def test_tables_are_small_data_with_valid_versions() -> None:
    for row in (*ROOT_MODELS, *MULTIBUS):
        LibvirtVersion.parse(row.since)
        if row.until is not None:
            assert LibvirtVersion.parse(row.since) < LibvirtVersion.parse(row.until)
    windows = [
        (libvirt_key(r.since), NEWEST_KEY + 1 if r.until is None else libvirt_key(r.until)) for r in RESTART
    ]
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert end == start, "RESTART windows must be contiguous"


@pytest.mark.parametrize(
    ("machine", "patterns", "expected"),
    [
        ("pc-i440fx-2.9", ("pc", "pc-i440fx-*"), True),
        ("pc-q35-2.9", ("pc", "pc-i440fx-*"), False),
        ("pc", ("pc",), True),
        ("pcx", ("pc",), False),
        (None, ("pc",), False),
        (None, (), True),
    ],
)
def test_machine_matches(machine: str | None, patterns: tuple[str, ...], expected: bool) -> None:
    assert machine_matches(machine, patterns) is expected


# ---------------------------------------------------------------------------------------------------
# after a restart


RESTART_CASES = [
    # arch, machine, model, index, alias, target_index, libvirt, expected
    ("x86_64", "pc", "pci-root", 0, "pci.0", None, None, "pci.0"),
    ("x86_64", "pc", "pci-root", 0, "ua-root", None, None, "pci.0"),
    ("x86_64", "pc", "pci-root", 0, "ua-root", None, "3.9.0", "ua-root"),
    ("x86_64", "pc", "pci-root", 0, "pci.0", None, "3.10.0-rc1", "pci"),
    ("x86_64", "pc", "pci-root", 0, None, None, "3.10.0-rc1", "pci"),
    ("x86_64", "pc", "pci-root", 0, None, None, None, None),
    ("x86_64", "q35", "pcie-root", 0, "ua-root", None, None, "pcie.0"),
    ("x86_64", "q35", "pcie-root-port", 1, "pci.1", None, None, "pci.1"),
    ("x86_64", "q35", "pcie-root-port", 1, "ua-port", None, None, "ua-port"),
    ("ppc64", "pseries", "pci-root", 0, "ua-root", 0, None, "pci.0"),  # translated from 10.4.0 (doc 6.1)
    ("ppc64", "pseries", "pci-root", 0, "ua-root", 0, "9.10.0", "ua-root"),
    ("ppc64", "pseries", "pci-root", 0, "pci.0", 0, "3.10.0-rc1", "pci.0"),
    ("ppc64", "pseries", "pci-root", 1, "pci.1", 1, None, "pci.1.0"),
    ("ppc64", "pseries", "pci-root", 1, "pci.1", None, None, "pci.1"),
    ("ppc", "ppce500", "pci-root", 0, "ua-r", None, "5.0.0", "pci.0"),
    ("ppc", "ppce500", "pci-root", 0, "ua-r", None, "3.10.0-rc1", "pci"),
    ("loongarch64", "virt", "pcie-root", 0, "ua-r", None, None, "pcie.0"),
]


@pytest.mark.parametrize(
    ("arch", "machine", "model", "index", "alias", "target_index", "libvirt", "expected"), RESTART_CASES
)
def test_bus_after_restart(
    arch: str,
    machine: str,
    model: str,
    index: int,
    alias: str | None,
    target_index: int | None,
    libvirt: str | None,
    expected: str | None,
) -> None:
    assert bus_after_restart(arch, machine, model, index, alias, target_index, libvirt=libvirt) == expected


def test_bus_in_qemu() -> None:
    assert bus_in_qemu("x86_64", "pc", "pci-root", 0, "ua-x") == "pci.0"
    assert bus_in_qemu("ppc", "ppce500", "pci-root", 0, "ua-x", qemu="1.5.0") == "pci"
    assert bus_in_qemu("ppc64", "pseries", "pci-root", 2, "pci.2") == "pci.2.0"
    assert bus_in_qemu("x86_64", "q35", "pcie-root-port", 3, "pci.3") == "pci.3"
    # unconfirmed naming: trust the stored alias
    assert bus_in_qemu("loongarch64", "virt", "pcie-root", 0, "pcie.0") == "pcie.0"


def test_root_facts_flags() -> None:
    ppc = root_facts("ppc", "ppce500", "pci-root", libvirt="5.0.0")
    assert ppc.qemu_dependent and ppc.confirmed and not ppc.pseries
    assert not root_facts("ppc", "ppce500", "pci-root", libvirt="5.0.0", qemu="2.0.0").qemu_dependent
    assert not root_facts("ppc", "ppce500", "pci-root", libvirt="7.4.0").qemu_dependent
    assert root_facts("loongarch64", "virt", None).confirmed  # doc 6.1, @10.4.0 and @11.3.0
    assert not root_facts("mips", "malta", None).confirmed  # the root is confirmed, its naming inferred
    assert root_facts("ppc64le", "pseries-6.2").pseries


# ---------------------------------------------------------------------------------------------------
# buses()


def test_buses_table() -> None:
    import virtaudit

    scan = virtaudit.scan(
        FIXTURES / "base-q35.xml", FIXTURES / "pci001-ua-root-pseries.xml", FIXTURES / "pci007-phb-ok.xml"
    )
    table = buses(scan, target_libvirt="9.10.0")  # (pSeries root aliases are translated from 10.4.0)
    assert table.columns == [
        "host",
        "path",
        "guest",
        "index",
        "model",
        "alias",
        "qemu_bus",
        "restart_bus",
        "agrees",
    ]
    assert table.schema["agrees"] == pl.Boolean
    rows = {(r["guest"], r["index"]): r for r in table.iter_rows(named=True)}
    assert rows[("base-q35", 0)]["qemu_bus"] == "pcie.0" and rows[("base-q35", 0)]["agrees"]
    assert rows[("base-q35", 2)]["restart_bus"] == "pci.2"
    bad = rows[("pci001-ua-root-pseries", 0)]
    assert (bad["qemu_bus"], bad["restart_bus"], bad["agrees"]) == ("pci.0", "ua-MyRoot", False)
    phb = rows[("pci007-phb-ok", 1)]
    assert (phb["qemu_bus"], phb["restart_bus"], phb["agrees"]) == ("pci.1.0", "pci.1.0", True)


def test_buses_for_3_10_rc1_disagree_on_i440fx() -> None:
    import virtaudit

    scan = virtaudit.scan(FIXTURES / "base-i440fx.xml", FIXTURES / "base-q35.xml")
    table = buses(scan, target_libvirt="3.10.0-rc1").filter(pl.col("index") == 0)
    assert dict(zip(table["guest"], table["agrees"], strict=True)) == {"base-i440fx": False, "base-q35": True}
    assert table.filter(pl.col("guest") == "base-i440fx")["restart_bus"].item() == "pci"


# ---------------------------------------------------------------------------------------------------
# versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.10.0", LibvirtVersion(3, 10, 0)),
        ("3.10.0-rc1", LibvirtVersion(3, 10, 0, 1)),
        ("v3.10.0-rc2", LibvirtVersion(3, 10, 0, 2)),
        ("7.4", LibvirtVersion(7, 4, 0)),
        ("8", LibvirtVersion(8, 0, 0)),
        ("libvirt 8.0.0", LibvirtVersion(8, 0, 0)),
        ("9.0.0-4+deb12u1", LibvirtVersion(9, 0, 0)),
    ],
)
def test_libvirt_version_parse(text: str, expected: LibvirtVersion) -> None:
    assert LibvirtVersion.parse(text) == expected


def test_libvirt_version_order_and_keys() -> None:
    order = ["1.2.16", "3.9.0", "3.10.0-rc1", "3.10.0-rc2", "3.10.0", "3.10.1", "7.4.0", "12.5.0"]
    versions = [LibvirtVersion.parse(v) for v in order]
    assert sorted(versions) == versions
    keys = [libvirt_key(v) for v in order]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert libvirt_key(None) == libvirt_key("newest") == NEWEST_KEY > keys[-1]
    assert LibvirtVersion.parse("3.10.0-rc1").number == 3_010_000
    assert all(LibvirtVersion.from_key(libvirt_key(v)) == LibvirtVersion.parse(v) for v in order)
    assert [libvirt_label(v) for v in ("3.10.0-rc1", None, "7.4")] == ["3.10.0-rc1", "newest", "7.4.0"]
    assert libvirt_label(NEWEST_KEY) == "newest"


@pytest.mark.parametrize("bad", ["", "x.y", "rc1", "3.10.0-beta", "1000.0.0"])
def test_libvirt_version_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        LibvirtVersion.parse(bad)


def test_qemu_versions() -> None:
    assert qemu_number("2.0.0") == 2_000_000
    assert qemu_number("6.2.0 (Debian 1:6.2+dfsg-2ubuntu6.21)") == 6_002_000
    assert qemu_number("QEMU emulator version 8.2.2") == 8_002_002
    assert qemu_number("2.11") == 2_011_000
    assert qemu_number(None) is None and qemu_number("  ") is None
    assert QemuVersion.parse("1.6.0") < QemuVersion.parse("2.0.0")
    with pytest.raises(ValueError):
        qemu_number("unknown")


# ---------------------------------------------------------------------------------------------------
# properties

ARCHES = [
    "x86_64",
    "i686",
    "ppc",
    "ppc64",
    "ppc64le",
    "ppcemb",
    "aarch64",
    "armv7l",
    "armv6l",
    "s390x",
    "riscv64",
    "sparc64",
    "alpha",
    "mips64el",
    "loongarch64",
    "unknown-arch",
]
MACHINES = [
    "pc",
    "pc-i440fx-6.2",
    "q35",
    "pc-q35-rhel8.6.0",
    "isapc",
    "pseries",
    "pseries-7.2",
    "ppce500",
    "bamboo",
    "virt",
    "virt-10.1",
    "s390-ccw-virtio",
    "sun4u",
    "malta",
    "versatilepb",
    "none",
]


@st.composite
def releases(draw: st.DrawFn) -> str:
    major = draw(st.integers(1, 13))
    minor = draw(st.integers(0, 10))
    micro = draw(st.integers(0, 20))
    rc = draw(st.sampled_from(["", "", "-rc1", "-rc2"]))
    if (major, minor, micro) <= (1, 2, 16):  # the oldest modelled release, not its release candidates
        major, minor, micro, rc = 1, 2, 16, ""
    return f"{major}.{minor}.{micro}{rc}"


@given(
    arch=st.sampled_from(ARCHES),
    machine=st.one_of(st.none(), st.sampled_from(MACHINES), st.text(max_size=12)),
    model=st.sampled_from([None, "pci-root", "pcie-root"]),
    libvirt=st.one_of(st.none(), releases()),
    qemu=st.one_of(st.none(), st.sampled_from(["1.0.0", "1.5.3", "1.6.0", "2.0.0", "2.11.0", "8.2.2"])),
)
@settings(max_examples=300, deadline=None)
def test_root_bus_is_total(
    arch: str, machine: str | None, model: str | None, libvirt: str | None, qemu: str | None
) -> None:
    name = root_bus(arch, machine, model, libvirt=libvirt, qemu=qemu)
    assert name in {None, "pci", "pci.0", "pcie.0"}
    if model == "pcie-root" and name is not None:
        assert name in {"pci", "pcie.0"}
    after = bus_after_restart(arch, machine, model or "pci-root", 0, "pci.0", libvirt=libvirt)
    assert after is not None


@given(a=releases(), b=releases())
def test_version_key_order_matches_tuple_order(a: str, b: str) -> None:
    va, vb = LibvirtVersion.parse(a), LibvirtVersion.parse(b)

    def as_tuple(v: LibvirtVersion) -> tuple[int, int, int, int]:
        return (v.major, v.minor, v.micro, 99 if v.rc is None else v.rc)

    assert (va.key < vb.key) == (as_tuple(va) < as_tuple(vb))
    assert LibvirtVersion.parse(str(va)) == va


# ---------------------------------------------------------------------------------------------------
# libvirt-restart-hazards.md section 6.1, statement by statement, with the release(s) it was checked at.
# Each row: (statement, release checked, function, arguments, expected). Where the doc brackets a change
# between two releases read, both sides are listed.

SECTION_6_1 = [
    (
        "every 32-bit ppc machine gets a pci-root, ref405ep included",
        "3.0.0",
        "model",
        ("ppc", "ref405ep"),
        "pci-root",
    ),
    (
        "every 32-bit ppc machine gets a pci-root, taihu included",
        "11.3.0",
        "model",
        ("ppc", "taihu"),
        "pci-root",
    ),
    ("virtex-ml507 too", "7.10.0", "model", ("ppc", "virtex-ml507"), "pci-root"),
    (
        "every ppc64 machine gets a pci-root, not only pseries",
        "3.0.0",
        "model",
        ("ppc64", "powernv9"),
        "pci-root",
    ),
    ("every ppc64le machine too", "11.3.0", "model", ("ppc64le", "powernv10"), "pci-root"),
    ("armv6l versatilepb: pci-root only from 5.0.0", "4.10.0", "model", ("armv6l", "versatilepb"), None),
    ("armv6l versatilepb: pci-root from 5.0.0", "5.0.0", "model", ("armv6l", "versatilepb"), "pci-root"),
    ("armv7l versatilepb: pci-root from 10.4.0", "10.4.0", "model", ("armv7l", "versatilepb"), "pci-root"),
    ("aarch64 versatilepb: pci-root from 10.4.0", "10.4.0", "model", ("aarch64", "versatilepb"), "pci-root"),
    ("armv7b versatilepb: none before 10.4.0", "9.10.0", "model", ("armv7b", "versatilepb"), None),
    ("armv6l virt: no root before 10.x", "9.10.0", "model", ("armv6l", "virt"), None),
    ("ARM virt roots: without a gpex check by 10.4.0", "10.4.0", "needs", ("aarch64", "virt"), None),
    ("ARM virt roots: gpex checked before", "7.10.0", "needs", ("aarch64", "virt"), "gpex"),
    ("RISC-V virt roots: without a gpex check by 10.4.0", "10.4.0", "needs", ("riscv64", "virt"), None),
    ("ARM multibus: all ARM arches in 1.2.19-2.0.x", "2.0.0", "multibus", ("armv7b", "virt"), True),
    ("ARM multibus: armv7l and aarch64 in 2.1.0-4.10.0", "4.10.0", "multibus", ("armv6l", "virt"), False),
    ("ARM multibus: armv7l and aarch64 in 2.1.0-4.10.0", "2.1.0", "multibus", ("aarch64", "virt"), True),
    ("ARM multibus: armv6l added in 5.0.0", "5.0.0", "multibus", ("armv6l", "virt-4.0"), True),
    ("32-bit sparc: pci-root in 3.0.0-6.9.0", "3.0.0", "model", ("sparc", "SS-5"), "pci-root"),
    ("32-bit sparc: pci-root in 3.0.0-6.9.0", "6.9.0", "model", ("sparc", "SS-5"), "pci-root"),
    ("32-bit sparc: none after 6.9.0", "6.10.0", "model", ("sparc", "SS-5"), None),
    ("mips malta: pci-root from 8.1.0", "8.1.0", "model", ("mipsel", "malta"), "pci-root"),
    ("mips malta: absent @8.0.0", "8.0.0", "model", ("mipsel", "malta"), None),
    ("loongarch64: absent @9.10.0", "9.10.0", "model", ("loongarch64", "virt"), None),
    ("loongarch64 virt: pcie-root @10.4.0", "10.4.0", "model", ("loongarch64", "virt"), "pcie-root"),
    ("loongarch64 virt: multibus @10.4.0", "10.4.0", "multibus", ("loongarch64", "virt"), True),
    ("loongarch64 virt: multibus @11.3.0", "11.3.0", "multibus", ("loongarch64", "virt-9.0"), True),
    (
        "loongarch64: a ua- root is translated to pcie.0",
        "11.3.0",
        "restart",
        ("loongarch64", "virt"),
        "pcie.0",
    ),
    ("ppcle and ppcemb: multibus from 10.4.0", "10.4.0", "multibus", ("ppcle", "any"), True),
    ("ppcemb: multibus from 10.4.0", "10.4.0", "multibus", ("ppcemb", "bamboo"), True),
    ("ppcemb: not multibus before", "9.10.0", "multibus", ("ppcemb", "bamboo"), False),
    (
        "until 5.0.x the i440fx test was the prefix pc-i440",
        "5.0.0",
        "model",
        ("x86_64", "pc-i440zz"),
        "pci-root",
    ),
    ("from 5.1.0 pc-i440fx-* only", "5.1.0", "model", ("x86_64", "pc-i440zz"), None),
    (
        "pSeries default PHB ua- alias: untranslated @9.10.0",
        "9.10.0",
        "restart",
        ("ppc64le", "pseries"),
        "ua-r",
    ),
    (
        "pSeries default PHB ua- alias: translated to pci.0 @10.4.0",
        "10.4.0",
        "restart",
        ("ppc64le", "pseries"),
        "pci.0",
    ),
    (
        "pSeries default PHB ua- alias: translated @11.3.0",
        "11.3.0",
        "restart",
        ("ppc64", "pseries-9.0"),
        "pci.0",
    ),
    (
        "pSeries default PHB ua- alias: 10.0-10.3 not read",
        "10.2.0",
        "confirmed",
        ("ppc64le", "pseries"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("statement", "release", "what", "machine", "expected"), SECTION_6_1, ids=[r[0] for r in SECTION_6_1]
)
def test_section_6_1(
    statement: str, release: str, what: str, machine: tuple[str, str], expected: object
) -> None:
    arch, name = machine
    if what == "model":
        got: object = default_root_model(arch, name, libvirt=release)
    elif what == "needs":
        got = root_facts(arch, name, libvirt=release).default_needs
    elif what == "multibus":
        got = multibus(arch, name, libvirt=release)
    elif what == "confirmed":
        got = root_facts(arch, name, libvirt=release).confirmed
    else:  # the bus a hotplug onto the root uses after a restart, for a ua- alias on the root
        got = bus_after_restart(arch, name, None, 0, "ua-r", 0, libvirt=release)
    assert got == expected, statement
