"""Issue 16, "no false greens": exit 0 means every guest given was read and none is at risk.

Each test here failed before the issue was worked on (the docstring says how); the command line runs in a
subprocess where a traceback or an exit code is the point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"
X86 = sorted((FLEET / "hv-x86-01").glob("*.xml"))


def cli(*args: object, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtaudit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        input=stdin,
        timeout=300,
    )


def audit_json(*args: object) -> tuple[int, dict[str, Any], str]:
    run = cli("audit", *args, "-f", "json", "-q")
    assert "Traceback" not in run.stderr, run.stderr
    return run.returncode, (json.loads(run.stdout) if run.stdout.strip() else {}), run.stderr


def copy_guests(to: Path, files: list[Path] = X86) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, to / f.name)
    return to


# --------------------------------------------------------------------------------------------------
# datasets


def test_directories_named_domains_and_errors_hide_nothing(tmp_path: Path) -> None:
    """Before: two empty directories named domains/ and errors/ made the directory a "dataset" of
    nothing: exit 0, 0 guests, the status files beside them unread."""
    import virtaudit

    fleet = copy_guests(tmp_path / "hv")
    (fleet / "domains").mkdir()
    (fleet / "errors").mkdir()
    code, doc, _ = audit_json(fleet)
    assert doc["summary"]["guests"] == len(X86)
    assert code == 1  # the x86 host has high findings
    assert virtaudit.scan(fleet).domains.height == len(X86)
    parent_code, parent, _ = audit_json(tmp_path)  # and from the directory above
    assert parent["summary"]["guests"] == len(X86) and parent_code == 1


def dataset(tmp_path: Path) -> Path:
    import virtaudit
    from virtaudit import sources

    out = tmp_path / "ds"
    sources.write_dataset(out, virtaudit.scan(*X86[:4], host_from="hv1"))
    return out


def part(out: Path, table: str) -> Path:
    (found,) = (out / table / "host=hv1").glob("*.parquet")
    return found


def _truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _not_parquet(p: Path) -> None:
    p.write_text("this is not parquet\n")


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _wrong_schema(p: Path) -> None:
    pl.DataFrame({"path": ["x"], "unexpected": [1]}).write_parquet(p)


def _wrong_type(p: Path) -> None:
    df = pl.read_parquet(p)
    df.with_columns(pl.col("path").cast(pl.Categorical).to_physical()).write_parquet(p)


def _fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


@pytest.mark.parametrize(
    "damage", [_truncate, _not_parquet, _empty, _wrong_schema, _wrong_type, _fifo], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("table", ["domains", "devices", "errors"])
def test_a_broken_dataset_part_is_an_error_row(tmp_path: Path, damage: Any, table: str) -> None:
    """Before: a traceback (polars' error, exit 1), or for a FIFO a hang; now one `dataset` error row
    naming the part and its host, and exit 3."""
    out = dataset(tmp_path)
    broken = part(out, table)
    damage(broken)
    code, doc, _ = audit_json(out)
    assert code == 3
    rows = [e for e in doc["errors"] if e["kind"] == "dataset"]
    assert [(e["path"], e["host"]) for e in rows] == [(str(broken), "hv1")]
