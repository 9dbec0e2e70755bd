"""Accepted findings (`--baseline FILE`, written by `--write-baseline`): suppressed findings leave the
findings, the exit code and the host verdicts, and are counted in every format; expired entries suppress
nothing and warn, stale ones warn, a bad file is a usage error, an unreadable input stays unknown."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT
from hypothesis import given
from hypothesis import strategies as st
from test_cli import invoke
from test_reports import validate_jsonl, validate_report
from virtaudit.baseline import BaselineProblem, Entry, baseline_toml, parse_baseline, toml_string

FLEET = REPO_ROOT / "examples" / "fleet"
PLANTED = FLEET / "planted.csv"
SCRIPT = Path(sys.executable).parent / "virtaudit"
REASON = "accepted at adoption (ticket OPS-1)"


def planted() -> list[dict[str, str]]:
    with PLANTED.open() as f:
        return list(csv.DictReader(f))


def audit_json(*args: Any) -> tuple[int, dict[str, Any], str]:
    result = invoke("audit", FLEET, "-f", "json", "-q", *args)
    doc = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.exit_code, doc, result.stderr


@pytest.fixture(scope="module")
def plain() -> dict[str, Any]:
    """The example fleet audited without a baseline."""
    code, doc, _ = audit_json()
    assert code == 1
    return doc


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline of the whole example fleet, with a reason."""
    path = tmp_path_factory.mktemp("baseline") / "baseline.toml"
    result = invoke("audit", FLEET, "-q", "--write-baseline", path, "--reason", REASON)
    assert result.exit_code == 1, result.output  # (the run that writes a baseline is judged as usual)
    return path


def flat(text: str) -> str:
    """Text without spaces and the frame of Typer's error box (which wraps long messages)."""
    return re.sub(r"[\s│╭╮╰╯─]+", "", text)


def entries_of(path: Path) -> list[dict[str, Any]]:
    return tomllib.loads(path.read_text())["accepted"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# writing, then auditing with it


def test_the_written_baseline_has_one_entry_per_planted_finding(written: Path, plain: dict[str, Any]) -> None:
    entries = entries_of(written)
    got = Counter((e["host"], e["guest"], e["code"]) for e in entries)
    want = Counter((p["host"], p["guest"], p["code"]) for p in planted())
    assert got == want
    assert all(e["reason"] == REASON for e in entries)
    uuids = {(f["host"], f["guest"]): f["uuid"] for f in plain["findings"]}
    assert all(e["uuid"] == uuids[(e["host"], e["guest"])] for e in entries)  # keyed by UUID
    severities = {(f["host"], f["guest"], f["code"]): f["severity"] for f in plain["findings"]}
    assert all(e["severity"] == severities[(e["host"], e["guest"], e["code"])] for e in entries)


def test_a_run_with_its_own_baseline_is_clean_and_counts_what_it_suppressed(
    written: Path, plain: dict[str, Any]
) -> None:
    code, doc, err = audit_json("--baseline", written)
    validate_report(doc)
    assert code == 0 and doc["findings"] == [] and doc["exit_code"] == 0
    total = len(plain["findings"])
    assert total == plain["summary"]["findings"] > len(planted())  # (a guest can have one code twice)
    assert doc["summary"]["suppressed"] == total and doc["summary"]["findings"] == 0
    assert doc["summary"]["failing"] == 0
    per_severity = Counter(f["severity"] for f in plain["findings"])
    assert doc["baseline"]["by_severity"] == {s: per_severity[s] for s in doc["baseline"]["by_severity"]}
    assert doc["baseline"]["entries"] == len(planted()) and doc["baseline"]["stale"] == 0
    assert {h["verdict"] for h in doc["hosts"]} == {"restart-safe"}
    by_host = Counter(f["host"] for f in plain["findings"])
    assert {h["host"]: h["suppressed"] for h in doc["hosts"] if h["suppressed"]} == by_host
    assert f"{total} finding(s) suppressed by the baseline" in err  # (even with -q)


def test_a_baseline_written_without_a_reason_is_refused_until_each_is_written(
    tmp_path: Path, plain: dict[str, Any]
) -> None:
    path = tmp_path / "b.toml"
    result = invoke("audit", FLEET / "hv-x86-02", "-q", "--write-baseline", path)
    assert flat("write the reason of each new entry") in flat(result.stderr)
    assert {e["reason"] for e in entries_of(path)} == {""}
    result = invoke("audit", FLEET / "hv-x86-02", "-q", "--baseline", path)
    assert result.exit_code == 2
    first = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line == "[[accepted]]")
    assert flat(f"entry 1 (line {first}): reason is empty") in flat(result.stderr)
    path.write_text(path.read_text().replace('reason = ""', 'reason = "vendor appliance, RHV-2231"'))
    _code, doc, _ = audit_json("--baseline", path)
    assert not [f for f in doc["findings"] if f["host"] == "hv-x86-02"]
    hv = [f for f in plain["findings"] if f["host"] == "hv-x86-02"]
    assert doc["summary"]["suppressed"] == len(hv) == len(entries_of(path))


