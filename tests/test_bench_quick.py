"""The benchmark still runs (quick mode, tiny fleets), and its lxml baseline reads what the oracle reads.

No timing assertions: CI machines are shared and noisy; the figures live in benches/RESULTS.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, find_corpus, load_scan, project_fixture_files

pytestmark = pytest.mark.bench

BENCHES = REPO_ROOT / "benches"
if str(BENCHES) not in sys.path:
    sys.path.insert(0, str(BENCHES))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    load_scan()  # skip (or fail in CI) when the native module is not built
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "results.json"
    md = tmp / "RESULTS.md"
    argv = [
        sys.executable,
        str(BENCHES / "run.py"),
        "--quick",
        "--files",
        "30",
        "--files",
        "60",
        "--no-rust-floor",  # `make bench-quick` covers the cargo build; keep the test suite light
        "--fleets",
        str(tmp / "fleets"),
        "--json",
        str(out),
        "--markdown",
        str(md),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, timeout=900, check=False)
    return {"proc": proc, "results": json.loads(out.read_text()) if out.exists() else None, "md": md}


def test_quick_mode_runs_and_writes_results(quick_run: dict[str, Any]) -> None:
    proc = quick_run["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = quick_run["results"]
    assert results is not None
    assert [s["files"] for s in results["sizes"]] == [30, 60]
    for size in results["sizes"]:
        measures = size["measures"]
        assert {"scan_1", "scan_2", "audit", "audit_empty", "lxml_1", "lxml_2", "cat"} <= set(measures)
        for name, m in measures.items():
            assert "error" not in m, (name, m)
            assert m["wall_s"] > 0, (name, m)
            # (the runs are kept rounded to the microsecond)
            assert abs(m["best_wall_s"] - min(m["runs_wall_s"])) < 1e-6, (name, m)
            assert m["best_wall_s"] <= m["wall_s"], (name, m)
            # (the calibration loops and the audit of an empty directory do not read the files)
            if name.startswith("calib") or name == "audit_empty":
                assert m["mb_per_s"] is None, (name, m)
            else:
                assert m["mb_per_s"] > 0 and m["files_per_s"] > 0, (name, m)
        assert size["checks"]["lxml_1"]["equal"], size["checks"]
        assert size["checks"]["lxml_2"]["equal"], size["checks"]
    keys = {r["key"] for r in results["ratios"] if r["target"] is not None}
    assert keys == {
        "scan1_vs_lxml1",
        "scan2_vs_scan1",
        "audit_vs_cat",
        "rules_vs_scan1",
        "scale_scan1",
        "version_ms",
    }
    targets = [r for r in results["ratios"] if r["target"] is not None]
    assert all(r["value"] is not None for r in targets), targets
    # Beside each target ratio, without a verdict: the same ratio from each measure's fastest round.
    best = {r["key"] for r in results["ratios"] if r["key"].endswith("_best")}
    assert best == {f"{k}_best" for k in keys - {"version_ms"}} | {"machine_parallelism_best"}
    assert all(r["target"] is None for r in results["ratios"] if r["key"] in best)


def test_quick_mode_writes_the_results_page(quick_run: dict[str, Any]) -> None:
    assert quick_run["proc"].returncode == 0, quick_run["proc"].stderr[-3000:]
    page = quick_run["md"].read_text()
    headings = ("# Benchmark results", "## Targets", "## 30 files", "## 60 files", "## How it is measured")
    for heading in headings:
        assert heading in page


def _fixture_and_corpus_files() -> list[Path]:
    files = project_fixture_files()
    corpus = find_corpus()
    if corpus is not None:
        files += sorted(corpus.rglob("*.xml"))
    return files


def test_lxml_baseline_matches_the_oracle() -> None:
    """benches/reference_lxml.py (the fast baseline) gives the tests' oracle's tables on every fixture."""
    import reference_extractor as oracle
    import reference_lxml
    from conftest import frame_diff

    files = _fixture_and_corpus_files()
    if not files:
        pytest.skip("no fixture or corpus files")
    fast = reference_lxml.extract(files)
    slow = oracle.extract(files)
    diffs = (frame_diff(fast[t], slow[t], t, actual_name="fast") for t in oracle.TABLES)
    problems = [d for d in diffs if d is not None]
    assert not problems, "\n\n".join(problems)


def test_lxml_baseline_in_two_processes_matches_one(tmp_path: Path) -> None:
    import gen_fleet
    import reference_lxml
    from conftest import frame_diff

    gen_fleet.generate(tmp_path, 24, 3, 7)
    files = sorted(tmp_path.rglob("*.xml"))
    one = reference_lxml.extract(files)
    two = reference_lxml.extract_parallel(files, 2)
    diffs = (frame_diff(two[t], one[t], t) for t in reference_lxml.TABLES)
    problems = [d for d in diffs if d is not None]
    assert not problems, "\n\n".join(problems)


def test_fastest_round_ratios_pair_the_rounds_both_measures_ran() -> None:
    """lxml runs fewer rounds than the scan: its best of three must meet the scan's best of the same three
    rounds, not of all nine (the later rounds would favour the scan)."""
    import run  # benches/run.py

    def measure(runs: list[float]) -> dict[str, Any]:
        return {"wall_s": sorted(runs)[len(runs) // 2], "runs_wall_s": runs}

    size = {
        "files": 10,
        "bytes": 1000,
        "measures": {
            "lxml_1": measure([6.0, 5.0, 7.0]),
            "scan_1": measure([0.5, 0.4, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
        },
    }
    assert run._best_pair(size, "lxml_1", "scan_1") == (5.0, 0.4)
    best = {r["key"]: r["value"] for r in run.ratios([size], {})}
    assert best["scan1_vs_lxml1_best"] == pytest.approx(12.5)
    assert best["scan1_vs_lxml1"] == pytest.approx(60.0)  # medians: 6.0 / 0.1
