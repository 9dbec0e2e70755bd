"""virtaudit's verdicts against a real libvirtd and QEMU (tests/lab/scenarios.py, docs/lab.md).

Offline (every `pytest` run): the recording in tests/lab/recorded/ must match the scenario table, and
virtaudit, auditing the recorded status files for the recorded libvirt and QEMU versions, must agree with
what libvirt did. The live checks (`make lab`) are in test_lab_live.py.

Scenarios with a known model gap are strict xfails: once the rules are fixed the test passes, the xfail
turns into a failure, and the marker must go (with the rule code pinned in the table).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the harness modules beside this file, whatever pytest's import mode
    sys.path.insert(0, str(HERE))

from lab import run_virtaudit  # noqa: E402
from scenarios import (  # noqa: E402
    GAPS,
    HAZARDS,
    RECORDED_LIBVIRT,
    SCENARIOS,
    UPGRADE_CODES,
    UPGRADE_GAPS,
    UPGRADE_SCENARIOS,
    Scenario,
)
from verdict import disagreement, upgrade_disagreement  # noqa: E402

RECORDING = HERE / "recorded" / f"restart-{RECORDED_LIBVIRT}"


def params() -> list[Any]:
    out = []
    for s in SCENARIOS:
        marks = []
        if s.gap is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=GAPS[s.gap]))
        out.append(pytest.param(s, id=s.name, marks=marks))
    return out


# ------------------------------------------------------------------------------------------ offline


@pytest.fixture(scope="module")
def recording() -> dict[str, Any]:
    path = RECORDING / "results.json"
    if not path.exists():
        pytest.skip(f"no lab recording at {path} (make lab writes it)")
    results: dict[str, Any] = json.loads(path.read_text())
    return results


@pytest.fixture(scope="module")
def offline_findings(recording: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """virtaudit now, on the recorded status files, with the recorded versions as host facts."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(RECORDING / "lab", Path(tmp) / "lab")
        return run_virtaudit(Path(tmp), recording["libvirt"], recording["qemu"])


def test_recording_covers_the_table(recording: dict[str, Any]) -> None:
    assert recording["libvirt"] == RECORDED_LIBVIRT
    ran = {n for n, r in recording["scenarios"].items() if "skipped" not in r}
    assert ran == {s.name for s in SCENARIOS}
    machines = {s.template for s in SCENARIOS if s.name in ran}
    assert {"i440fx", "q35", "pseries"} <= machines
    assert len(ran) >= 20


@pytest.mark.parametrize("s", [pytest.param(s, id=s.name) for s in SCENARIOS])
def test_table_matches_recording(s: Scenario, recording: dict[str, Any]) -> None:
    r = recording["scenarios"][s.name]
    assert (r["before"], r["after"]) == (s.before, s.after), r


@pytest.mark.parametrize("s", params())
def test_virtaudit_agrees_with_recorded_libvirt(
    s: Scenario, recording: dict[str, Any], offline_findings: dict[str, list[dict[str, Any]]]
) -> None:
    r = recording["scenarios"][s.name]
    problem = disagreement(s.code, r["before"], r["after"], offline_findings.get(s.guest, []))
    assert problem is None, f"{s.name}: {problem}; libvirt said: {r['after_error'] or r['before_error']}"


# The same scenarios recorded with libvirt 11.3.0 (outcomes differ: pSeries root aliases are translated
# there, doc 6.1): virtaudit must agree with that recording too, judging for 11.3.0. The rule code is the
# table's where the outcome is a hazard under 11.3.0 as well.
RECORDING_11 = HERE / "recorded" / "restart-11.3.0"


@pytest.fixture(scope="module")
def recording_11() -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    path = RECORDING_11 / "results.json"
    if not path.exists():
        pytest.skip(f"no lab recording at {path}")
    results: dict[str, Any] = json.loads(path.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(RECORDING_11 / "lab", Path(tmp) / "lab")
        return results, run_virtaudit(Path(tmp), results["libvirt"], results["qemu"])


@pytest.mark.parametrize("s", [pytest.param(s, id=s.name) for s in SCENARIOS])
def test_virtaudit_agrees_with_recorded_libvirt_11_3(
    s: Scenario, recording_11: tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]
) -> None:
    results, found = recording_11
    assert results["libvirt"] == "11.3.0"
    r = results["scenarios"][s.name]
    code = s.code if r["after"] in HAZARDS else None
    problem = disagreement(code, r["before"], r["after"], found.get(s.guest, []))
    assert problem is None, (
        f"{s.name} @11.3.0: {problem}; libvirt said: {r['after_error'] or r['before_error']}"
    )


# ------------------------------------------------------------------------ package changes (recorded)

UPGRADES = ("9.0.0-to-11.3.0", "11.3.0-to-9.0.0")


def upgrade_params() -> list[Any]:
    out = []
    for rec in UPGRADES:
        for u in UPGRADE_SCENARIOS:
            gap = UPGRADE_GAPS.get((rec, u.name))
            marks = [pytest.mark.xfail(strict=True, reason=GAPS[gap])] if gap else []
            out.append(pytest.param(rec, u.name, id=f"{rec}:{u.name}", marks=marks))
    return out


@pytest.fixture(scope="module")
def upgrade_findings() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """virtaudit now, on each recording's status files (as before the package change), for the target."""
    out = {}
    for rec in UPGRADES:
        path = HERE / "recorded" / rec / "results.json"
        if not path.exists():
            continue
        res = json.loads(path.read_text())
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(HERE / "recorded" / rec / "lab", Path(tmp) / "lab")
            out[rec] = run_virtaudit(Path(tmp), res["target"]["libvirt"], res["target"]["qemu"])
    return out


@pytest.mark.parametrize(("rec", "name"), upgrade_params())
def test_virtaudit_agrees_with_recorded_package_change(
    rec: str, name: str, upgrade_findings: dict[str, dict[str, list[dict[str, Any]]]]
) -> None:
    path = HERE / "recorded" / rec / "results.json"
    if not path.exists():
        pytest.skip(f"no recording of {rec} (make lab-upgrade writes it)")
    r = json.loads(path.read_text())["scenarios"][name]
    code = UPGRADE_CODES.get((rec, name))
    problem = upgrade_disagreement(
        r["before"], r["after"], upgrade_findings[rec].get("vlab-" + name, []), code
    )
    assert problem is None, f"{rec} {name}: {problem}; libvirt said: {r['after_error'] or r['before_error']}"
