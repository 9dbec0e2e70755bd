"""/etc/libvirt/qemu as an input: libvirt's other documents are skipped and counted, never a hole for
garbage (issue 19)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"
GUEST = sorted(FLEET.glob("hv-x86-01/*.xml"))[0]
NETWORK = "<network>\n  <name>default</name>\n  <forward mode='nat'/>\n</network>\n"
FILTER = "<filter name='clean-traffic' chain='root'>\n  <filterref filter='no-mac-spoofing'/>\n</filter>\n"


def invoke(*args: str) -> Any:
    from typer.testing import CliRunner
    from virtaudit.cli import get_app

    return CliRunner().invoke(get_app(), [str(a) for a in args])


def etc_libvirt(tmp_path: Path) -> Path:
    qemu = tmp_path / "etc" / "libvirt" / "qemu"
    (qemu / "networks" / "autostart").mkdir(parents=True)
    shutil.copy(GUEST, qemu / GUEST.name)
    (qemu / "networks" / "default.xml").write_text(NETWORK)
    os.symlink("../default.xml", qemu / "networks" / "autostart" / "default.xml")
    (tmp_path / "etc" / "libvirt" / "nwfilter").mkdir()
    (tmp_path / "etc" / "libvirt" / "nwfilter" / "clean-traffic.xml").write_text(FILTER)
    return tmp_path / "etc" / "libvirt"


def test_networks_and_nwfilters_are_skipped_and_counted(tmp_path: Path) -> None:
    top = etc_libvirt(tmp_path)
    result = invoke("audit", str(top), "-f", "json", "--fail-on", "none")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["summary"]["guests"] == 1 and doc.get("errors", []) == []
    assert "skipped 3 libvirt document(s) that are not guests (filter 1, network 2)" in result.stderr


def test_garbage_beside_them_is_still_an_error(tmp_path: Path) -> None:
    top = etc_libvirt(tmp_path)
    (top / "qemu" / "networks" / "broken.xml").write_text("<network><name>x</name>")
    (top / "qemu" / "notes.xml").write_text("<html/>")
    result = invoke("audit", str(top), "-f", "json", "--fail-on", "none", "-q")
    assert result.exit_code == 3
    kinds = sorted(e["kind"] for e in json.loads(result.stdout)["errors"])
    assert kinds == ["malformed_xml", "not_libvirt"]


def test_a_network_outside_a_libvirt_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.xml").write_text(NETWORK)
    shutil.copy(GUEST, tmp_path / "configs" / GUEST.name)
    result = invoke("audit", str(tmp_path / "configs"), "-f", "json", "--fail-on", "none", "-q")
    assert result.exit_code == 3
    assert [e["kind"] for e in json.loads(result.stdout)["errors"]] == ["not_domain"]


def test_a_libvirt_directory_with_only_networks_is_nothing_found(tmp_path: Path) -> None:
    qemu = tmp_path / "etc" / "libvirt" / "qemu" / "networks"
    qemu.mkdir(parents=True)
    (qemu / "default.xml").write_text(NETWORK)
    result = invoke("audit", str(tmp_path / "etc" / "libvirt" / "qemu"), "-f", "json", "-q")
    assert result.exit_code == 3
    assert [e["kind"] for e in json.loads(result.stdout)["errors"]] == ["nothing_found"]


def test_autostart_links_to_guests_are_not_read_twice(tmp_path: Path) -> None:
    top = etc_libvirt(tmp_path)
    (top / "qemu" / "autostart").mkdir()
    os.symlink(f"../{GUEST.name}", top / "qemu" / "autostart" / GUEST.name)
    # a link to a guest elsewhere is read (it is the only copy named)
    elsewhere = tmp_path / "elsewhere.xml"
    shutil.copy(GUEST, elsewhere)
    os.symlink(str(elsewhere), top / "qemu" / "autostart" / "other.xml")
    result = invoke("audit", str(top / "qemu"), "-f", "json", "--fail-on", "none")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["summary"]["guests"] == 2
    assert "autostart link 1" in result.stderr
