"""--host-facts checked line by line (issue 19): nothing silently ignored, no value quoted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"
GUEST = sorted(FLEET.glob("hv-x86-01/*.xml"))[0]
SECRET = "s3cr3t-Passw0rd"


def invoke(*args: str) -> Any:
    from typer.testing import CliRunner
    from virtaudit.cli import get_app

    return CliRunner().invoke(get_app(), [str(a) for a in args])


def audit(facts: Path) -> Any:
    return invoke("audit", str(GUEST), "--host-facts", str(facts), "-f", "json", "--fail-on", "none", "-q")


@pytest.mark.parametrize(
    "text,where",
    [
        (f"host,libvirt_version,qemu_version,password\nhv-x86-01,8.0.0,6.2.0,{SECRET}\n", "line 1, column 4"),
        (f"hv-x86-01,8.0.0,{SECRET}\n", "line 1: no header"),
        (
            f"host,libvirt_version,qemu_version\n\nhv-x86-01,{SECRET},6.2.0\n",
            "line 3, column libvirt_version",
        ),
        (f"host,libvirt_version,qemu_version\nhv-x86-01,8.0.0,{SECRET}\n", "line 2, column qemu_version"),
        (f"host,libvirt_version\nhv-x86-01,8.0.0,{SECRET}\n", "line 2: 3 fields"),
        (f"host,libvirt_version\n,{SECRET}\n", "line 2, column host"),
    ],
)
def test_a_faulty_facts_file_is_a_usage_error_naming_the_line(tmp_path: Path, text: str, where: str) -> None:
    facts = tmp_path / "facts.csv"
    facts.write_text(text)
    result = audit(facts)
    assert result.exit_code == 2, result.output
    assert where in " ".join(result.output.split())
    assert SECRET not in result.output


def test_json_records_are_checked_too(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps([{"host": "hv-x86-01", "libvirt": "8.0.0", "token": SECRET}]))
    result = audit(facts)
    assert result.exit_code == 2 and "record 1: unknown key" in result.output
    assert SECRET not in result.output


def test_hosts_never_seen_and_hosts_given_twice_are_warnings_naming_the_line(tmp_path: Path) -> None:
    facts = tmp_path / "facts.csv"
    facts.write_text(
        "host,libvirt_version,qemu_version\nhv-x86-01,8.0.0,6.2.0\nhv-gone,9.0.0,8.0.0\nhv-x86-01,8.0.0,7.0.0\n"
    )
    result = audit(facts)
    assert result.exit_code == 0, result.output
    err = " ".join(result.stderr.split())
    assert f"--host-facts {facts}:3: no input had this host" in err
    assert "line 4: this host was given before (line 2)" in err


def test_facts_record_where_they_came_from(tmp_path: Path) -> None:
    from virtaudit.pipeline import audit_pieces
    from virtaudit.pipeline.inputs import Pieces, ScanOptions, limits_of

    facts = tmp_path / "facts.csv"
    facts.write_text("host,libvirt_version,qemu_version\nhv-x86-01,8.0.0,6.2.0\n")
    from virtaudit.cli.options import load_facts

    given = load_facts(facts)
    batches = list(
        audit_pieces(
            Pieces([str(GUEST)], ScanOptions(1, None, limits_of())), target_libvirt=None, facts=given
        )
    )
    assert batches[0].facts is not None
    assert batches[0].facts.select("host", "facts_source").rows() == [
        ("hv-x86-01", f"--host-facts {facts}:2")
    ]
    out = tmp_path / "ds"
    result = invoke("scan", str(GUEST), "--host-facts", str(facts), "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    import polars as pl

    stored = pl.read_parquet(out / "facts" / "host=hv-x86-01")
    assert stored["facts_source"].to_list() == [f"--host-facts {facts}:2"]
