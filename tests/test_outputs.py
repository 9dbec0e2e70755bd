"""Issue 19, the outputs half: per-host verdicts in every format, what a run judged against, several
reports from one run, SARIF fingerprints and locations, JUnit's one failure per guest, GitHub and GitLab
formats, the terminal's width, --statistics, the Parquet severity Enum, and findings in notebooks."""

from __future__ import annotations

import csv
import io
import json
import re
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT
from test_cli import FLEET, invoke
from test_format_validators import validate_sarif
from test_reports import validate_jsonl, validate_report


def _json(*args: Any) -> dict[str, Any]:
    result = invoke("audit", *args, "-f", "json", "-q")
    assert result.exit_code in (0, 1, 3), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _sosreport(tmp_path: Path) -> Path:
    archive = tmp_path / "sosreport-p.tar.xz"
    with tarfile.open(archive, "w:xz") as tf:
        for f in sorted(FLEET.glob("hv-ppc-02/*.xml")):
            tf.add(f, f"sosreport-p/var/run/libvirt/qemu/{f.name}")
        for name, data in (
            ("sosreport-p/sos_commands/host/hostname", b"power-real\n"),
            (
                "sosreport-p/installed-rpms",
                b"libvirt-daemon-4.5.0-10.el7.ppc64le  Mon\nqemu-kvm-rhev-2.12.0-18.el7.ppc64le  Mon\n",
            ),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return archive


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hosts: hv-x86-02 as in the fleet, hv-arm-01 with one truncated file more."""
    import shutil

    root = tmp_path_factory.mktemp("verdicts") / "fleet"
    for host in ("hv-x86-02", "hv-arm-01", "hv-s390-01"):
        shutil.copytree(FLEET / host, root / host)
    good = next((root / "hv-arm-01").glob("*.xml")).read_bytes()
    (root / "hv-arm-01" / "truncated.xml").write_bytes(good[: len(good) // 2])
    return root


# --------------------------------------------------------------------------------------------------
# 1. per-host verdicts


def test_verdict_per_host_in_json(broken: Path) -> None:
    doc = _json(broken)
    validate_report(doc)
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert hosts["hv-arm-01"]["verdict"] == "unknown" and hosts["hv-arm-01"]["unreadable"] == 1
    assert hosts["hv-x86-02"]["verdict"] == "at-risk" and hosts["hv-x86-02"]["worst_severity"] == "high"
    assert hosts["hv-s390-01"]["verdict"] == "restart-safe"
    assert hosts["hv-s390-01"]["guests"] == len(list((FLEET / "hv-s390-01").glob("*.xml")))
    assert hosts["hv-s390-01"]["worst_severity"] == "medium" and hosts["hv-s390-01"]["worst_code"] == "ALS002"
    # at-risk first, then unknown, then restart-safe
    assert [h["verdict"] for h in doc["hosts"]] == ["at-risk", "unknown", "restart-safe"]
    assert doc["exit_code"] == 3


def test_fail_on_keeps_its_meaning_for_the_verdict(broken: Path) -> None:
    hosts = {h["host"]: h for h in _json(broken / "hv-x86-02", "--fail-on", "critical")["hosts"]}
    assert hosts["hv-x86-02"]["verdict"] == "restart-safe"
    hosts = {h["host"]: h for h in _json(broken / "hv-s390-01", "--fail-on", "medium")["hosts"]}
    assert hosts["hv-s390-01"]["verdict"] == "at-risk"
    # --min-severity hides findings, never the verdict
    hosts = {h["host"]: h for h in _json(broken / "hv-x86-02", "--min-severity", "critical")["hosts"]}
    assert hosts["hv-x86-02"]["verdict"] == "at-risk"


def test_table_starts_with_the_verdicts(broken: Path) -> None:
    result = invoke("audit", broken)
    assert result.exit_code == 3
    out = result.stdout
    first = out.index("Hosts: 1 restart-safe, 1 at-risk, 1 unknown")
    assert first < out.index("Findings by severity") < out.index("Could not read")
    assert re.search(r"hv-arm-01\s+│ unknown", out) and re.search(r"hv-s390-01\s+│ restart-safe", out)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "junit", "sarif", "html", "github", "gitlab"])
def test_every_format_carries_the_verdicts(fmt: str, broken: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert invoke("audit", broken, "-f", fmt, "-o", out, "-q").exit_code == 3
    data = out.read_bytes()
    if fmt == "jsonl":
        hosts = [line for line in validate_jsonl(data.decode()) if line["type"] == "host"]
        assert {h["host"]: h["verdict"] for h in hosts}["hv-arm-01"] == "unknown"
    elif fmt == "csv":
        rows = [r for r in csv.DictReader(io.StringIO(data.decode())) if r["code"] == "HOST"]
        assert {r["host"]: r["rule"] for r in rows} == {
            "hv-x86-02": "at-risk",
            "hv-arm-01": "unknown",
            "hv-s390-01": "restart-safe",
        }
    elif fmt == "parquet":
        rows = pl.read_parquet(out).filter(pl.col("code") == "HOST")
        assert dict(rows.select("host", "rule").iter_rows())["hv-arm-01"] == "unknown"
    elif fmt == "junit":
        suites = {s.get("name"): s for s in ET.fromstring(data).findall("testsuite")}
        props = {p.get("name"): p.get("value") for p in suites["hv-x86-02"].iter("property")}
        assert props["verdict"] == "at-risk" and props["guests"] == "5"
    elif fmt == "sarif":
        hosts = json.loads(data)["runs"][0]["properties"]["hosts"]
        assert {h["host"]: h["verdict"] for h in hosts}["hv-s390-01"] == "restart-safe"
    elif fmt == "html":
        assert b'<section id="hosts"><h2>Hosts: 1 restart-safe, 1 at-risk, 1 unknown' in data
    elif fmt == "github":
        assert b"::notice title=virtaudit host hv-s390-01%3A restart-safe::" in data
    else:
        issues = json.loads(data)
        assert {i["check_name"] for i in issues} >= {"virtaudit host-unknown", "virtaudit host-at-risk"}


def test_an_error_without_a_host_is_unknown_and_exit_3() -> None:
    from virtaudit import sources
    from virtaudit.reports.stream import ReportSink
    from virtaudit.scanning import Scan

    tables = sources.empty_tables()
    tables["errors"] = sources.error_frame("x.xml", "h", "io", "boom").with_columns(
        pl.lit(None, pl.String).alias("host")
    )
    sink = ReportSink("json")
    sink.add(Scan.from_tables(tables), pl.DataFrame(schema={c: pl.String for c in tables["errors"].columns}))
    report = sink.report()
    assert report.exit_code == 3
    assert report.host_verdicts().select("host", "verdict").rows() == [("(no host)", "unknown")]


# --------------------------------------------------------------------------------------------------
# 2. what the run judged against


def test_header_says_what_newest_means_and_warns_past_the_model() -> None:
    from virtaudit.versions import NEWEST_MODELLED

    doc = _json(FLEET / "hv-s390-01")
    assert doc["judged_against"]["release"] == "newest"
    assert doc["judged_against"]["newest_modelled"] == NEWEST_MODELLED
    assert f"libvirt {NEWEST_MODELLED}" in doc["judged_against"]["means"]
    assert doc["judged_against"]["warning"] is None
    result = invoke("audit", FLEET / "hv-s390-01", "--target-libvirt", "99.0.0")
    assert "newer than anything the model knows" in result.stdout
    assert "newer than anything the model knows" in result.stderr
    assert _json(FLEET / "hv-s390-01", "--target-libvirt", "99.0.0")["judged_against"]["warning"]
    assert _json(FLEET / "hv-s390-01", "--target-libvirt", "7.0.0")["judged_against"]["warning"] is None


def test_facts_and_where_they_came_from(tmp_path: Path) -> None:
    archive = _sosreport(tmp_path)
    facts = tmp_path / "facts.csv"
    facts.write_text("host,libvirt_version,qemu_version\nhv-s390-01,8.0.0,6.2.0\n")
    doc = _json(archive, FLEET / "hv-s390-01", FLEET / "hv-arm-01", "--host-facts", facts)
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert (
        hosts["power-real"]["libvirt_version"] == "4.5.0" and hosts["power-real"]["qemu_version"] == "2.12.0"
    )
    # (where the facts say they came from: the package list member, the --host-facts line)
    assert hosts["power-real"]["facts_source"] == f"{archive}!sosreport-p/installed-rpms"
    assert hosts["hv-s390-01"]["facts_source"] == f"--host-facts {facts}:2"
    assert hosts["hv-s390-01"]["libvirt_version"] == "8.0.0"
    assert hosts["hv-arm-01"]["facts_source"] is None
    table = invoke("audit", archive, "--host-facts", facts).stdout
    assert "installed-rpms" in table and "judged against: newest" in table


# --------------------------------------------------------------------------------------------------
# 3. several reports from one run


def test_several_outputs_from_one_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from virtaudit import pipeline

    runs = []
    real = pipeline.audit_pieces

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "audit_pieces", counted)
    names = ["report.html", "findings.sarif", "findings.json", "junit.xml", "f.csv"]
    result = invoke("audit", FLEET, *[a for n in names for a in ("-o", tmp_path / n)])
    assert result.exit_code == 1, result.output
    assert runs == [1]
    assert result.stdout == ""
    assert (tmp_path / "report.html").read_bytes().startswith(b"<!DOCTYPE html>")
    assert json.loads((tmp_path / "findings.sarif").read_text())["version"] == "2.1.0"
    doc = json.loads((tmp_path / "findings.json").read_text())
    validate_report(doc)
    assert doc == {**_json(FLEET), "generated": doc["generated"]}
    assert ET.fromstring((tmp_path / "junit.xml").read_bytes()).tag == "testsuites"
    assert (tmp_path / "f.csv").read_text().startswith("host,path,")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-f", "json", "-o", "a.json", "-o", "b.sarif"], "several"),
        (["-o", "a.json", "-o", "b.unknown"], "suffix"),
        (["-o", "a.json", "-o", "a.json"], "twice"),
    ],
)
def test_several_outputs_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    result = invoke("audit", FLEET, *[str(tmp_path / a) if "." in a else a for a in args])
    assert result.exit_code == 2 and message in result.output


def test_f_fits_several_outputs_of_its_format(tmp_path: Path) -> None:
    result = invoke("audit", FLEET, "-f", "json", "-o", tmp_path / "a.json", "-o", tmp_path / "b.json")
    assert result.exit_code == 1
    assert (tmp_path / "a.json").read_bytes()[:1] == (tmp_path / "b.json").read_bytes()[:1] == b"{"


# --------------------------------------------------------------------------------------------------
# 4. SARIF and JUnit


def _sarif(*args: Any) -> dict[str, Any]:
    return json.loads(invoke("audit", *args, "-f", "sarif", "-q").stdout)  # type: ignore[no-any-return]


def test_sarif_fingerprints_do_not_depend_on_how_the_path_was_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)

    def prints(path: str) -> list[str]:
        results = _sarif(path, "--host-from", "parent")["runs"][0]["results"]
        return sorted(r["partialFingerprints"]["virtaudit/v2"] for r in results)

    relative = prints("examples/fleet/hv-x86-01")
    assert relative
    assert prints("./examples/fleet/hv-x86-01/") == relative == prints(str(FLEET / "hv-x86-01"))
    assert prints("examples/fleet/hv-x86-01/../hv-x86-01") == relative


def test_sarif_locations_help_and_schema(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(REPO_ROOT)
    archive = _sosreport(tmp_path)
    doc = _sarif("examples/fleet/hv-x86-01", archive)
    run = doc["runs"][0]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == Path.cwd().as_uri() + "/"
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    plain = [loc for loc in locations if loc["uri"].startswith("examples/")]
    assert plain and all(loc["uriBaseId"] == "%SRCROOT%" for loc in plain)
    members = [loc["uri"] for loc in locations if loc["uri"].startswith("jar:")]
    assert members and all(u.startswith(f"jar:{archive.as_uri()}!/sosreport-p/var/run/") for u in members)
    anchors = {
        m.lower()
        for m in re.findall(r"^### ([A-Z]{3}\d{3})$", (REPO_ROOT / "docs" / "rules.md").read_text(), re.M)
    }
    for rule in run["tool"]["driver"]["rules"]:
        assert rule["helpUri"].split("#")[1] in anchors
    validate_sarif(doc)  # (the OASIS schema, from the dev group; skips without it, saying so)


def test_junit_one_failure_per_guest_with_times() -> None:
    result = invoke("audit", FLEET / "hv-x86-01", "-f", "junit", "-q", "--fail-on", "medium")
    root = ET.fromstring(result.stdout)
    cases = root.findall("testsuite/testcase")
    assert all(len(c.findall("failure")) <= 1 for c in cases)
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(root.get("failures", "-1")) == len(failed) == sum(int(s.get("failures", "-1")) for s in root)
    several = [c for c in failed if "," in (c.find("failure").get("type") or "")]  # type: ignore[union-attr]
    assert several, "a guest with several findings at or above medium (hv-x86-01/lab-bridge)"
    text = several[0].find("failure").text or ""  # type: ignore[union-attr]
    assert text.count("\n\n") >= 1
    for element in (root, *root.findall("testsuite"), *cases):
        assert re.fullmatch(r"\d+(\.\d+)?", element.get("time", "")), element.tag
    assert int(root.get("tests", "-1")) == len(cases)


# --------------------------------------------------------------------------------------------------
# 5. GitHub annotations and GitLab Code Quality


def test_github_annotations_escape_values() -> None:
    from virtaudit.reports.github import command

    line = command("error", "a\nb%c", file="x,y:z.xml", title="T")
    assert line == "::error file=x%2Cy%3Az.xml,title=T::a%0Ab%25c"
    out = invoke("audit", FLEET / "hv-x86-01", "-f", "github").stdout.splitlines()
    assert out and all(re.match(r"^::(error|warning|notice) ", line) for line in out)
    assert any(line.startswith("::error file=") and "title=virtaudit RST001" in line for line in out)


def test_gitlab_code_quality() -> None:
    issues = json.loads(invoke("audit", FLEET, "-f", "gitlab").stdout)
    findings = [i for i in issues if not i["check_name"].startswith("virtaudit host-")]
    assert len(findings) == _json(FLEET)["summary"]["findings"]
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        assert issue["location"]["lines"]["begin"] == 1 and issue["location"]["path"]
    assert len({i["fingerprint"] for i in issues}) == len(issues)


# --------------------------------------------------------------------------------------------------
# 6. terminal, statistics, Parquet, notebooks


def test_table_honours_an_80_column_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = invoke("audit", FLEET).stdout
    widths = {len(line) for line in out.splitlines()}
    assert max(widths) <= 80, max(widths)


def test_path_column_when_guest_names_repeat(tmp_path: Path) -> None:
    for d in ("a", "b"):
        (tmp_path / "hv" / d).mkdir(parents=True)
        (tmp_path / "hv" / d / "legacy-erp.xml").write_bytes(
            (FLEET / "hv-x86-01" / "legacy-erp.xml").read_bytes()
        )
    out = invoke("audit", tmp_path / "hv", "--host-from", "grandparent").stdout
    assert re.search(r"┃ path\s", out)
    plain = invoke("audit", FLEET / "hv-x86-01").stdout
    assert not re.search(r"┃ path\s", plain)


def test_statistics_counts_per_rule() -> None:
    result = invoke("audit", FLEET, "--statistics")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    doc = _json(FLEET)
    assert sum(int(line.split()[0]) for line in lines) == doc["summary"]["findings"]
    assert re.match(r"^\s+2  RST001  critical caps-missing \(2 guests\)$", lines[0])


def test_parquet_severity_is_an_ordered_enum(tmp_path: Path) -> None:
    out = tmp_path / "f.parquet"
    invoke("audit", FLEET, "-o", out)
    df = pl.read_parquet(out)
    assert df.schema["severity"] == pl.Enum(["critical", "high", "medium", "low", "info", "error"])
    shuffled = df.filter(pl.col("code") != "HOST").sample(fraction=1.0, shuffle=True, seed=1)
    order = shuffled.sort("severity")["severity"].cast(pl.String).to_list()
    ranks = ["critical", "high", "medium", "low", "info"]
    assert order == sorted(order, key=ranks.index)


def test_findings_view_for_notebooks() -> None:
    import virtaudit

    findings = virtaudit.audit(virtaudit.scan(str(FLEET)))
    view = virtaudit.view(findings)
    assert view.findings is findings
    text = repr(virtaudit.view(findings, limit=0))
    longest = max(findings["message"].to_list(), key=len)
    counts = findings["severity"].value_counts()
    n = dict(zip(counts["severity"].to_list(), counts["count"].to_list(), strict=True))
    head = f"critical {n['critical']}, high {n['high']}"
    assert longest in text and text.splitlines()[1].startswith(head)
    html = view._repr_html_()
    assert f"critical {n['critical']}" in html
    assert html.index(f"critical {n['critical']}") < html.index("<table>")
    assert virtaudit.view(findings, limit=3).__repr__().count("\n") == 1 + 3 + 1


# --------------------------------------------------------------------------------------------------
# 7. docs


def test_docs_show_the_screenshots_and_every_format() -> None:
    from virtaudit.reports import FORMATS

    text = (REPO_ROOT / "docs" / "cli.md").read_text()
    for png in ("html-report.png", "terminal-80.png"):
        assert f"]({png})" in text
        assert (REPO_ROOT / "docs" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for fmt in FORMATS:
        assert f"`{fmt}`" in text, fmt
    for option in ("--statistics", "-o report.html -o findings.sarif", "restart-safe", "11.3.0"):
        assert option in text


def test_ansible_role_audits_once_and_writes_every_report() -> None:
    """The controller role runs one `virtaudit audit` that writes all of virtaudit_reports (it used to
    audit once per report, and once more for the summary). The play itself runs in tests/test_ansible.py."""
    tasks = REPO_ROOT / "contrib" / "ansible" / "roles" / "virtaudit_audit" / "tasks" / "main.yml"
    if not tasks.is_file():
        pytest.skip("the virtaudit_audit role is not on this branch")
    text = tasks.read_text()
    runs = [block for block in text.split("\n- name: ") if "[virtaudit_local_bin, 'audit']" in block]
    assert len(runs) == 1, runs
    assert "loop:" not in runs[0]
    assert (
        "virtaudit_reports | map('regex_replace', '^', '--output=' + virtaudit_report_dir + '/')" in runs[0]
    )
    assert "'--statistics'" in runs[0]
