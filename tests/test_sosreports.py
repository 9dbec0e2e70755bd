"""sosreports as operators have them: extracted directories and ``.tar.zst`` archives (issue 19,
"Inputs as operators have them")."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"
GUESTS = sorted(FLEET.glob("hv-x86-01/*.xml"))[:3]

RPMS = b"libvirt-daemon-driver-qemu-9.0.0-10.el9.x86_64\nqemu-kvm-core-8.0.0-16.el9.x86_64\n"
DEBS = b"ii  libvirt0 9.0.0-4 amd64\nii  qemu-system-x86 1:7.2+dfsg-7 amd64\n"


def invoke(*args: str) -> Any:
    from typer.testing import CliRunner
    from virtaudit.cli import get_app

    return CliRunner().invoke(get_app(), [str(a) for a in args])


def extracted(
    top: Path, host: str | None, guests: list[Path], *, layout: str = "modern", packages: bytes = RPMS
) -> Path:
    """An extracted sosreport: ``modern`` (sos 4: sos_commands/host/hostname and a top-level link),
    ``old`` (sos 2/3: sos_commands/general/hostname), ``collect`` (contrib/ansible's collection)."""
    status = top / "run" / "libvirt" / "qemu"
    status.mkdir(parents=True)
    for g in guests:
        (status / g.name).write_bytes(g.read_bytes())
    where = {"modern": "sos_commands/host", "old": "sos_commands/general", "collect": "sos_commands/host"}
    if host is not None:
        (top / where[layout]).mkdir(parents=True)
        (top / where[layout] / "hostname").write_text(host + "\n")
        if layout == "modern":
            os.symlink("sos_commands/host/hostname", top / "hostname")
    if layout == "collect":
        (top / "virtaudit-collect.txt").write_text("collected by contrib/ansible\n")
        (top / "installed-debs").write_bytes(packages)
    else:
        (top / "installed-rpms").write_bytes(packages)
        (top / "sos_logs").mkdir(exist_ok=True)
    # libvirt's persistent config beside it is not read from a sosreport
    (top / "etc" / "libvirt" / "qemu").mkdir(parents=True)
    (top / "etc" / "libvirt" / "qemu" / "x.xml").write_text("<domain/>")
    return top


def audit_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = invoke("audit", *args, "-f", "json", "--fail-on", "none", "-q")
    return result.exit_code, json.loads(result.stdout)


def hosts_of(doc: dict[str, Any]) -> set[str]:
    return {f["host"] for f in doc["findings"]} | {e["host"] for e in doc.get("errors", [])}


def test_two_extracted_sosreports_are_two_hosts_named_from_the_reports(tmp_path: Path) -> None:
    from virtaudit.pipeline import ScanOptions, limits_of, load_scan

    extracted(tmp_path / "cases" / "sosreport-a-1", "hv-a.example.com", GUESTS[:2])
    extracted(tmp_path / "cases" / "sosreport-b-1", "hv-b", GUESTS[2:], layout="old")
    scan, facts = load_scan([str(tmp_path / "cases")], ScanOptions(1, None, limits_of()))
    assert scan.ok, scan.errors
    assert sorted(scan.domains["host"].unique().to_list()) == ["hv-a.example.com", "hv-b"]
    assert scan.domains.height == 3
    assert all("/run/libvirt/qemu/" in p for p in scan.domains["path"].to_list())
    assert facts is not None
    assert sorted(facts.select("host", "libvirt_version", "qemu_version").rows()) == [
        ("hv-a.example.com", "9.0.0", "8.0.0"),
        ("hv-b", "9.0.0", "8.0.0"),
    ]


def test_an_extracted_sosreport_named_directly_and_its_facts_in_the_audit(tmp_path: Path) -> None:
    top = extracted(tmp_path / "sosreport-x", "hv-x", GUESTS)
    code, doc = audit_json(str(top))
    assert code == 0, doc
    assert doc["summary"]["guests"] == len(GUESTS)
    assert hosts_of(doc) <= {"hv-x"}


def test_contrib_ansible_collection_directory_and_archive(tmp_path: Path) -> None:
    top = extracted(tmp_path / "virtaudit-collect-hv9", "hv9", GUESTS, layout="collect", packages=DEBS)
    from virtaudit.pipeline import ScanOptions, limits_of, load_scan

    scan, facts = load_scan([str(top)], ScanOptions(1, None, limits_of()))
    assert scan.ok and set(scan.domains["host"].to_list()) == {"hv9"}
    assert facts is not None and facts.select("libvirt_version", "qemu_version").rows() == [("9.0.0", "7.2")]
    archive = tmp_path / "hv9.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(top, "virtaudit-collect-hv9")
    scan, facts = load_scan([str(archive)], ScanOptions(1, None, limits_of()))
    assert scan.ok and set(scan.domains["host"].to_list()) == {"hv9"}
    assert facts is not None and facts.select("libvirt_version", "qemu_version").rows() == [("9.0.0", "7.2")]
    assert facts["facts_source"].to_list() == [f"{archive}!virtaudit-collect-hv9/installed-debs"]


def test_an_extracted_sosreport_without_status_files_is_nothing_found(tmp_path: Path) -> None:
    top = extracted(tmp_path / "sosreport-empty", "hv-e", [])
    result = invoke("audit", str(top), "-f", "json", "-q")
    assert result.exit_code == 3
    assert [e["kind"] for e in json.loads(result.stdout)["errors"]] == ["nothing_found"]


def zst_sosreport(path: Path, host: str, guests: list[Path]) -> Path:
    zstandard = pytest.importorskip("zstandard")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        top = f"sosreport-{host}-2026"

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        add("sos_commands/host/hostname", host.encode() + b"\n")
        add("installed-rpms", RPMS)
        for g in guests:
            add(f"run/libvirt/qemu/{g.name}", g.read_bytes())
    path.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    return path


def test_tar_zst_sosreport_is_read(tmp_path: Path) -> None:
    from virtaudit.pipeline import ScanOptions, limits_of, load_scan

    archive = zst_sosreport(tmp_path / "sosreport-hvz-2026.tar.zst", "hvz", GUESTS)
    scan, facts = load_scan([str(tmp_path)], ScanOptions(1, None, limits_of()))
    assert scan.ok, scan.errors
    assert set(scan.domains["host"].to_list()) == {"hvz"} and scan.domains.height == len(GUESTS)
    assert all(p.startswith(f"{archive}!") for p in scan.domains["path"].to_list())
    assert facts is not None and facts.select("libvirt_version", "qemu_version").rows() == [
        ("9.0.0", "8.0.0")
    ]


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_tar_zst_is_an_archive_error_and_exit_3(tmp_path: Path, damage: str) -> None:
    archive = zst_sosreport(tmp_path / "s.tar.zst", "hvz", GUESTS)
    data = archive.read_bytes()
    if damage == "truncated":
        archive.write_bytes(data[: len(data) - 7])
    else:
        archive.write_bytes(data[:40] + bytes(b ^ 0x5A for b in data[40:80]) + data[80:])
    result = invoke("audit", str(archive), "-f", "json", "-q")
    assert result.exit_code == 3, result.stdout
    kinds = {e["kind"] for e in json.loads(result.stdout)["errors"]}
    assert "archive" in kinds


def test_two_inputs_claiming_one_host_are_kept_apart(tmp_path: Path) -> None:
    from virtaudit.pipeline import Pieces, ScanOptions, limits_of

    extracted(tmp_path / "sosreport-a-1", "hv-a", GUESTS[:2])
    zst_sosreport(tmp_path / "sosreport-a-2.tar.zst", "hv-a", GUESTS[2:])
    plain = tmp_path / "plain" / "hv-a"
    plain.mkdir(parents=True)
    (plain / GUESTS[0].name).write_bytes(GUESTS[0].read_bytes())
    notes: list[str] = []
    options = ScanOptions(1, None, limits_of(), note=notes.append)
    pieces = list(Pieces([str(tmp_path / "plain"), str(tmp_path)], options))
    by_host: dict[str, int] = {}
    for piece in pieces:
        for host in piece.scan.domains["host"].to_list():
            by_host[host] = by_host.get(host, 0) + 1
        if piece.facts is not None:
            assert set(piece.facts["host"].to_list()) <= set(piece.scan.domains["host"].to_list())
    assert by_host == {"hv-a": 1, "hv-a@sosreport-a-1": 2, "hv-a@sosreport-a-2": 1}
    assert len(notes) == 2 and all("hv-a" in n and "kept apart" in n for n in notes)


def test_the_audit_says_so_when_two_sosreports_claim_one_host(tmp_path: Path) -> None:
    extracted(tmp_path / "sosreport-a-1", "hv-a", GUESTS[:2])
    extracted(tmp_path / "sosreport-a-2", "hv-a", GUESTS[2:])
    result = invoke("audit", str(tmp_path), "-f", "json", "--fail-on", "none")
    assert result.exit_code == 0
    assert "already read from" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["guests"] == 3
