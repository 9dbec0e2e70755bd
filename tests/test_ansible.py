"""The Ansible fleet flow (contrib/ansible), end to end over a local connection.

Each example-fleet host is an inventory host whose status directory is ``examples/fleet/HOST``; the
collection role packs it with this machine's libvirt/QEMU package versions, the controller role audits
every fetched archive in one virtaudit run. An extra host whose status directory does not exist must make
the play fail and be named, never drop out silently.

ansible-core is not a dependency of virtaudit: ``make test`` installs it into ``.venv-ansible``
(``make ansible``); elsewhere these tests skip with a message. VIRTAUDIT_ANSIBLE_PLAYBOOK names another
``ansible-playbook``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"
PLAYBOOK = REPO_ROOT / "contrib" / "ansible" / "virtaudit-fleet.yml"
COLLECT = REPO_ROOT / "contrib" / "ansible" / "roles" / "virtaudit_collect" / "files" / "virtaudit-collect.sh"
VIRTAUDIT = Path(sys.executable).parent / "virtaudit"


def _ansible_playbook() -> Path:
    candidates = [
        os.environ.get("VIRTAUDIT_ANSIBLE_PLAYBOOK"),
        REPO_ROOT / ".venv-ansible/bin/ansible-playbook",
    ]
    candidates.append(shutil.which("ansible-playbook"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.skip("ansible-playbook is not installed (`make ansible` puts ansible-core in .venv-ansible)")


def _python_of(playbook: Path) -> Path:
    # The modules run with the Python that has Ansible (its venv's), not whatever is first on PATH.
    python = playbook.resolve().parent / "python"
    return python if python.exists() else Path(sys.executable)


def test_playbook_syntax() -> None:
    exe = _ansible_playbook()
    inventory = PLAYBOOK.parent / "inventory.example.ini"
    result = subprocess.run(
        [exe, "--syntax-check", "-i", str(inventory), str(PLAYBOOK)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _run_collect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(COLLECT), *args], capture_output=True, text=True, timeout=60)


def test_collect_script_refuses_what_would_look_like_a_host_without_guests(tmp_path: Path) -> None:
    # A typo in the status directory must fail the host, not deliver an empty archive.
    missing = _run_collect("hv-1", str(tmp_path / "no-such-dir"), str(tmp_path / "out.tar.gz"))
    assert missing.returncode == 3, missing.stderr
    assert "not a directory" in missing.stderr
    assert not (tmp_path / "out.tar.gz").exists()
    assert _run_collect("../evil", str(FLEET / "hv-x86-01"), str(tmp_path / "out.tar.gz")).returncode == 2
    assert _run_collect("hv-1").returncode == 2


def test_collect_script_packs_a_sosreport_layout(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.mkdir()
    for guest in sorted((FLEET / "hv-ppc-01").glob("*.xml"))[:2]:
        shutil.copy(guest, status)
    (status / "guest.pid").write_text("123\n")  # libvirt keeps these beside the status files: not packed
    (status / "dir.xml").mkdir()  # not a regular file: not packed
    out = tmp_path / "hv-ppc-01.tar.gz"
    result = _run_collect("hv-ppc-01", str(status), str(out))
    assert result.returncode == 0, result.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"  # status files can hold graphics passwords
    with tarfile.open(out) as tar:
        files = sorted(m.name for m in tar.getmembers() if m.isfile())
        meta = tar.extractfile("virtaudit-collect-hv-ppc-01/virtaudit-collect.txt")
        assert meta is not None
        text = meta.read().decode()
    top = "virtaudit-collect-hv-ppc-01/"
    guests = sorted(top + "run/libvirt/qemu/" + p.name for p in status.glob("*.xml") if p.is_file())
    assert [f for f in files if "/run/" in f] == guests
    assert top + "sos_commands/host/hostname" in files
    assert "status_files: 2" in text


def _virtaudit_json(*args: str | Path) -> dict[str, Any]:
    result = subprocess.run(
        [str(VIRTAUDIT), "audit", *map(str, args), "-f", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _facts_recorded(archive: Path, tmp_path: Path) -> Path | None:
    """A --host-facts file giving every fleet host the versions the archive's package list names."""
    from virtaudit.sources import package_versions

    with tarfile.open(archive) as tar:
        lists = [m for m in tar.getmembers() if m.name.endswith(("/installed-debs", "/installed-rpms"))]
        if not lists:
            return None
        member = tar.extractfile(lists[0])
        assert member is not None
        libvirt, qemu = package_versions(member.read().decode())
    path = tmp_path / "facts.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["host", "libvirt_version", "qemu_version"])
        for host in sorted(p.name for p in FLEET.iterdir() if p.is_dir()):
            writer.writerow([host, libvirt or "", qemu or ""])
    return path


def _key(finding: dict[str, Any]) -> tuple[str, ...]:
    # Paths differ (ARCHIVE!MEMBER against the file): everything else must be equal.
    return tuple(str(finding[k]) for k in ("host", "guest", "uuid", "code", "severity", "message"))


def test_playbook_audits_the_example_fleet_and_names_a_host_that_delivered_nothing(tmp_path: Path) -> None:
    if not VIRTAUDIT.exists():
        pytest.skip(f"{VIRTAUDIT} is not installed (make build)")
    exe = _ansible_playbook()
    python = _python_of(exe)
    hosts = sorted(p for p in FLEET.iterdir() if p.is_dir())
    local = "ansible_connection=local ansible_become=false"
    lines = ["[hypervisors]", *(f"{h.name} {local} virtaudit_status_dir={h}" for h in hosts)]
    lines.append(f"hv-gone {local} virtaudit_status_dir={tmp_path}/gone")
    lines += ["[all:vars]", f"ansible_python_interpreter={python}"]
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    fetched, report = tmp_path / "fetched", tmp_path / "report"
    env = {**os.environ, "PATH": f"{VIRTAUDIT.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["ANSIBLE_NOCOLOR"] = "1"
    extra_vars = ["-e", f"virtaudit_fetch_dir={fetched}", "-e", f"virtaudit_report_dir={report}"]
    result = subprocess.run(
        [str(exe), "-i", str(inventory), str(PLAYBOOK), *extra_vars],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    output = result.stdout + result.stderr
    # Findings at 'high' are planted in the fleet, and hv-gone delivered nothing: the play must fail ...
    assert result.returncode != 0, output[-4000:]
    assert "no archive from hv-gone" in output, output[-4000:]
    # ... after every other host was collected and audited in one run, every report written.
    assert sorted(p.name for p in fetched.iterdir()) == sorted(f"{h.name}.tar.gz" for h in hosts)
    assert oct(fetched.stat().st_mode & 0o777) == "0o700"
    assert sorted(p.name for p in report.iterdir()) == sorted(
        ["report.html", "findings.json", "findings.sarif", "junit.xml"]
    )
    got = json.loads((report / "findings.json").read_text())
    assert got["summary"]["unreadable"] == 0
    assert got["summary"]["hosts"] == len(hosts)
    # The same findings as an audit of the files themselves, with the versions the archives recorded.
    facts = _facts_recorded(fetched / f"{hosts[0].name}.tar.gz", tmp_path)
    expected = _virtaudit_json(FLEET, *(["--host-facts", facts] if facts else []))
    assert got["summary"]["guests"] == expected["summary"]["guests"] == 40
    assert sorted(map(_key, got["findings"])) == sorted(map(_key, expected["findings"]))
