"""scan --out replaces a host's data whole and records when; audit DATASET shows ages and --max-age
refuses old data (issue 19, "Datasets")."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"
GUESTS = sorted(FLEET.glob("hv-x86-01/*.xml"))[:3]


def invoke(*args: str) -> Any:
    from typer.testing import CliRunner
    from virtaudit.cli import get_app

    return CliRunner().invoke(get_app(), [str(a) for a in args])


def guests_dir(tmp_path: Path, name: str, n: int) -> Path:
    d = tmp_path / name
    d.mkdir()
    for g in GUESTS[:n]:
        shutil.copy(g, d / g.name)
    return d


def audited(dataset: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    result = invoke("audit", str(dataset), "-f", "json", "--fail-on", "none", *args)
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_a_host_with_no_guests_any_more_has_none_afterwards(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    full, empty = guests_dir(tmp_path, "full", 3), guests_dir(tmp_path, "empty", 0)
    assert invoke("scan", str(full), "--host-name", "hv1", "--out", str(out), "-q").exit_code == 0
    assert audited(out)[1]["summary"]["guests"] == 3
    result = invoke("scan", str(empty), "--host-name", "hv1", "--out", str(out), "-q")
    assert result.exit_code == 3  # (a named directory with no status file is nothing_found)
    _code, doc, _err = audited(out)
    assert doc["summary"]["guests"] == 0
    assert not list(out.glob(".staging-*")) and not list(out.glob(".old-*"))


def test_fewer_guests_replace_more(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert (
        invoke("scan", str(guests_dir(tmp_path, "a", 3)), "--host-name", "hv1", "--out", str(out)).exit_code
        == 0
    )
    assert (
        invoke("scan", str(guests_dir(tmp_path, "b", 1)), "--host-name", "hv1", "--out", str(out)).exit_code
        == 0
    )
    assert audited(out)[1]["summary"]["guests"] == 1


def test_the_marker_records_each_hosts_scan(tmp_path: Path) -> None:
    from virtaudit import __version__

    out = tmp_path / "ds"
    assert (
        invoke("scan", str(guests_dir(tmp_path, "a", 2)), "--host-name", "hv1", "--out", str(out)).exit_code
        == 0
    )
    info = json.loads((out / "_virtaudit.json").read_text())["host_info"]
    assert set(info) == {"hv1"}
    assert info["hv1"]["virtaudit"] == __version__ and info["hv1"]["source"] == "files"
    assert info["hv1"]["scanned"].endswith("Z")


def test_a_failed_run_leaves_the_dataset_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ds"
    assert (
        invoke("scan", str(guests_dir(tmp_path, "a", 3)), "--host-name", "hv1", "--out", str(out)).exit_code
        == 0
    )
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    from virtaudit import dataset_writer

    def broken(*_a: Any, **_k: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dataset_writer, "write_dataset", broken)
    result = invoke("scan", str(guests_dir(tmp_path, "b", 1)), "--host-name", "hv1", "--out", str(out))
    assert result.exit_code == 2 and "No space left" in result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before


def sosreport_dir(top: Path, host: str) -> Path:
    status = top / "run" / "libvirt" / "qemu"
    status.mkdir(parents=True)
    shutil.copy(GUESTS[0], status / GUESTS[0].name)
    (top / "sos_commands" / "host").mkdir(parents=True)
    (top / "sos_commands" / "host" / "hostname").write_text(host + "\n")
    return top


def test_another_input_does_not_take_a_host_over_without_replace_hosts(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert (
        invoke("scan", str(guests_dir(tmp_path, "a", 3)), "--host-name", "hv1", "--out", str(out)).exit_code
        == 0
    )
    sos = sosreport_dir(tmp_path / "sosreport-hv1", "hv1")
    result = invoke("scan", str(sos), "--out", str(out))
    assert result.exit_code == 3 and "not replaced" in result.stderr
    assert audited(out)[1]["summary"]["guests"] == 3
    assert invoke("scan", str(sos), "--out", str(out), "--replace-hosts").exit_code == 0
    assert audited(out)[1]["summary"]["guests"] == 1
    assert json.loads((out / "_virtaudit.json").read_text())["host_info"]["hv1"]["source"] == str(sos)


def test_audit_shows_ages_and_refuses_data_older_than_max_age(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert (
        invoke("scan", str(guests_dir(tmp_path, "a", 2)), "--host-name", "hv1", "--out", str(out)).exit_code
        == 0
    )
    assert (
        invoke("scan", str(guests_dir(tmp_path, "b", 1)), "--host-name", "hv2", "--out", str(out)).exit_code
        == 0
    )
    code, doc, err = audited(out, "--max-age", "24h")
    assert code == 0 and doc["summary"]["guests"] == 3
    assert "host hv1: scanned" in err and "host hv2: scanned" in err
    meta_path = out / "_virtaudit.json"
    meta = json.loads(meta_path.read_text())
    meta["host_info"]["hv1"]["scanned"] = "2020-01-01T00:00:00Z"
    meta_path.write_text(json.dumps(meta))
    code, doc, _err = audited(out, "--max-age", "24h")
    assert code == 3 and doc["summary"]["guests"] == 1
    [error] = doc["errors"]
    assert error["host"] == "hv1" and error["kind"] == "dataset"
    # (the age is days and hours: "2532d 1h ago", or "2532d ago" on the hour)
    assert "older than --max-age 1d" in error["message"]
    assert re.search(r"scanned \d+d( \d+h)? ago", error["message"]), error["message"]
    # without --max-age the old data is read (its age shown)
    assert audited(out)[0] == 0


def test_max_age_refuses_data_of_unknown_age(tmp_path: Path) -> None:
    import virtaudit
    from virtaudit import sources

    out = tmp_path / "ds"
    sources.write_dataset(out, virtaudit.scan(*GUESTS, host_from="old"))
    code, doc, _err = audited(out, "--max-age", "7d")
    assert code == 3 and "unknown time ago" in doc["errors"][0]["message"]


@pytest.mark.parametrize("bad", ["24", "h", "-1h", "0d", "1y"])
def test_a_bad_max_age_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    assert invoke("audit", str(GUESTS[0]), "--max-age", bad).exit_code == 2


def test_a_covered_host_that_found_nothing_is_emptied(tmp_path: Path) -> None:
    """scan --out of an empty default status directory (not named, so no error row): the host named
    after this machine is written with empty partitions, its old guests gone."""
    from virtaudit.cli.scan import DatasetWriter
    from virtaudit.pipeline import Pieces, ScanOptions, limits_of

    out = tmp_path / "ds"
    assert (
        invoke("scan", str(guests_dir(tmp_path, "a", 3)), "--host-name", "hv1", "--out", str(out)).exit_code
        == 0
    )
    empty = guests_dir(tmp_path, "empty", 0)
    writer = DatasetWriter(out, ["hv1"])
    options = ScanOptions(1, "hv1", limits_of(), require_rows=False)
    writer.run(Pieces([str(empty)], options), target_libvirt=None, facts=None)
    writer.commit(replace=False)
    assert writer.written == {"hv1"}
    _code, doc, _err = audited(out)
    # (the dataset holds no row at all now: auditing it is nothing_found, exit 3, as for an empty directory)
    assert doc["summary"]["guests"] == 0
    parts = list((out / "domains" / "host=hv1").glob("*.parquet"))
    assert sum(pl.read_parquet(p).height for p in parts) == 0
