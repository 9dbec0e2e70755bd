"""The live lab: `make lab` has just run every scenario against the libvirt installed here.

VIRTAUDIT_LAB_OUT names the harness's output. libvirt must still behave as the table (tests/lab/scenarios.py)
recorded, and virtaudit must agree with what libvirt did now; known model gaps are strict xfails, as in
test_lab.py. Without VIRTAUDIT_LAB_OUT, or where the harness could not run, the module skips in one line.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the harness modules beside this file, whatever pytest's import mode
    sys.path.insert(0, str(HERE))

from scenarios import GAPS, RECORDED_LIBVIRT, SCENARIOS, Scenario  # noqa: E402
from verdict import disagreement  # noqa: E402


def params() -> list[Any]:
    out = []
    for s in SCENARIOS:
        marks = [pytest.mark.xfail(strict=True, reason=GAPS[s.gap])] if s.gap is not None else []
        out.append(pytest.param(s, id=s.name, marks=marks))
    return out


OUT = os.environ.get("VIRTAUDIT_LAB_OUT")
if not OUT:
    pytest.skip(
        "live lab: run `make lab` (root, Debian: installs and runs libvirtd and QEMU)",
        allow_module_level=True,
    )
if (Path(OUT) / "skipped.txt").exists():
    pytest.skip(f"live lab: {(Path(OUT) / 'skipped.txt').read_text().strip()}", allow_module_level=True)


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    assert OUT is not None
    path = Path(OUT) / "results-restart.json"
    if not path.exists():
        pytest.fail(f"the lab harness wrote no {path}")
    results: dict[str, Any] = json.loads(path.read_text())
    assert "audit_error" not in results, results["audit_error"]
    return results


def check_ran(s: Scenario, r: dict[str, Any]) -> None:
    """Skip a scenario whose QEMU binary is not installed; a guest that did not start is a failure."""
    if "skipped" in r:
        if "is not installed" in r["skipped"]:
            pytest.skip(f"{s.name}: {r['skipped']}")
        pytest.fail(f"{s.name}: {r['skipped']}")


@pytest.mark.parametrize("s", [pytest.param(s, id=s.name) for s in SCENARIOS])
def test_live_libvirt_matches_table(s: Scenario, live: dict[str, Any]) -> None:
    r = live["scenarios"][s.name]
    check_ran(s, r)
    if live["libvirt"] != RECORDED_LIBVIRT:
        pytest.skip(f"the table was recorded with libvirt {RECORDED_LIBVIRT}, this is {live['libvirt']}")
    assert (r["before"], r["after"]) == (s.before, s.after), r


@pytest.mark.parametrize("s", params())
def test_live_virtaudit_agrees_with_libvirt(s: Scenario, live: dict[str, Any]) -> None:
    r = live["scenarios"][s.name]
    check_ran(s, r)
    if s.gap is not None and live["libvirt"] != RECORDED_LIBVIRT:
        pytest.xfail(f"{GAPS[s.gap]} (recorded with {RECORDED_LIBVIRT}; this is {live['libvirt']})")
    problem = disagreement(s.code, r["before"], r["after"], r["findings"])
    assert problem is None, f"{s.name}: {problem}; libvirt said: {r['after_error'] or r['before_error']}"


LIVE_MARK = re.compile(r"\[live: (confirmed|refuted|unverified): [^\]]*\]$")


def live_verdicts(r: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    out = []
    for finding in r["live_findings"]:
        if finding["code"].startswith("PCI") and "[live:" in finding["message"]:
            mark = LIVE_MARK.search(finding["message"])
            assert mark is not None, finding
            out.append((finding, mark.group(1)))
    return out


@pytest.mark.parametrize("s", [pytest.param(s, id=s.name) for s in SCENARIOS])
def test_live_evidence_agrees_with_libvirt(s: Scenario, live: dict[str, Any]) -> None:
    """`virtaudit audit --live` read the running QEMU's command line. A high finding it confirms must be
    one whose hotplug failed after the restart ("Bus ... not found"), one it refutes must not; and it never
    refutes a finding about a bus whose hotplug failed. (On a bus that takes no hotplug, a pcie-root, the
    names can differ without consequence: those findings are info, and "confirmed" only says the names
    differ.)"""
    assert "live_error" not in live, live["live_error"]
    r = live["scenarios"][s.name]
    check_ran(s, r)
    failed_on_bus = r["after"] == "fail" and "not found" in (r["after_error"] or "")
    for finding, verdict in live_verdicts(r):
        if finding["severity"] in ("high", "critical") and verdict != "unverified":
            assert (verdict == "confirmed") == failed_on_bus, (s.name, finding)
        if failed_on_bus:
            assert verdict != "refuted", (s.name, finding)


def test_live_evidence_confirms_the_failures_it_can_see(live: dict[str, Any]) -> None:
    """Not vacuous: the command lines confirmed high findings of scenarios whose hotplug failed."""
    confirmed = {
        name
        for name, r in live["scenarios"].items()
        if "live_findings" in r
        for finding, verdict in live_verdicts(r)
        if verdict == "confirmed" and finding["severity"] in ("high", "critical")
    }
    assert len(confirmed) >= 3, confirmed
