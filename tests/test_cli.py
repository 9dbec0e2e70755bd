"""The ``virtaudit`` command line through Typer's test runner: every command, format and exit code.

The same behaviours run as real subprocesses in test_cli_subprocess.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT, load_scan
from test_reports import validate_jsonl, validate_report

FLEET = REPO_ROOT / "examples" / "fleet"
FORMATS = ("table", "json", "jsonl", "csv", "parquet", "junit", "sarif", "html", "github", "gitlab")


@pytest.fixture(scope="module", autouse=True)
def _needs_the_package() -> None:
    load_scan()
    if not FLEET.is_dir():
        pytest.skip("examples/fleet is not there yet")
    try:
        from virtaudit.auditing import audit  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"the rules are not importable yet: {exc}")


def invoke(*args: str, input: str | None = None) -> Any:
    from typer.testing import CliRunner
    from virtaudit.cli import get_app

    return CliRunner().invoke(get_app(), [str(a) for a in args], input=input)


def secrets() -> list[str]:
    path = FLEET / "secrets.txt"
    return [line for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def assert_no_secrets(data: bytes | str, where: str) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    for secret in secrets():
        assert secret not in text, f"{where} leaks a secret"


@pytest.fixture(scope="module")
def broken_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example fleet plus one truncated status file."""
    root = tmp_path_factory.mktemp("broken") / "fleet"
    shutil.copytree(FLEET, root, ignore=shutil.ignore_patterns("*.csv", "*.txt", "*.md"))
    good = (root / "hv-x86-01" / "web-01.xml").read_bytes()
    (root / "hv-x86-01" / "truncated.xml").write_bytes(good[: len(good) // 2])
    return root


@pytest.fixture(scope="module")
def fleet_json() -> dict[str, Any]:
    result = invoke("audit", FLEET, "--target-libvirt", "10.0.0", "-f", "json")
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# start-up, help, version


def test_version() -> None:
    from virtaudit import __version__
    from virtaudit.cli import main

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"virtaudit {__version__}"
    assert main(["--version"]) == 0


def test_cli_module_imports_nothing_heavy() -> None:
    code = (
        "import sys; import virtaudit.cli as c; c.main(['--version']); "
        "heavy = [m for m in ('typer', 'rich', 'polars', 'virtaudit._core', 'virtaudit.cli.audit') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_help_documents_every_command_and_the_exit_codes() -> None:
    top = invoke("--help")
    assert top.exit_code == 0
    for command in ("audit", "scan", "show", "rules", "explain", "diff"):
        assert command in top.stdout
    text = " ".join(invoke("audit", "--help").stdout.split())
    assert "Exit codes" in text
    assert "0 nothing at or above --fail-on" in text and "1 findings at or above --fail-on" in text
    assert "2 usage error" in text and "3 some inputs could not be read" in text
    for option in (
        "--target-libvirt",
        "--host-facts",
        "--host-from",
        "--select",
        "--ignore",
        "--min-severity",
        "--fail-on",
        "--output-format",
        "--output",
        "--jobs",
        "--quiet",
    ):
        assert option in text, option
    assert invoke().exit_code in (0, 2)  # no command: help


def test_docs_cli_md_lists_the_exit_codes() -> None:
    doc = (REPO_ROOT / "docs" / "cli.md").read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in doc


# --------------------------------------------------------------------------------------------------
# audit: formats


def test_audit_table(fleet_json: dict[str, Any]) -> None:
    result = invoke("audit", FLEET, "--target-libvirt", "10.0.0")
    assert result.exit_code == 1
    out = result.stdout
    assert "Findings by severity" in out and "By host" in out and "Findings" in out
    assert f"exit 1: {fleet_json['summary']['failing']} finding(s) at or above 'high'" in out
    assert_no_secrets(out, "table")


@pytest.mark.parametrize("fmt", FORMATS)
def test_audit_every_format(fmt: str, tmp_path: Path, fleet_json: dict[str, Any]) -> None:
    out = tmp_path / f"report.{fmt}"
    result = invoke("audit", FLEET, "--target-libvirt", "10.0.0", "-f", fmt, "-o", out)
    assert result.exit_code == 1, result.output
    data = out.read_bytes()
    assert_no_secrets(data, fmt)
    n = len(fleet_json["findings"])
    if fmt == "json":
        validate_report(json.loads(data))
    elif fmt == "jsonl":
        lines = validate_jsonl(data.decode())
        assert sum(line["type"] == "finding" for line in lines) == n
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert sum(r["code"] != "HOST" for r in rows) == n
        assert sum(r["code"] == "HOST" for r in rows) == fleet_json["summary"]["hosts"]
    elif fmt == "parquet":
        assert pl.read_parquet(out).filter(pl.col("code") != "HOST").height == n
    elif fmt == "junit":
        root = ET.fromstring(data)
        assert int(root.get("tests", "0")) == fleet_json["summary"]["guests"]
    elif fmt == "sarif":
        assert len(json.loads(data)["runs"][0]["results"]) == n
    elif fmt == "html":
        assert data.startswith(b"<!DOCTYPE html>") and b"Findings by host" in data
    elif fmt == "github":
        assert sum(line.startswith(b"::") and b" file=" in line for line in data.splitlines()) == n
    elif fmt == "gitlab":
        assert sum(not i["check_name"].startswith("virtaudit host-") for i in json.loads(data)) == n
    else:
        assert b"Findings by severity" in data


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "junit", "sarif", "html"])
def test_machine_formats_on_stdout_are_untouched(fmt: str) -> None:
    result = invoke("audit", FLEET, "-f", fmt)
    assert result.exit_code == 1
    if fmt == "json":
        validate_report(json.loads(result.stdout))
    elif fmt == "jsonl":
        validate_jsonl(result.stdout)
    elif fmt == "csv":
        assert result.stdout.startswith("host,path,guest,uuid,code,rule,severity,message")
    elif fmt in ("junit", "sarif"):
        assert result.stdout.lstrip().startswith(("<?xml", "{"))
    else:
        assert result.stdout.startswith("<!DOCTYPE html>")


def test_output_format_from_suffix(tmp_path: Path) -> None:
    for name, marker in (
        ("r.html", b"<!DOCTYPE html>"),
        ("r.sarif", b'"version": "2.1.0"'),
        ("r.xml", b"<testsuites"),
        ("r.jsonl", b'"type":"summary"'),
        ("r.csv", b"host,path,"),
    ):
        assert invoke("audit", FLEET, "-o", tmp_path / name, "-q").exit_code == 1
        assert marker in (tmp_path / name).read_bytes(), name


def test_json_findings_are_the_audit_findings(fleet_json: dict[str, Any]) -> None:
    import virtaudit
    from virtaudit.auditing import audit

    expected = audit(virtaudit.scan(str(FLEET)), target_libvirt="10.0.0")
    got = pl.DataFrame(fleet_json["findings"], schema=dict.fromkeys(expected.columns, pl.String))
    key = ["host", "path", "code", "alias", "message"]
    assert got.sort(key, nulls_last=True).equals(expected.sort(key, nulls_last=True))


# --------------------------------------------------------------------------------------------------
# audit: exit codes and options


def test_exit_0_when_nothing_reaches_fail_on() -> None:
    assert invoke("audit", FLEET, "--fail-on", "none", "-q").exit_code == 0
    assert invoke("audit", FLEET / "hv-arm-01" / "arm-web01.xml", "-q").exit_code == 0


def test_exit_1_findings_at_or_above_fail_on(fleet_json: dict[str, Any]) -> None:
    assert fleet_json["exit_code"] == 1
    severities = {f["severity"] for f in fleet_json["findings"]}
    assert "critical" in severities
    assert invoke("audit", FLEET, "--fail-on", "critical", "-q").exit_code == 1
    only_info = invoke("audit", FLEET / "hv-x86-02" / "rhv-app01.xml", "--select", "PCI001", "-f", "json")
    assert {f["severity"] for f in json.loads(only_info.stdout)["findings"]} == {"info"}
    assert only_info.exit_code == 0
    assert (
        invoke(
            "audit", FLEET / "hv-x86-02" / "rhv-app01.xml", "--select", "PCI001", "--fail-on", "info", "-q"
        ).exit_code
        == 1
    )


def test_exit_3_unreadable_inputs_take_precedence(broken_fleet: Path, fleet_json: dict[str, Any]) -> None:
    result = invoke("audit", broken_fleet, "--target-libvirt", "10.0.0", "-f", "json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    validate_report(doc)
    assert doc["exit_code"] == 3
    assert [e["kind"] for e in doc["errors"]] == ["malformed_xml"]
    assert doc["errors"][0]["path"].endswith("truncated.xml")
    # the findings of every readable file are still all there
    assert len(doc["findings"]) == len(fleet_json["findings"])
    table = invoke("audit", broken_fleet)
    assert table.exit_code == 3 and "Could not read (1)" in table.stdout
    # The path cell may be folded over lines at any point (it depends on the temporary directory's name):
    # join the first cells of the rows of the "Could not read" table.
    errors_table = table.stdout[table.stdout.index("Could not read") :]
    path_cell = "".join(
        line.split("│")[1].strip() for line in errors_table.splitlines() if line.startswith("│")
    )
    assert path_cell.endswith("hv-x86-01/truncated.xml"), path_cell
    # 3 even when nothing would fail
    assert invoke("audit", broken_fleet, "--fail-on", "none", "-q").exit_code == 3


@pytest.mark.parametrize(
    "args",
    [
        ["--target-libvirt", "banana"],
        ["--select", "NOPE123"],
        ["--ignore", "XYZ"],
        ["--output-format", "pdf"],
        ["--fail-on", "severe"],
        ["--min-severity", "urgent"],
        ["--host-facts", "/nonexistent/facts.csv"],
        ["--jobs", "0"],
        ["--no-such-option"],
    ],
)
def test_exit_2_usage_errors(args: list[str]) -> None:
    result = invoke("audit", FLEET, *args)
    assert result.exit_code == 2, result.output


def test_min_severity_hides_but_the_exit_code_counts(fleet_json: dict[str, Any]) -> None:
    result = invoke("audit", FLEET, "--target-libvirt", "10.0.0", "--min-severity", "critical", "-f", "json")
    doc = json.loads(result.stdout)
    assert {f["severity"] for f in doc["findings"]} == {"critical"}
    assert doc["summary"]["failing"] == fleet_json["summary"]["failing"]
    assert result.exit_code == 1


def test_select_and_ignore(fleet_json: dict[str, Any]) -> None:
    doc = json.loads(invoke("audit", FLEET, "--select", "RST", "-f", "json").stdout)
    assert doc["findings"] and {f["code"][:3] for f in doc["findings"]} == {"RST"}
    doc = json.loads(invoke("audit", FLEET, "--select", "PCI001,RST001", "-f", "json").stdout)
    assert {f["code"] for f in doc["findings"]} <= {"PCI001", "RST001"}
    doc = json.loads(invoke("audit", FLEET, "--ignore", "PCI", "--ignore", "als", "-f", "json").stdout)
    assert not {f["code"][:3] for f in doc["findings"]} & {"PCI", "ALS"}


def test_paths_from_stdin(fleet_json: dict[str, Any]) -> None:
    files = sorted(str(p) for p in FLEET.glob("*/*.xml"))
    result = invoke("audit", "-", "--target-libvirt", "10.0.0", "-f", "json", input="\n".join(files) + "\n")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["summary"]["guests"] == len(files)
    assert sorted(json.dumps(f, sort_keys=True) for f in doc["findings"]) == sorted(
        json.dumps(f, sort_keys=True) for f in fleet_json["findings"]
    )
    assert invoke("audit", "-", input="").exit_code == 2


def test_default_path_is_the_local_status_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from virtaudit.cli import options as _cli_app

    status = tmp_path / "qemu"
    shutil.copytree(FLEET / "hv-x86-01", status)
    monkeypatch.setattr(_cli_app, "DEFAULT_STATUS_DIR", str(status))
    result = invoke("audit", "-f", "json")
    doc = json.loads(result.stdout)
    assert doc["summary"]["guests"] == 12
    assert {f["host"] for f in doc["findings"]} == {socket.gethostname()}
    assert f"reading {status} as host" in result.stderr


def test_default_path_missing_is_exit_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from virtaudit.cli import options as _cli_app

    monkeypatch.setattr(_cli_app, "DEFAULT_STATUS_DIR", str(tmp_path / "no-libvirt-here"))
    result = invoke("audit", "-f", "json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["errors"][0]["kind"] == "not_found"


def test_host_from_and_host_facts(tmp_path: Path) -> None:
    files = sorted(str(p) for p in FLEET.glob("hv-ppc-02/*.xml"))
    doc = json.loads(invoke("audit", *files, "--host-from", "power-7", "-f", "json").stdout)
    assert {f["host"] for f in doc["findings"]} == {"power-7"}
    regex = json.loads(invoke("audit", FLEET, "--host-from", r"fleet/hv-(\w+)-\d+/", "-f", "json").stdout)
    assert {f["host"] for f in regex["findings"]} <= {"x86", "ppc", "kube", "arm", "s390"}
    facts = tmp_path / "facts.csv"
    facts.write_text("host,libvirt_version,qemu_version\nhv-ppc-02,3.9.0,2.12.0\n")
    judged = json.loads(invoke("audit", *files, "--host-facts", facts, "-f", "json").stdout)
    assert {f["libvirt_version"] for f in judged["findings"]} == {"3.9.0"}
    assert {f["qemu_version"] for f in judged["findings"]} == {"2.12.0"}


def test_quiet_and_limit() -> None:
    quiet = invoke("audit", FLEET, "-q", "--limit", "3")
    assert quiet.exit_code == 1
    assert "Findings by severity" not in quiet.stdout and "3 most severe" in quiet.stdout
    assert quiet.stderr == ""


# --------------------------------------------------------------------------------------------------
# archives and datasets through the CLI


def test_audit_of_a_sosreport_uses_its_hostname_and_packages(tmp_path: Path) -> None:
    archive = tmp_path / "sosreport-x.tar.xz"
    with tarfile.open(archive, "w:xz") as tf:
        for f in sorted(FLEET.glob("hv-ppc-02/*.xml")):
            tf.add(f, f"sosreport-x/var/run/libvirt/qemu/{f.name}")
        for name, data in (
            ("sosreport-x/sos_commands/host/hostname", b"power-real\n"),
            (
                "sosreport-x/installed-rpms",
                b"libvirt-daemon-4.5.0-10.el7.ppc64le  Mon\nqemu-kvm-rhev-2.12.0-18.el7.ppc64le  Mon\n",
            ),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    result = invoke("audit", archive, "-f", "json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    assert doc["findings"] and {f["host"] for f in doc["findings"]} == {"power-real"}
    assert {f["libvirt_version"] for f in doc["findings"]} == {"4.5.0"}
    assert all(f["path"].startswith(f"{archive}!sosreport-x/var/run/libvirt/qemu/") for f in doc["findings"])
    # --host-facts overrides what the sosreport recorded
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps([{"host": "power-real", "libvirt_version": "9.0.0"}]))
    doc = json.loads(invoke("audit", archive, "--host-facts", facts, "-f", "json").stdout)
    assert {f["libvirt_version"] for f in doc["findings"]} == {"9.0.0"}


def test_corrupt_archive_is_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = invoke("audit", bad, FLEET / "hv-arm-01", "-f", "json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert [e["kind"] for e in doc["errors"]] == ["archive"] and doc["summary"]["guests"] == 4


def scan_per_host(out: Path) -> list[str]:
    """`virtaudit scan HOSTDIR --out out/HOST` for every host of the example fleet, as Ansible would."""
    hosts = sorted(p.name for p in FLEET.iterdir() if p.is_dir())
    for host in hosts:
        result = invoke("scan", FLEET / host, "--out", out / host, "--target-libvirt", "10.0.0")
        assert result.exit_code == 0, result.output
        assert f"1 hosts to {out / host}" in result.stderr
    return hosts


def test_scan_out_then_audit_gives_the_same_findings(tmp_path: Path, fleet_json: dict[str, Any]) -> None:
    hosts = scan_per_host(tmp_path / "fetched")
    # a directory of per-host datasets
    result = invoke("audit", tmp_path / "fetched", "--target-libvirt", "10.0.0", "-f", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["findings"] == fleet_json["findings"]
    assert doc["summary"] == fleet_json["summary"]
    # and one dataset that all hosts wrote into
    merged = tmp_path / "merged"
    for host in hosts:
        assert invoke("scan", FLEET / host, "--out", merged, "-q").exit_code == 0
    doc = json.loads(invoke("audit", merged, "--target-libvirt", "10.0.0", "-f", "json").stdout)
    assert doc["findings"] == fleet_json["findings"]
    # the layout: DIR/TABLE/host=NAME/part-0.parquet, readable with polars' hive partitioning
    for table in ("domains", "devices", "caps", "live_aliases", "errors", "findings", "facts"):
        for host in hosts:
            assert (merged / table / f"host={host}" / "part-0.parquet").is_file(), (table, host)
    stored = pl.scan_parquet(merged / "findings", hive_partitioning=True).collect()
    assert stored.height == len([f for f in fleet_json["findings"]]) or stored.height > 0
    domains = pl.scan_parquet(merged / "domains", hive_partitioning=True).collect()
    assert domains.height == fleet_json["summary"]["guests"]


def test_scan_exit_codes(tmp_path: Path, broken_fleet: Path) -> None:
    assert invoke("scan", FLEET / "hv-arm-01").exit_code == 2  # --out is required
    assert invoke("scan", FLEET, "--out", tmp_path / "a", "--target-libvirt", "x.y").exit_code == 2
    result = invoke("scan", broken_fleet, "--out", tmp_path / "b")
    assert result.exit_code == 3
    errors = pl.scan_parquet(tmp_path / "b" / "errors", hive_partitioning=True).collect()
    assert errors["kind"].to_list() == ["malformed_xml"]
    # the audit of that dataset reports the unreadable file too
    assert invoke("audit", tmp_path / "b", "-q").exit_code == 3


def test_scan_records_host_facts(tmp_path: Path) -> None:
    facts = tmp_path / "facts.csv"
    facts.write_text("host,libvirt_version,qemu_version\nhv-arm-01,10.1.0,9.1.0\n")
    assert invoke("scan", FLEET / "hv-arm-01", "--host-facts", facts, "--out", tmp_path / "ds").exit_code == 0
    stored = pl.scan_parquet(tmp_path / "ds" / "facts", hive_partitioning=True).collect()
    assert stored.select("host", "libvirt_version", "qemu_version").rows() == [
        ("hv-arm-01", "10.1.0", "9.1.0")
    ]
    doc = json.loads(invoke("audit", tmp_path / "ds", "-f", "json").stdout)
    assert {f["libvirt_version"] for f in doc["findings"]} <= {"10.1.0"}


# --------------------------------------------------------------------------------------------------
# show, rules, explain


def test_show() -> None:
    result = invoke("show", FLEET / "hv-x86-01" / "lab-bridge.xml", "--target-libvirt", "10.0.0")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "lab-bridge" in out and "pci controller 0 (pci-root)" in out
    assert "QEMU bus pci.0" in out and "after restart pci.0" in out
    assert "bus 5 (0x05): no PCI controller has this index" in out
    assert "PCI003" in out and "PCI004" in out
    assert "05:00.0 disk" in out
    assert_no_secrets(out, "show")


def test_show_every_example_guest_leaks_nothing() -> None:
    result = invoke("show", FLEET)
    assert result.exit_code == 0
    assert result.stdout.count("bus names judged for") == len(list(FLEET.glob("*/*.xml")))
    assert_no_secrets(result.stdout, "show")


def test_show_guest_option_and_errors(broken_fleet: Path) -> None:
    one = invoke("show", FLEET / "hv-ppc-01", "--guest", "p9-app01")
    assert one.exit_code == 0 and one.stdout.count("bus names judged for") == 1
    assert "pci.1.0" in one.stdout  # the extra pSeries host bridge's bus
    assert invoke("show", FLEET / "hv-ppc-01", "--guest", "nobody").exit_code == 2
    bad = invoke("show", broken_fleet / "hv-x86-01" / "truncated.xml")
    assert bad.exit_code == 3 and "malformed_xml" in bad.stdout


def test_rules() -> None:
    from virtaudit.catalog import rules

    codes = rules()["code"].to_list()
    table = invoke("rules")
    assert table.exit_code == 0 and all(code in table.stdout for code in codes)
    as_json = json.loads(invoke("rules", "-f", "json").stdout)
    assert [r["code"] for r in as_json] == codes
    rows = list(csv.DictReader(io.StringIO(invoke("rules", "-f", "csv").stdout)))
    assert [r["code"] for r in rows] == codes


def test_explain() -> None:
    by_code = invoke("explain", "PCI001")
    assert by_code.exit_code == 0
    for section in ("Why it breaks", "Affected versions", "Evidence", "What to do"):
        assert section in by_code.stdout
    assert invoke("explain", "root-user-alias").stdout == by_code.stdout
    assert invoke("explain", "pci001").exit_code == 0
    unknown = invoke("explain", "XYZ999")
    assert unknown.exit_code == 2 and "unknown rule" in unknown.output


# --------------------------------------------------------------------------------------------------
# diff


@pytest.fixture(scope="module")
def before_after(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("diff")
    before, after = root / "before", root / "after"
    for d in (before, after):
        shutil.copytree(FLEET, d, ignore=shutil.ignore_patterns("*.csv", "*.txt", "*.md"))
    web = after / "hv-x86-01" / "web-01.xml"
    text = web.read_text()
    root_alias = re.search(r"<controller type='pci' index='0'[^>]*>\s*<alias name='([^']+)'/>", text)
    assert root_alias is not None
    text = text.replace(f"<alias name='{root_alias.group(1)}'/>", "<alias name='ua-root'/>", 1)
    web.write_text(
        text.replace("alias name='net0'", "alias name='ua-net0'").replace(
            "device alias='net0'", "device alias='ua-net0'"
        )
    )
    (after / "hv-x86-01" / "git-01.xml").unlink()
    (after / "hv-x86-09").mkdir()
    (after / "hv-x86-01" / "mail-01.xml").rename(after / "hv-x86-09" / "mail-01.xml")
    arm = after / "hv-arm-01" / "arm-web01.xml"
    arm.write_text(arm.read_text().replace("state='running'", "state='paused'", 1))
    return before, after


def test_diff_no_difference_is_exit_0(before_after: tuple[Path, Path]) -> None:
    before, _ = before_after
    result = invoke("diff", before, before)
    assert result.exit_code == 0 and "No differences." in result.stdout


def test_diff_reports_what_changed(before_after: tuple[Path, Path]) -> None:
    before, after = before_after
    result = invoke("diff", before, after, "-f", "json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    rows = {(c["guest"], c["scope"], c["change"], c["item"], c["field"]): c for c in doc["changes"]}
    assert ("git-01", "guest", "vanished", str(before / "hv-x86-01" / "git-01.xml"), None) in rows
    moved = rows[("mail-01", "guest", "moved", None, "host")]
    assert (moved["before"], moved["after"]) == ("hv-x86-01", "hv-x86-09")
    state = rows[("arm-web01", "guest", "changed", None, "state")]
    assert (state["before"], state["after"]) == ("running", "paused")
    nic = [c for k, c in rows.items() if k[0] == "web-01" and k[1] == "device" and k[4] == "alias"]
    assert {(c["before"], c["after"]) for c in nic} >= {("net0", "ua-net0")}
    assert ("web-01", "live_alias", "vanished", "net0", None) in rows
    assert ("web-01", "live_alias", "appeared", "ua-net0", None) in rows
    root_alias = rows[("web-01", "device", "changed", "controller pci 0", "alias")]
    assert root_alias["after"] == "ua-root"
    # the bus name QEMU has did not change, so no bus row for the root qemu_bus
    assert not [k for k in rows if k[0] == "web-01" and k[1] == "bus" and k[4] == "qemu_bus"]
    assert doc["summary"] == {"changes": len(doc["changes"]), "unreadable": 0}


def test_diff_reports_new_and_resolved_findings(before_after: tuple[Path, Path]) -> None:
    """Beside the structural changes, the findings the change between the scans added or removed."""
    before, after = before_after
    with (FLEET / "planted.csv").open(newline="") as f:
        planted = {(r["guest"], r["code"], r["severity"]) for r in csv.DictReader(f)}
    doc = json.loads(invoke("diff", before, after, "-f", "json").stdout)
    found = {
        (c["guest"], c["change"], c["item"], c["field"]) for c in doc["changes"] if c["scope"] == "finding"
    }
    # web-01's root got a user alias: a new PCI001 (info: the newest libvirt translates it)
    assert ("web-01", "new", "PCI001", "info") in found
    # git-01 is gone: its planted findings are resolved (they were in the earlier scan only)
    gone = {(g, c, s) for g, c, s in planted if g == "git-01"}
    assert gone and {("git-01", "resolved", c, s) for _, c, s in gone} <= found
    new_rows = [c for c in doc["changes"] if c["scope"] == "finding" and c["change"] == "new"]
    assert all(c["before"] is None and c["after"] for c in new_rows)
    # and the other way round, the same findings with the changes swapped
    back = json.loads(invoke("diff", after, before, "-f", "json").stdout)
    swapped = {(c["guest"], c["change"], c["item"]) for c in back["changes"] if c["scope"] == "finding"}
    assert ("web-01", "resolved", "PCI001") in swapped and ("git-01", "new", next(iter(gone))[1]) in swapped


def test_diff_formats_and_unreadable(before_after: tuple[Path, Path], broken_fleet: Path) -> None:
    before, after = before_after
    lines = [json.loads(line) for line in invoke("diff", before, after, "-f", "jsonl").stdout.splitlines()]
    assert lines and {line["type"] for line in lines} == {"change"}
    rows = list(csv.DictReader(io.StringIO(invoke("diff", before, after, "-f", "csv").stdout)))
    assert len(rows) == len(lines)
    table = invoke("diff", before, after)
    assert table.exit_code == 1 and "differences in" in table.stdout
    unreadable = invoke("diff", before, broken_fleet, "-f", "json")
    assert unreadable.exit_code == 3
    assert json.loads(unreadable.stdout)["errors"][0]["side"] == "after"
    assert invoke("diff", before).exit_code == 2
    assert_no_secrets(table.stdout, "diff")


# --------------------------------------------------------------------------------------------------
# secrets: no output of any command or format carries one


def test_no_output_carries_a_secret(tmp_path: Path) -> None:
    if not secrets():
        pytest.skip("examples/fleet/secrets.txt is not there")
    for fmt in FORMATS:
        out = tmp_path / f"r.{fmt}"
        invoke("audit", FLEET, "-f", fmt, "-o", out)
        assert_no_secrets(out.read_bytes(), fmt)
    scan_per_host(tmp_path / "ds")
    for parquet in (tmp_path / "ds").rglob("*.parquet"):
        assert_no_secrets(parquet.read_bytes(), str(parquet))
        df = pl.read_parquet(parquet)
        assert_no_secrets(df.write_csv(), str(parquet))


# --------------------------------------------------------------------------------------------------
# progress bar


def test_progress_bar_only_for_large_scans_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from virtaudit.cli import console as _cli_app

    small = _cli_app.Progress(enabled=True)
    small.start(_cli_app.PROGRESS_MIN_FILES - 1)
    assert small._bar is None
    off = _cli_app.Progress(enabled=False)
    off.start(10**6)
    assert off._bar is None
    big = _cli_app.Progress(enabled=True)
    big.start(_cli_app.PROGRESS_MIN_FILES)
    try:
        assert big._bar is not None
        big.advance(10)
    finally:
        big.stop()
    assert big._bar is None


# --------------------------------------------------------------------------------------------------
# the README's demo command, and the Ansible playbook


def demo_command() -> list[str]:
    """The main command of the quick start: the `virtaudit ...` line of the Makefile's demo target."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    match = re.search(r"^demo:.*?\n\t\$\(BIN\)/(virtaudit [^;\n]+?);", makefile, re.MULTILINE | re.DOTALL)
    assert match, "the Makefile's demo target runs virtaudit"
    return match.group(1).split()


def test_readme_demo_command() -> None:
    argv = demo_command()
    assert argv[:2] == ["virtaudit", "audit"]
    result = invoke(*argv[1:])
    # the fleet has hazards planted on purpose: exit 1, never 2 or 3
    assert result.exit_code == 1, result.output
    assert "exit 1:" in result.stdout


# --------------------------------------------------------------------------------------------------
# batches: the same report whatever the batch size, and nothing kept of a batch but its findings


@pytest.mark.parametrize("fmt", ["json", "table", "junit"])
def test_report_does_not_depend_on_the_batch_size(fmt: str) -> None:
    def report(*extra: str) -> str:
        result = invoke("audit", FLEET, "-f", fmt, "--limit", "0", *extra)
        assert result.exit_code == 1, result.output
        text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ?", "TIME", result.stdout)
        return re.sub(r'<testsuites (.*) time="[\d.]+"', r"<testsuites \1 time=ELAPSED", text)

    assert report("--batch-files", "1") == report("--batch-files", "7") == report()


@pytest.mark.parametrize("prefetch", [False, True])
def test_batches_in_order_with_at_most_one_scan_ahead(prefetch: bool) -> None:
    """The audit scans the next batch while the rules run on this one: the batches still come in order,
    the scanner is never used by two threads at once, at most two batches are alive (the consumer's and
    the one being scanned), and closing the generator early waits for the scan in flight and starts no
    other."""
    import threading
    import time
    import weakref

    from virtaudit.pipeline import PlainScan
    from virtaudit.scanning import TABLE_NAMES

    class Tables(dict[str, pl.DataFrame]):
        """One batch's tables (a dict subclass, so it can be watched with a weak reference)."""

    alive: list[weakref.ref[object]] = []
    busy = threading.Lock()

    class Scanner:
        def __init__(self, batches: int) -> None:
            self.made = 0
            self.batches = batches
            self.finished = 0

        def next_batch(self, batch_files: int) -> Tables | None:
            assert busy.acquire(blocking=False), "two scans at once"
            try:
                assert sum(ref() is not None for ref in alive) <= 1, "more than one batch alive already"
                time.sleep(0.01)  # the consumer runs meanwhile
                if self.made == self.batches:
                    return None
                self.made += 1
                paths = pl.Series("path", [f"batch-{self.made}"], dtype=pl.String)
                tables = Tables({name: pl.DataFrame([paths]) for name in TABLE_NAMES})
                alive.append(weakref.ref(tables))
                return tables
            finally:
                self.finished += 1
                busy.release()

    scanner = Scanner(5)
    seen = []
    for batch in PlainScan(scanner, 1, (), prefetch=prefetch):  # type: ignore[arg-type]
        alive.append(weakref.ref(batch))
        seen.append(batch.domains["path"][0])
        del batch
    assert seen == [f"batch-{i}" for i in range(1, 6)]

    scanner = Scanner(5)
    batches = iter(PlainScan(scanner, 1, (), prefetch=prefetch))  # type: ignore[arg-type]
    next(batches)
    batches.close()
    # Nothing is left running, and nothing more than one batch ahead was started (with prefetch, the next
    # batch is scanned to the end if it had started, and not started if it had not).
    assert scanner.finished == scanner.made
    assert 1 <= scanner.made <= (2 if prefetch else 1)


def test_audit_scan_starts_before_polars_is_imported() -> None:
    """The command line makes its scan (the walk and the first batches) before it imports polars and the
    rules, so that the two overlap: nothing on that path may import polars (with the options the command
    line gives by default: an audit for the newest release, whose caps rows the core trims)."""
    code = (
        "import sys; from virtaudit.pipeline import Pieces, ScanOptions, limits_of as _limits; "
        f"pieces = Pieces([{str(FLEET)!r}], ScanOptions(None, None, _limits(None, None, None), 7, True, "
        "audit_only=True, prefetch=True, audit_targets=(None, None))); "
        "first, second = (f.result()['domains'].num_rows for f in pieces._plain._pending); "
        "print(first, second, 'polars' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # (with prefetch the first two batches are scanned during the import: it outlasts one)
    assert out.split() == ["7", "7", "False"], out


@pytest.mark.parametrize("command", ["audit", "scan", "diff"])
def test_jobs_caps_the_polars_pool_too(command: str, tmp_path: Path) -> None:
    """-j N is the whole command's thread count: polars' pool (the rules' queries) gets N threads as well,
    which polars reads from POLARS_MAX_THREADS when it is imported, so the command sets it first."""
    args = {
        "audit": ["audit", str(FLEET), "-f", "json", "-o", str(tmp_path / "r.json")],
        "scan": ["scan", str(FLEET), "--out", str(tmp_path / "ds"), "-q"],
        "diff": ["diff", str(FLEET), str(FLEET), "-o", str(tmp_path / "d.txt")],
    }[command]
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}

    def pool_after(extra: list[str]) -> int:
        code = (
            "import sys; from virtaudit.cli import main\n"
            f"try:\n    main({[*args, *extra]!r})\nexcept SystemExit:\n    pass\n"
            "import polars; print(polars.thread_pool_size())"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        return int(run.stdout.split()[-1])

    fresh = subprocess.run(
        [sys.executable, "-c", "import polars; print(polars.thread_pool_size())"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert pool_after(["-j", "3"]) == 3
    assert pool_after([]) == int(fresh.stdout)  # (without -j polars sizes its pool itself)


def test_audit_with_one_job_scans_and_checks_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """-j 1: no batch is scanned ahead while the rules check another (that would keep two cores busy);
    the findings are the same."""
    from virtaudit import pipeline as _cli_app

    seen: list[bool] = []
    made = _cli_app.PlainScan.__init__

    def spy(self: Any, *args: Any, prefetch: bool, **kwargs: Any) -> None:
        seen.append(prefetch)
        made(self, *args, prefetch=prefetch, **kwargs)

    monkeypatch.setattr(_cli_app.PlainScan, "__init__", spy)
    one, default = (
        json.loads(invoke("audit", FLEET, "-f", "json", *jobs).stdout)["findings"]
        for jobs in (["-j", "1"], [])
    )
    assert seen == [False, True]
    assert one == default and one


def test_detached_copies_keep_values_and_nulls() -> None:
    from virtaudit.pipeline import detached as _detached

    frame = pl.DataFrame({"s": ["a", None, "a string longer than twelve bytes"], "n": [1, 2, None]})
    copy = _detached(frame.filter(pl.col("n").is_not_null() | pl.col("s").is_not_null()))
    assert copy.equals(frame) and copy.schema == frame.schema


def test_guest_counts_give_the_counts_of_guest_rows() -> None:
    import virtaudit
    from virtaudit.reports import AuditReport, empty_errors, empty_findings, guests_of

    guests = guests_of(virtaudit.scan(str(FLEET)).domains)
    per_host = guests.group_by("host").len("guests").sort("host")
    rows = AuditReport(findings=empty_findings(), errors=empty_errors(), guests=guests)
    counts = AuditReport(
        findings=empty_findings(), errors=empty_errors(), guests=guests.clear(), guests_per_host=per_host
    )
    assert counts.counts() == rows.counts() and counts.files == guests.height
    assert counts.guest_counts().sort("host").equals(rows.guest_counts().sort("host"), null_equal=True)
