"""The report formats: summary counts, JSON/JSONL against docs/findings.schema.json, CSV, Parquet, JUnit,
SARIF, the table, and the HTML page (rendered in headless Chromium where it is installed)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT, load_scan

SCHEMA_PATH = REPO_ROOT / "docs" / "findings.schema.json"
FLEET = REPO_ROOT / "examples" / "fleet"

# --------------------------------------------------------------------------------------------------
# a tiny JSON Schema validator (the keywords docs/findings.schema.json uses; no runtime dependency)

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_KNOWN = {
    "$schema",
    "$id",
    "$ref",
    "$defs",
    "title",
    "description",
    "type",
    "enum",
    "const",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "allOf",
    "anyOf",
    "oneOf",
    "minimum",
    "pattern",
}


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "$") -> list[str]:
    unknown = set(schema) - _KNOWN
    assert not unknown, f"validator does not know the keywords {unknown} (at {where})"
    errors: list[str] = []
    if "$ref" in schema:
        errors += schema_errors(value, _resolve(root, schema["$ref"]), root, where)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return [*errors, f"{where}: {value!r} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != {schema['const']!r}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        errors.append(f"{where}: {value} < {schema['minimum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing {key!r}")
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key in value:
                errors += schema_errors(value[key], sub, root, f"{where}.{key}")
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(props)
            if extra:
                errors.append(f"{where}: unexpected properties {sorted(extra)}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], root, f"{where}[{i}]")
    for sub in schema.get("allOf", []):
        errors += schema_errors(value, sub, root, where)
    if "anyOf" in schema and all(schema_errors(value, s, root, where) for s in schema["anyOf"]):
        errors.append(f"{where}: matches none of anyOf")
    if "oneOf" in schema:
        matches = sum(not schema_errors(value, s, root, where) for s in schema["oneOf"])
        if matches != 1:
            errors.append(f"{where}: matches {matches} of oneOf (needs exactly 1)")
    return errors


def findings_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())  # type: ignore[no-any-return]


def validate_report(doc: Any) -> None:
    schema = findings_schema()
    errors = schema_errors(doc, schema, schema)
    assert not errors, "\n".join(errors[:20])


def validate_jsonl(text: str) -> list[dict[str, Any]]:
    schema = findings_schema()
    line_schema = {"$ref": "#/$defs/line"}
    lines = [json.loads(line) for line in text.splitlines()]
    for i, obj in enumerate(lines):
        errors = schema_errors(obj, line_schema, schema, f"line {i + 1}")
        assert not errors, "\n".join(errors[:20])
    assert lines and lines[-1]["type"] == "summary", "the last JSONL line is the summary"
    return lines


def test_validator_catches_mistakes() -> None:
    schema = findings_schema()
    good = {
        "host": "h",
        "path": "p",
        "guest": None,
        "uuid": None,
        "code": "PCI001",
        "rule": "r",
        "severity": "high",
        "message": "m",
        "element": None,
        "alias": None,
        "recorded_bus": None,
        "expected_bus": None,
        "libvirt_version": "newest",
        "qemu_version": None,
    }
    finding = {"$ref": "#/$defs/finding"}
    assert schema_errors(good, finding, schema) == []
    assert schema_errors({**good, "severity": "severe"}, finding, schema)
    assert schema_errors({**good, "extra": 1}, finding, schema)
    assert schema_errors({k: v for k, v in good.items() if k != "code"}, finding, schema)
    assert schema_errors({**good, "code": "pci1"}, finding, schema)
    assert schema_errors({**good, "type": "finding"}, {"$ref": "#/$defs/line"}, schema) == []
    assert schema_errors(good, {"$ref": "#/$defs/line"}, schema)  # a JSONL line needs its type


# --------------------------------------------------------------------------------------------------
# reports built by hand (the findings contract), so these tests do not depend on the rules

NASTY = 'bus "pci" <script>alert(1)</script> & [bold]markup[/bold] \x01 é 𝔘'


def hand_findings(domains: pl.DataFrame) -> pl.DataFrame:
    from virtaudit.reports import FINDINGS_COLUMNS

    rows = []
    severities = ["critical", "high", "medium", "low", "info", "high"]
    for i, d in enumerate(domains.head(6).iter_rows(named=True)):
        rows.append(
            {
                "host": d["host"],
                "path": d["path"],
                "guest": d["name"],
                "uuid": d["uuid"],
                "code": ["RST001", "PCI001", "ALS002", "ALS005", "PCI001", "PCI004"][i],
                "rule": [
                    "caps-missing",
                    "root-user-alias",
                    "duplicate-alias",
                    "live-device-drift",
                    "root-user-alias",
                    "bus-without-controller",
                ][i],
                "severity": severities[i],
                "message": f"finding {i}: {NASTY}",
                "element": "controller" if i % 2 else None,
                "alias": f"ua-{i}" if i % 2 else None,
                "recorded_bus": "pci" if i == 1 else None,
                "expected_bus": "pci.0" if i == 1 else None,
                "libvirt_version": "10.0.0",
                "qemu_version": "8.2.0" if i == 2 else None,
            }
        )
    return pl.DataFrame(rows, schema={c: pl.String for c in FINDINGS_COLUMNS})


@pytest.fixture(scope="module")
def report() -> Any:
    scan = load_scan()
    if not FLEET.is_dir():
        pytest.skip("examples/fleet is not there yet")
    from virtaudit.catalog import rules
    from virtaudit.reports import AuditReport, failing_count, guests_of
    from virtaudit.sources import error_frame

    result = scan(str(FLEET))
    findings = hand_findings(result.domains)
    errors = pl.concat(
        [
            result.errors,
            error_frame("fleet/broken.xml", "hv-x86-01", "malformed_xml", f"bad <tag> {NASTY}"),
            error_frame("backup.tar.gz!x/run/libvirt/qemu/g.xml", "backup", "archive", "truncated member"),
        ],
        how="vertical_relaxed",
    )
    return AuditReport(
        findings=findings,
        errors=errors,
        guests=guests_of(result.domains),
        fail_on="high",
        target_libvirt="10.0.0",
        failing=failing_count(findings, "high"),
        exit_code=3,
        catalog=rules(),
        generated="2026-01-02T03:04:05Z",
        version="0.1.0",
    )


def render(fmt: str, report: Any, **kwargs: Any) -> bytes:
    from virtaudit.reports import write_report

    buffer = io.BytesIO()
    write_report(fmt, report, buffer, **kwargs)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# summary


def test_summary_counts(report: Any) -> None:
    import virtaudit
    from virtaudit.catalog import SEVERITIES as CATALOG_SEVERITIES
    from virtaudit.reports import SEVERITIES, summary

    assert SEVERITIES == CATALOG_SEVERITIES
    counts = virtaudit.summary(report.findings)
    assert counts.keys() == summary(report.findings).keys() == {"by_severity", "by_rule", "by_host"}
    by_sev = counts["by_severity"]
    assert by_sev["severity"].cast(pl.String).to_list() == list(SEVERITIES)
    assert dict(by_sev.select(pl.col("severity").cast(pl.String), "findings").iter_rows()) == {
        "critical": 1,
        "high": 2,
        "medium": 1,
        "low": 1,
        "info": 1,
    }
    by_rule = counts["by_rule"]
    assert by_rule["findings"].sum() == report.findings.height
    # PCI001 fired at two severities: one row each, most severe first.
    pci001 = by_rule.filter(pl.col("code") == "PCI001")["severity"].cast(pl.String).to_list()
    assert pci001 == ["high", "info"]
    by_host = counts["by_host"]
    assert by_host["findings"].sum() == report.findings.height
    assert set(by_host.columns) == {"host", "findings", "guests", *SEVERITIES}
    assert (by_host.select(pl.sum_horizontal(*SEVERITIES)).to_series() == by_host["findings"]).all()


def test_summary_of_no_findings() -> None:
    from virtaudit.reports import empty_findings, summary

    counts = summary(empty_findings())
    assert counts["by_severity"]["findings"].to_list() == [0, 0, 0, 0, 0]
    assert counts["by_rule"].height == 0 and counts["by_host"].height == 0


def test_summary_rejects_frames_without_the_contract() -> None:
    from virtaudit.reports import summary

    with pytest.raises(ValueError, match="lack the columns"):
        summary(pl.DataFrame({"host": ["a"]}))


# --------------------------------------------------------------------------------------------------
# machine formats


def test_json_validates_and_round_trips(report: Any) -> None:
    doc = json.loads(render("json", report))
    validate_report(doc)
    assert doc["exit_code"] == 3 and doc["fail_on"] == "high" and doc["target_libvirt"] == "10.0.0"
    assert len(doc["findings"]) == report.findings.height
    assert list(doc["findings"][0]) == list(report.findings.columns)
    assert doc["findings"][0]["message"].endswith(NASTY)
    assert len(doc["errors"]) == report.errors.height
    assert doc["summary"]["unreadable"] == report.errors.height
    assert doc["summary"]["guests"] == report.guests.height


def test_jsonl_validates(report: Any) -> None:
    lines = validate_jsonl(render("jsonl", report).decode())
    kinds = [line["type"] for line in lines]
    hosts = report.host_verdicts().height
    assert kinds == (
        ["finding"] * report.findings.height
        + ["error"] * report.errors.height
        + ["host"] * hosts
        + ["summary"]
    )
    assert lines[-1]["summary"]["findings"] == report.findings.height


def test_csv_has_findings_then_unreadable_inputs(report: Any) -> None:
    from virtaudit.reports import FINDINGS_COLUMNS

    rows = list(csv.DictReader(io.StringIO(render("csv", report).decode())))
    assert list(rows[0]) == list(FINDINGS_COLUMNS)
    hosts = report.host_verdicts()
    assert len(rows) == report.findings.height + report.errors.height + hosts.height
    verdicts = [r for r in rows if r["code"] == "HOST"]
    assert [r["host"] for r in verdicts] == hosts["host"].to_list()
    assert {r["rule"] for r in verdicts} <= {"restart-safe", "at-risk", "unknown"}
    assert all(r["severity"] == "" for r in verdicts)
    inputs = [r for r in rows if r["code"] == "INPUT"]
    assert {r["severity"] for r in inputs} == {"error"}
    assert {r["rule"] for r in inputs} >= {"malformed_xml", "archive"}
    assert rows[0]["message"].endswith(NASTY)


def test_parquet_has_the_csv_rows(report: Any) -> None:
    from virtaudit.reports import FINDINGS_COLUMNS

    df = pl.read_parquet(io.BytesIO(render("parquet", report)))
    assert df.columns == list(FINDINGS_COLUMNS)
    assert df.height == report.findings.height + report.errors.height + report.host_verdicts().height
    assert df.filter(pl.col("code") == "INPUT").height == report.errors.height
    assert df.filter(pl.col("code") == "HOST")["severity"].null_count() == report.host_verdicts().height


def test_junit(report: Any) -> None:
    root = ET.fromstring(render("junit", report))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    hosts = set(report.guests["host"].to_list()) | set(report.errors["host"].to_list())
    assert {s.get("name") for s in suites} == hosts
    cases = root.findall("testsuite/testcase")
    assert len(cases) == report.guests.height + report.errors.height == int(root.get("tests", "0"))
    failures = root.findall("testsuite/testcase/failure")
    # critical + 2 high are at or above 'high'; the others are in system-out
    assert len(failures) == 3 == int(root.get("failures", "0"))
    assert {f.get("type") for f in failures} == {"RST001", "PCI001", "PCI004"}
    errors = root.findall("testsuite/testcase/error")
    assert len(errors) == report.errors.height == int(root.get("errors", "0"))
    outs = [c.findtext("system-out") for c in cases if c.find("system-out") is not None]
    assert len(outs) == 3 and all("libvirt_version: 10.0.0" in o for o in outs if o)
    for suite in suites:
        n = len(suite.findall("testcase"))
        assert int(suite.get("tests", "-1")) == n
    # control characters are replaced, the rest survives escaping
    assert "\x01" not in render("junit", report).decode()
    assert any(NASTY.replace("\x01", "\ufffd") in (f.text or "") for f in failures)


def test_sarif(report: Any) -> None:
    doc = json.loads(render("sarif", report))
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "virtaudit"
    ids = [r["id"] for r in driver["rules"]]
    from virtaudit.catalog import rules

    assert set(ids) >= set(rules()["code"].to_list())
    for rule in driver["rules"]:
        assert rule["help"]["text"] and rule["help"]["markdown"] and rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run["results"]
    assert len(results) == report.findings.height
    levels = {r["ruleId"] + "/" + r["properties"]["severity"]: r["level"] for r in results}
    assert levels["RST001/critical"] == "error" and levels["ALS005/low"] == "note"
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        logical = r["locations"][0]["logicalLocations"]
        assert logical[0]["name"] == r["properties"]["host"]
        assert logical[1]["fullyQualifiedName"].startswith(r["properties"]["host"] + "/")
        assert r["partialFingerprints"]["virtaudit/v2"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 3
    notes = invocation["toolExecutionNotifications"]
    assert len(notes) == report.errors.height and {n["level"] for n in notes} == {"error"}


def test_sarif_uri() -> None:
    from virtaudit.reports.sarif import artifact_uri

    assert artifact_uri("/run/libvirt/qemu/a b.xml") == "file:///run/libvirt/qemu/a%20b.xml"
    assert artifact_uri("fleet/h/g.xml") == "fleet/h/g.xml"
    # an archive member is a jar: URI of the archive's absolute path and the member
    member = artifact_uri("/srv/x.tar.gz!run/libvirt/qemu/g#1.xml")
    assert member == "jar:file:///srv/x.tar.gz!/run/libvirt/qemu/g%231.xml"


# --------------------------------------------------------------------------------------------------
# the table


def test_table(report: Any) -> None:
    text = render("table", report).decode()
    assert "Findings by severity" in text and "By rule" in text and "By host" in text
    assert "Could not read (3)" in text or f"Could not read ({report.errors.height})" in text
    assert text.strip().endswith("the findings above cover only what could be read")
    assert "\x1b[" not in text  # no colour unless asked
    # markup in messages is printed, not interpreted
    assert "[bold]markup[/bold]" in text
    # most severe first
    assert text.index("critical │ ") < text.index("info     │ ") if "info     │ " in text else True
    colored = render("table", report, color=True).decode()
    assert "\x1b[" in colored


def test_table_quiet_and_limit(report: Any) -> None:
    quiet = render("table", report, quiet=True).decode()
    assert "Findings by severity" not in quiet and "Could not read" in quiet
    limited = render("table", report, limit=2).decode()
    assert "the 2 most severe of 6" in limited and "4 more" in limited


def test_table_without_findings(report: Any) -> None:
    from dataclasses import replace

    from virtaudit.reports import empty_errors, empty_findings

    clean = replace(report, findings=empty_findings(), errors=empty_errors(), failing=0, exit_code=0)
    text = render("table", clean).decode()
    assert "No findings." in text and "exit 0: nothing at or above 'high'" in text


# --------------------------------------------------------------------------------------------------
# HTML


def test_html_is_self_contained_and_escaped(report: Any) -> None:
    page = render("html", report).decode()
    assert page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # nothing is loaded from anywhere: no src/href attributes, no @import, no url()
    assert not re.search(r"\s(src|href)\s*=", page)
    assert "@import" not in page and "url(" not in page
    # inputs are escaped: the only <script> element is the page's own
    assert page.count("<script>") == 1 and "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for title in (
        "Findings by severity",
        "Findings by rule",
        "Findings by host",
        "Guests by arch and machine",
    ):
        assert title in page
    assert page.count("<svg") == 4
    assert 'id="f-host"' in page and 'id="f-rule"' in page and 'id="f-q"' in page
    assert page.count('<tr data-sev="') == report.findings.height
    assert "Could not read (" in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_html_renders_in_headless_chromium(report: Any) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); HTML not rendered")
    page = render("html", report)
    shots = Path(os.environ.get("VIRTAUDIT_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="virtaudit-html-"))
    shots.mkdir(parents=True, exist_ok=True)
    html_file = shots / "report.html"
    html_file.write_bytes(page)
    png = shots / "report.png"
    base = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={shots / 'profile'}",
    ]
    shot = subprocess.run(
        [*base, "--window-size=1400,2000", f"--screenshot={png}", html_file.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.returncode == 0, shot.stderr.decode(errors="replace")[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    # The script ran without errors and filled the counter: dump the DOM after scripts.
    dom = subprocess.run([*base, "--dump-dom", html_file.as_uri()], capture_output=True, timeout=120)
    assert dom.returncode == 0
    text = dom.stdout.decode()
    assert f'<b id="f-count">{report.findings.height}</b>' in text
    print(f"screenshot: {png}")


def test_summary_html_for_notebooks(report: Any) -> None:
    from virtaudit.reports import summary_html

    html = summary_html(report.findings, top=2)
    assert "6 in 6 guests" in html and "critical 1" in html and "high 2" in html
    assert "<script" not in html and "… " in html
