"""Settings of `virtaudit audit` from virtaudit.toml or pyproject's [tool.virtaudit]; the command line
wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"
SCRIPT = Path(sys.executable).parent / "virtaudit"


def audit(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    run = subprocess.run(
        [str(SCRIPT), "audit", str(FLEET), "-f", "json", "-q", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return run.returncode, json.loads(run.stdout) if run.stdout.strip() else {}, run.stderr


def test_virtaudit_toml_sets_the_gate_and_the_command_line_wins(tmp_path: Path) -> None:
    (tmp_path / "virtaudit.toml").write_text(
        'target_libvirt = "9.0.0"\nfail_on = "critical"\nselect = ["PCI", "RST"]\n'
    )
    _code, doc, err = audit(tmp_path)
    assert doc["target_libvirt"] == "9.0.0" and doc["fail_on"] == "critical"
    assert {f["code"][:3] for f in doc["findings"]} <= {"PCI", "RST"}
    assert f"settings from {tmp_path / 'virtaudit.toml'}" in err  # never a silent change of the gate
    _code, doc, _ = audit(tmp_path, "--fail-on", "high", "--target-libvirt", "10.0.0", "--select", "CAP")
    assert doc["target_libvirt"] == "10.0.0" and doc["fail_on"] == "high"
    assert {f["code"][:3] for f in doc["findings"]} == {"CAP"}


def test_pyproject_table_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.virtaudit]\nfail_on = "none"\n')
    code, doc, _ = audit(tmp_path)
    assert code == 0 and doc["fail_on"] == "none"
    other = tmp_path / "gate.toml"
    other.write_text('fail_on = "info"\n')
    code, doc, _ = audit(tmp_path, env={"VIRTAUDIT_CONFIG": str(other)})
    assert code == 1 and doc["fail_on"] == "info"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no table: no settings
    assert audit(tmp_path)[1]["fail_on"] == "high"


def test_a_bad_configuration_is_a_usage_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "virtaudit.toml"
    for text, says in (
        ('target = "9.0.0"\n', "unknown key 'target'"),
        ("select = 'PCI'\n", "select must be a list of strings"),
        ("fail_on = [\n", "not TOML"),
    ):
        config.write_text(text)
        code, _doc, err = audit(tmp_path)
        assert code == 2 and says in err, err