def test_min_severity_limits_what_is_written_not_what_is_judged(
    tmp_path: Path, plain: dict[str, Any]
) -> None:
    path = tmp_path / "high.toml"
    invoke("audit", FLEET, "-q", "--min-severity", "high", "--write-baseline", path, "--reason", REASON)
    high = {
        (f["host"], f["guest"], f["code"]) for f in plain["findings"] if f["severity"] in ("critical", "high")
    }
    assert {(e["host"], e["guest"], e["code"]) for e in entries_of(path)} == high
    code, doc, _ = audit_json("--baseline", path)
    assert code == 0  # every finding at or above --fail-on high is accepted
    left = [f for f in plain["findings"] if f["severity"] not in ("critical", "high")]
    assert len(doc["findings"]) == len(left) > 0


# --------------------------------------------------------------------------------------------------
# expired and stale entries


def _entry_line(text: str, guest: str, code: str) -> int:
    """The line after which an entry's keys end (its `reason = ...` line), 0-based."""
    lines = text.splitlines()
    start = next(
        i
        for i, line in enumerate(lines)
        if line == f'guest = "{guest}"' and lines[i + 1] == f'code = "{code}"'
    )
    return next(i for i in range(start, len(lines)) if lines[i].startswith("reason = "))


def with_expiry(path: Path, out: Path, guest: str, code: str, expires: str) -> None:
    lines = path.read_text().splitlines()
    at = _entry_line("\n".join(lines), guest, code)
    lines.insert(at + 1, f"expires = {expires}")
    out.write_text("\n".join(lines) + "\n")


def test_an_expired_entry_suppresses_nothing_and_warns(
    written: Path, tmp_path: Path, plain: dict[str, Any]
) -> None:
    path = tmp_path / "b.toml"
    with_expiry(written, path, "legacy-erp", "PCI002", "2001-01-31")
    future = tmp_path / "c.toml"
    with_expiry(path, future, "mail-01", "CAP001", '"2999-12-31"')  # (a string date is taken too)
    code, doc, err = audit_json("--baseline", future)
    back = [f for f in plain["findings"] if f["guest"] == "legacy-erp" and f["code"] == "PCI002"]
    assert back and doc["findings"] == back
    assert code == 1 and doc["baseline"]["expired"] == 1
    assert doc["summary"]["suppressed"] == len(plain["findings"]) - len(back)
    assert re.search(r"entry \d+ \(line \d+\): hv-x86-01 legacy-erp PCI002 expired on 2001-01-31", err), err
    verdicts = {h["host"]: h["verdict"] for h in doc["hosts"]}
    assert verdicts["hv-x86-01"] == "at-risk"


def test_stale_entries_warn_unless_the_run_could_not_judge_them(written: Path, tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    extra = (
        '\n[[accepted]]\nhost = "hv-x86-01"\nuuid = "00000000-0000-0000-0000-000000000000"\n'
        'guest = "gone-01"\ncode = "PCI001"\nreason = "retired next week"\n'
    )
    path.write_text(written.read_text() + extra)
    code, doc, err = audit_json("--baseline", path)
    assert code == 0 and doc["baseline"]["stale"] == 1
    assert "1 entry matched no finding (stale)" in err and "hv-x86-01 gone-01 PCI001" in err
    # With only the CAP rules run, the PCI entries are not judged: not stale.
    _code, doc, err = audit_json("--baseline", path, "--select", "CAP")
    assert doc["baseline"]["stale"] == 0 and "matched no finding" not in err


# --------------------------------------------------------------------------------------------------
# a bad baseline is a usage error naming the problem


GOOD = 'version = 1\n\n[[accepted]]\nhost = "h"\nuuid = "u"\ncode = "PCI001"\nreason = "r"\n'


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (GOOD.replace('reason = "r"', 'reason = "  "'), "entry 1 (line 3): reason is empty"),
        (GOOD.replace('reason = "r"\n', ""), "entry 1 (line 3): no reason"),
        (GOOD + "expires = 2026-13-01\n", "not TOML"),
        (GOOD + 'expires = "2026-02-30"\n', "entry 1 (line 3): expires is not a date of the calendar"),
        (GOOD + 'expires = "next year"\n', "entry 1 (line 3): expires must be a date, YYYY-MM-DD"),
        (GOOD + "expires = 2026-01-01T10:00:00\n", "expires must be a date (YYYY-MM-DD), not a time"),
        (GOOD + 'hosts = "h"\n', "entry 1 (line 3): unknown key 'hosts'"),
        (GOOD.replace('uuid = "u"\n', ""), "no uuid, guest or path"),
        (GOOD.replace('"PCI001"', '"pci1"'), "code is not a rule code"),
        (GOOD.replace("version = 1", "version = 2"), "version must be 1"),
        (GOOD.replace("version = 1\n", ""), "no version"),
        (GOOD + GOOD.replace("version = 1\n", ""), "entry 2 (line 9): accepts the same finding as entry 1"),
        ("version = 1\nacepted = []\n", "unknown top-level key 'acepted'"),
        ("version = 1\n[[accepted]\n", "not TOML"),
        ("\udcff", "not UTF-8"),
    ],
)
def test_a_bad_baseline_is_a_usage_error_naming_the_problem(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "b.toml"
    path.write_bytes(b"\xff" if text == "\udcff" else text.encode())
    result = invoke("audit", FLEET / "hv-x86-02", "-q", "--baseline", path)
    assert result.exit_code == 2, result.output
    assert flat(says) in flat(result.stderr) and flat(str(path)) in flat(result.stderr), result.stderr
    assert "Traceback" not in result.output


def test_a_missing_or_special_baseline_is_a_usage_error(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.toml", tmp_path):
        result = invoke("audit", FLEET / "hv-x86-02", "-q", "--baseline", path)
        assert result.exit_code == 2, result.output
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    result = invoke("audit", FLEET / "hv-x86-02", "-q", "--baseline", fifo)
    assert result.exit_code == 2 and "notaregularfile" in flat(result.stderr)


# --------------------------------------------------------------------------------------------------
# from the configuration file, the command line winning


def cli(cwd: Path, *args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "audit", str(FLEET), "-q", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_the_configuration_file_names_the_baseline_and_the_command_line_wins(
    written: Path, tmp_path: Path, plain: dict[str, Any]
) -> None:
    shutil.copy(written, tmp_path / "all.toml")
    one = next(e for e in entries_of(written) if e["guest"] == "legacy-erp" and e["code"] == "RST001")
    lines = [f"{k} = {toml_string(str(one[k]))}" for k in ("host", "uuid", "code", "reason")]
    (tmp_path / "one.toml").write_text("version = 1\n\n[[accepted]]\n" + "\n".join(lines) + "\n")
    (tmp_path / "virtaudit.toml").write_text('baseline = "all.toml"\n')
    run = cli(tmp_path, "-f", "json")
    assert run.returncode == 0 and json.loads(run.stdout)["summary"]["suppressed"] == len(plain["findings"])
    assert "settings from" in run.stderr and "baseline" in run.stderr
    run = cli(tmp_path, "-f", "json", "--baseline", "one.toml")
    doc = json.loads(run.stdout)
    assert doc["summary"]["suppressed"] == 1 and doc["baseline"]["file"] == "one.toml"
    assert len(doc["findings"]) == len(plain["findings"]) - 1 and run.returncode == 1
    # --no-baseline: the configuration file's baseline is not used; with --baseline too: a usage error
    run = cli(tmp_path, "-f", "json", "--no-baseline")
    doc = json.loads(run.stdout)
    assert run.returncode == 1 and doc["summary"]["suppressed"] == 0 and doc["baseline"] is None
    assert len(doc["findings"]) == len(plain["findings"])
    run = cli(tmp_path, "--baseline", "one.toml", "--no-baseline")
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", run.stderr).split())  # (the error box wraps its text)
    assert run.returncode == 2 and "--baseline and --no-baseline exclude each other" in said
    (tmp_path / "virtaudit.toml").write_text("baseline = 1\n")
    assert cli(tmp_path).returncode == 2


# --------------------------------------------------------------------------------------------------
# every format counts what was suppressed


def _mentioned(fmt: str, out: bytes, total: int) -> None:
    text = out.decode(errors="replace")
    per_host = r"(\d+) suppressed by the baseline"
    if fmt in ("table", "html"):
        assert f"{total} finding(s) suppressed by the baseline" in text
        assert f"({total} suppressed by the baseline)" in text  # (the verdict sentence)
    elif fmt == "json":
        validate_report(json.loads(text))
        assert json.loads(text)["summary"]["suppressed"] == total
    elif fmt == "jsonl":
        assert validate_jsonl(text)[-1]["summary"]["suppressed"] == total
    elif fmt == "csv":
        rows = [r for r in csv.DictReader(io.StringIO(text)) if r["code"] == "HOST"]
        assert sum(int(m[1]) for r in rows if (m := re.search(per_host, r["message"]))) == total
    elif fmt == "parquet":
        hosts = pl.read_parquet(io.BytesIO(out)).filter(pl.col("code") == "HOST")
        assert sum(int(m[1]) for r in hosts["message"] if (m := re.search(per_host, r))) == total
    elif fmt == "junit":
        props = ET.fromstring(out).iter("property")
        assert sum(int(p.get("value", "0")) for p in props if p.get("name") == "suppressed") == total
    elif fmt == "sarif":
        results = json.loads(text)["runs"][0]["results"]
        assert len(results) == total
        assert all(r["suppressions"][0]["kind"] == "external" for r in results)
        assert {r["suppressions"][0]["justification"] for r in results} == {REASON}
    elif fmt == "github":
        assert f"::notice title=virtaudit baseline::{total} finding(s) suppressed" in text
    elif fmt == "gitlab":
        issues = [i for i in json.loads(text) if i["check_name"] == "virtaudit baseline"]
        assert len(issues) == 1 and issues[0]["description"].startswith(f"{total} finding(s) suppressed")


@pytest.mark.parametrize(
    "fmt", ["table", "json", "jsonl", "csv", "parquet", "junit", "sarif", "html", "github", "gitlab"]
)
def test_every_format_counts_the_suppressed_findings(
    fmt: str, written: Path, tmp_path: Path, plain: dict[str, Any]
) -> None:
    out = tmp_path / f"report.{fmt}"
    result = invoke("audit", FLEET, "--baseline", written, "-f", fmt, "-o", out)
    assert result.exit_code == 0, result.output
    _mentioned(fmt, out.read_bytes(), len(plain["findings"]))


def test_sarif_lists_suppressed_results_beside_the_others(written: Path, tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    with_expiry(written, path, "legacy-erp", "PCI002", "2001-01-31")
    doc = json.loads(invoke("audit", FLEET, "-q", "--baseline", path, "-f", "sarif").stdout)
    open_ = [r for r in doc["runs"][0]["results"] if "suppressions" not in r]
    assert [(r["properties"]["guest"], r["ruleId"]) for r in open_] == [("legacy-erp", "PCI002")]
    suppressed = [r for r in doc["runs"][0]["results"] if "suppressions" in r]
    assert all("baseline_reason" not in r["properties"] for r in suppressed)
    assert all(r["suppressions"][0]["status"] == "accepted" for r in suppressed)


# --------------------------------------------------------------------------------------------------
# no false greens


def test_an_unreadable_input_stays_unknown_whatever_the_baseline(written: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(FLEET, fleet, ignore=shutil.ignore_patterns("*.csv", "*.txt", "*.md"))
    good = (fleet / "hv-x86-01" / "mail-01.xml").read_bytes()
    (fleet / "hv-x86-01" / "cut.xml").write_bytes(good[: len(good) // 2])
    result = invoke("audit", fleet, "-q", "-f", "json", "--baseline", written)
    doc = json.loads(result.stdout)
    assert result.exit_code == 3 and doc["exit_code"] == 3 and doc["findings"] == []
    verdicts = {h["host"]: h["verdict"] for h in doc["hosts"]}
    assert verdicts["hv-x86-01"] == "unknown"
    assert len(doc["errors"]) == 1


# --------------------------------------------------------------------------------------------------
# writing never overwrites what it should not, and keeps what people wrote


def test_write_baseline_refuses_to_overwrite_anything_but_a_baseline(tmp_path: Path) -> None:
    other = tmp_path / "notes.toml"
    other.write_text('title = "not a baseline"\n')
    xml = tmp_path / "g.xml"
    shutil.copy(FLEET / "hv-x86-02" / "rhv-app02.xml", xml)
    out = tmp_path / "r.json"
    for target, extra, says in (
        (other, [], "exists and is not a virtaudit baseline"),
        (xml, [], "is also an input or output of this run"),
        (out, ["-o", out], "is also an input or output of this run"),
        (tmp_path / "no" / "b.toml", [], "no such directory"),
    ):
        before = target.read_bytes() if target.exists() else None
        result = invoke("audit", xml, "-q", *extra, "--write-baseline", target)
        assert result.exit_code == 2 and flat(says) in flat(result.stderr), result.stderr
        assert (target.read_bytes() if target.exists() else None) == before
    result = invoke("audit", xml, "-q", "--reason", "why")
    assert result.exit_code == 2 and "--write-baseline" in result.stderr
    baseline = tmp_path / "b.toml"
    baseline.write_text("version = 1\n")
    result = invoke("audit", xml, "-q", "--baseline", baseline, "-o", baseline)
    assert result.exit_code == 2 and baseline.read_text() == "version = 1\n"


def test_rewriting_a_baseline_keeps_reasons_and_expiry_and_drops_stale_entries(
    written: Path, tmp_path: Path
) -> None:
    path = tmp_path / "b.toml"
    with_expiry(written, path, "mail-01", "CAP001", "2999-01-31")
    text = path.read_text().replace(f'reason = "{REASON}"', 'reason = "kept: OPS-7"', 1)
    stale = '\n[[accepted]]\nhost = "hv-x86-01"\nguest = "gone"\ncode = "PCI001"\nreason = "x"\n'
    unjudged = '\n[[accepted]]\nhost = "hv-x86-01"\nguest = "gone"\ncode = "ALS001"\nreason = "y"\n'
    path.write_text(text + stale + unjudged)
    result = invoke("audit", FLEET, "--select", "PCI,CAP,RST", "--write-baseline", path)
    assert result.exit_code == 1, result.output
    entries = entries_of(path)
    mail = next(e for e in entries if e["guest"] == "mail-01" and e["code"] == "CAP001")
    assert mail["expires"] == dt.date(2999, 1, 31)
    assert sum(e["reason"] == "kept: OPS-7" for e in entries) == 1
    assert not any(e["guest"] == "gone" and e["code"] == "PCI001" for e in entries)  # stale: dropped
    assert any(e["guest"] == "gone" and e["code"] == "ALS001" for e in entries)  # ALS did not run: kept
    assert any(e["code"].startswith("ALS") and e["reason"] == REASON for e in entries)  # (not run: kept)
    assert "1staleleftout" in flat(result.stderr)


# --------------------------------------------------------------------------------------------------
# the file format


@given(st.text(max_size=40))
def test_any_string_reads_back_from_the_toml_written(value: str) -> None:
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value


def test_entries_read_back_as_written() -> None:
    entries = [
        Entry(1, None, 'h"1\\', "PCI001", "uuid", "u-1", "g\n1", "why\tso", dt.date(2030, 1, 2), "high", "r"),
        Entry(2, None, "h2", "RST001", "guest", "g2", "g2", "because"),
        Entry(3, None, "h3", "ALS002", "path", "/x/y.xml", None, "ok"),
    ]
    back = parse_baseline(baseline_toml(entries), Path("b.toml"), today=dt.date(2030, 1, 3))
    assert [(e.host, e.code, e.kind, e.key, e.reason, e.expires) for e in back.entries] == [
        (e.host, e.code, e.kind, e.key, e.reason, e.expires) for e in entries
    ]
    assert [e.index for e in back.expired()] == [1]
    with pytest.raises(BaselineProblem, match="reason is empty"):
        parse_baseline(baseline_toml([Entry(1, None, "h", "PCI001", "uuid", "u", None, "")]), Path("b"))


def test_a_guest_without_uuid_is_keyed_by_its_name_and_the_entry_says_so(tmp_path: Path) -> None:
    host = tmp_path / "fleet" / "hv-x86-01"
    host.mkdir(parents=True)
    text = (FLEET / "hv-x86-01" / "legacy-erp.xml").read_text()
    (host / "legacy-erp.xml").write_text(re.sub(r"\s*<uuid>[^<]*</uuid>", "", text, count=1))
    path = tmp_path / "b.toml"
    result = invoke("audit", host.parent, "-q", "--write-baseline", path, "--reason", REASON)
    assert result.exit_code == 1, result.output
    entries = entries_of(path)
    codes = {p["code"] for p in planted() if p["guest"] == "legacy-erp"}
    assert {e["code"] for e in entries} == codes and all("uuid" not in e for e in entries)
    assert all(e["guest"] == "legacy-erp" for e in entries)
    assert "matched by guest name" in path.read_text()
    result = invoke("audit", host.parent, "-q", "-f", "json", "--baseline", path)
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["findings"] == [] and doc["summary"]["suppressed"] >= len(codes)


def test_rewriting_keeps_the_entries_of_a_host_with_an_unreadable_input(
    written: Path, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(FLEET, fleet, ignore=shutil.ignore_patterns("*.csv", "*.txt", "*.md"))
    mail = fleet / "hv-x86-01" / "mail-01.xml"
    mail.write_bytes(mail.read_bytes()[:200])  # (its finding cannot be seen: its entry is not stale)
    path = tmp_path / "b.toml"
    shutil.copy(written, path)
    result = invoke("audit", fleet, "--write-baseline", path)
    assert result.exit_code == 3
    assert entries_of(path) == entries_of(written)  # nothing dropped, every reason kept
    assert flat("some inputs could not be read; their findings are not in the baseline") in flat(
        result.stderr
    )
