"""No output of virtaudit holds a secret that a status file holds (issue 6).

tests/fixtures/secrets/ holds status and domain XML with graphics ``passwd=`` values, secret UUIDs and
usage names, iSCSI and RBD auth, TLS settings and secret text in ``<metadata>`` (all listed in
secrets.txt there; examples/fleet/secrets.txt lists the example fleet's). The tests produce every output
there is -- the scan tables, ``audit()``, each CLI command and format (table, JSON, JSONL, CSV, Parquet,
HTML, JUnit, SARIF), ``show``, ``scan --out``, ``diff``, standard error -- also for copies of the files cut
inside each secret, and search every byte (Parquet files decoded too) for each secret, as written and as
each format would escape it.
"""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO_ROOT
from hostile_support import SECRETS_DIR, run_with_timeout, scan_checked, secret_values

pytestmark = pytest.mark.usefixtures("scan")

CLI = [sys.executable, "-m", "virtaudit.cli"]
FORMATS = ["table", "json", "jsonl", "csv", "parquet", "junit", "sarif", "html"]
FLEET = REPO_ROOT / "examples" / "fleet"
# Every planted secret of tests/fixtures/secrets starts with this (UUIDs excepted: see needles()).
MARK = "Sekr1t"


def needles(values: Iterable[str]) -> set[bytes]:
    """Each secret as any output could spell it: raw, HTML/XML-escaped, JSON-escaped, and (for cut files)
    the shortest telling prefix."""
    out: set[bytes] = set()
    for v in values:
        for form in (v, html.escape(v), html.escape(v, quote=False), json.dumps(v)[1:-1]):
            out.add(form.encode())
        if len(v) >= 12:
            out.add(v[:8].encode())  # a cut UUID's first group, a cut value's first characters
    out.add(MARK.encode())
    return out


def find_leaks(blob: bytes, where: str, values: Iterable[str]) -> list[str]:
    return [f"{where}: {n.decode(errors='replace')!r}" for n in needles(values) if n in blob]


def frame_text(df: pl.DataFrame) -> bytes:
    """Every cell of a frame as text (nested values JSON-encoded)."""
    buf = io.StringIO()
    for row in df.iter_rows():
        buf.write(json.dumps(row, default=str, ensure_ascii=False))
        buf.write("\n")
    return buf.getvalue().encode()


def output_text(path: Path) -> bytes:
    """A file's bytes, and for Parquet its decoded cells too (compression hides raw bytes)."""
    data = path.read_bytes()
    if data[:4] == b"PAR1":
        data += frame_text(pl.read_parquet(path))
    return data


def tree_text(root: Path) -> list[tuple[str, bytes]]:
    return [(str(p), output_text(p)) for p in sorted(root.rglob("*")) if p.is_file()]


def cli_available() -> bool:
    proc = subprocess.run([*CLI, "--version"], capture_output=True, check=False, timeout=60)
    return proc.returncode == 0


def run_cli(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    return run_with_timeout(
        lambda: subprocess.run([*CLI, *args], capture_output=True, check=False, timeout=timeout),
        timeout + 10,
        what=" ".join(args[:2]),
    )


def secret_inputs() -> list[Path]:
    files = sorted(SECRETS_DIR.glob("*.xml"))
    assert files, "tests/fixtures/secrets has no XML"
    return files


def cut_copies(directory: Path, values: Iterable[str]) -> list[Path]:
    """Copies of the secret fixtures cut inside each secret (after 1, half and all but one of its
    characters, and right after it), plus copies damaged inside the passwd values."""
    directory.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for src in secret_inputs():
        data = src.read_bytes()
        for v in values:
            start = data.find(v.encode())
            if start < 0:
                continue
            for k in sorted({1, len(v) // 2, len(v) - 1, len(v), len(v) + 1}):
                dst = directory / f"{src.stem}-cut-{start + k}.xml"
                dst.write_bytes(data[: start + k])
                out.append(dst)
        # Damaged, not cut: an ampersand in a secret (an undeclared entity named after the secret), a
        # lost quote, stray markup.
        for i, (old, new) in enumerate(
            [
                (b"passwd='Sekr1t-", b"passwd='&Sekr1t-"),
                (b"passwd='Sekr1t-vnc-passwd-Rf9a'", b"passwd='Sekr1t-vnc-passwd-Rf9a&Sekr1t-more;'"),
                (b"passwd='Sekr1t-vnc-passwd-Rf9a'", b"passwd='Sekr1t-vnc-passwd-Rf9a"),
                (b"passwd='Sekr1t-vnc-passwd-Rf9a'", b"passwd=Sekr1t-vnc-passwd-Rf9a"),
                (b"Sekr1t-metadata-token-Hx7p", b"&Sekr1t-metadata-token-Hx7p;"),
                (b"Sekr1t-metadata-token-Hx7p", b"Sekr1t-metadata-token-Hx7p</app:credentials>"),
                (b"username='Sekr1t-iscsi-user-Kp4r'", b"username='Sekr1t-iscsi-user-Kp4r' username='x'"),
                (b"<metadata>", b"<metadata><!DOCTYPE Sekr1t-doctype>"),
            ]
        ):
            if old in data:
                dst = directory / f"{src.stem}-damaged-{i}.xml"
                dst.write_bytes(data.replace(old, new, 1))
                out.append(dst)
    return out


@pytest.fixture(scope="module")
def values() -> list[str]:
    return secret_values()


def test_the_fixtures_hold_the_secrets(values: list[str]) -> None:
    """The search below is only worth something if the inputs really hold every secret."""
    text = b"".join(p.read_bytes() for p in secret_inputs())
    ours = [v for v in (SECRETS_DIR / "secrets.txt").read_text().split() if v]
    missing = [v for v in ours if v.encode() not in text]
    assert not missing, missing
    for needle in (
        b"passwd=",
        b"<auth username=",
        b"usage=",
        b"<secret type='ceph' uuid=",
        b"tls='yes'",
        b"<metadata>",
    ):
        assert needle in text, needle


def test_scan_tables_and_audit_hold_no_secret(tmp_path: Path, values: list[str]) -> None:
    import virtaudit

    inputs = [*secret_inputs(), *cut_copies(tmp_path / "cut", values)]
    result = scan_checked(*inputs, files=len(inputs))
    assert set(map(str, secret_inputs())) <= set(result.domains["path"])
    leaks: list[str] = []
    for name, df in result.tables().items():
        leaks += find_leaks(frame_text(df), f"scan table {name}", values)
        df.write_parquet(tmp_path / f"{name}.parquet")
        df.write_csv(tmp_path / f"{name}.csv")
        leaks += find_leaks(output_text(tmp_path / f"{name}.parquet"), f"{name}.parquet", values)
        leaks += find_leaks((tmp_path / f"{name}.csv").read_bytes(), f"{name}.csv", values)
    leaks += find_leaks(repr(result).encode() + result._repr_html_().encode(), "Scan repr", values)
    findings = run_with_timeout(lambda: virtaudit.audit(result))
    leaks += find_leaks(frame_text(findings), "audit()", values)
    assert not leaks, "\n".join(leaks)


def test_error_messages_of_cut_and_damaged_files_hold_no_secret(tmp_path: Path, values: list[str]) -> None:
    cut = cut_copies(tmp_path / "cut", values)
    result = scan_checked(*cut, files=len(cut))
    assert result.errors.height >= len(cut) - 5, "most cut copies should be unreadable"
    leaks = []
    for row in result.errors.iter_rows(named=True):
        leaks += find_leaks(row["message"].encode(), f"error message for {Path(row['path']).name}", values)
    assert not leaks, "\n".join(leaks)


def test_every_cli_output_holds_no_secret(tmp_path: Path, values: list[str]) -> None:
    if not cli_available():
        pytest.skip("the virtaudit CLI is not available yet")
    cut_dir = tmp_path / "cut"
    cut_copies(cut_dir, values)
    inputs = [str(SECRETS_DIR), str(cut_dir)]
    out = tmp_path / "out"
    out.mkdir()
    leaks: list[str] = []
    listed: dict[str, bool] = {}
    for fmt in FORMATS:
        proc = run_cli(["audit", *inputs, "-f", fmt])
        assert proc.returncode == 3, (fmt, proc.returncode, proc.stderr[-2000:])
        stdout = proc.stdout
        if stdout[:4] == b"PAR1":
            stdout += frame_text(pl.read_parquet(io.BytesIO(proc.stdout)))
        leaks += find_leaks(stdout, f"audit -f {fmt} (stdout)", values)
        leaks += find_leaks(proc.stderr, f"audit -f {fmt} (stderr)", values)
        target = out / f"report-{fmt}"
        proc = run_cli(["audit", *inputs, "-f", fmt, "-o", str(target), "--limit", "0"])
        assert proc.returncode == 3, (fmt, proc.stderr[-2000:])
        leaks += find_leaks(output_text(target), f"audit -f {fmt} -o", values)
        leaks += find_leaks(proc.stderr, f"audit -f {fmt} -o (stderr)", values)
        text = output_text(target)
        # (the table wraps long paths at any character, so "-cut-" may be split: it names the host's
        # unreadable inputs in its hosts table instead)
        listed[fmt] = b"-cut-" in text or (
            fmt == "table" and re.search(rb"cut \(\d+ unreadable\)", text) is not None
        )
    assert all(listed.values()), (
        f"unreadable inputs not listed in: {[f for f, ok in listed.items() if not ok]}"
    )
    # scan --out: every file of the dataset.
    proc = run_cli(["scan", *inputs, "--out", str(out / "dataset")])
    assert proc.returncode == 3, proc.stderr[-2000:]
    leaks += find_leaks(proc.stdout + proc.stderr, "scan --out (stdout/stderr)", values)
    for name, blob in tree_text(out / "dataset"):
        leaks += find_leaks(blob, f"scan --out {Path(name).relative_to(out)}", values)
    # show: each guest, by file and by name (the dataset also holds the cut files' errors: exit 3).
    for args in (
        [str(SECRETS_DIR / "secret-guest-status.xml")],
        [str(SECRETS_DIR), "--guest", "secret-guest"],
        [str(SECRETS_DIR), "--guest", "secret-tls"],
        [str(out / "dataset"), "--guest", "secret-guest"],
    ):
        proc = run_cli(["show", *args])
        assert proc.returncode in (0, 3), (args, proc.stderr[-2000:])
        assert b"secret-" in proc.stdout, (args, proc.stdout[-2000:])
        leaks += find_leaks(proc.stdout + proc.stderr, f"show {' '.join(args[1:])}", values)
    # show on a cut file (exit 3): its error.
    some_cut = sorted(cut_dir.glob("*-cut-*.xml"))[len(list(cut_dir.glob("*-cut-*.xml"))) // 2]
    proc = run_cli(["show", str(some_cut)])
    assert proc.returncode == 3, proc.stderr[-2000:]
    leaks += find_leaks(proc.stdout + proc.stderr, f"show {some_cut.name}", values)
    # diff, every format it has.
    for fmt in ("table", "json", "jsonl", "csv"):
        proc = run_cli(["diff", str(SECRETS_DIR), str(cut_dir), "-f", fmt])
        assert proc.returncode in (0, 1, 3), (fmt, proc.stderr[-2000:])
        leaks += find_leaks(proc.stdout + proc.stderr, f"diff -f {fmt}", values)
    assert not leaks, "\n".join(leaks)


def test_example_fleet_outputs_hold_no_secret(tmp_path: Path) -> None:
    """The example fleet plants its own secrets (examples/fleet/secrets.txt)."""
    listing = FLEET / "secrets.txt"
    if not listing.is_file():
        pytest.skip("examples/fleet/secrets.txt does not exist yet")
    fleet_values = [v.strip() for v in listing.read_text().splitlines() if v.strip()]
    import virtaudit

    result = run_with_timeout(lambda: virtaudit.scan(FLEET))
    leaks: list[str] = []
    for name, df in result.tables().items():
        leaks += find_leaks(frame_text(df), f"scan {name}", fleet_values)
    if cli_available():
        for fmt in FORMATS:
            target = tmp_path / f"fleet-{fmt}"
            proc = run_cli(["audit", str(FLEET), "-f", fmt, "-o", str(target), "--limit", "0"])
            assert proc.returncode in (0, 1), (fmt, proc.stderr[-2000:])
            leaks += find_leaks(output_text(target), f"audit -f {fmt}", fleet_values)
        proc = run_cli(["scan", str(FLEET), "--out", str(tmp_path / "ds")])
        for name, blob in tree_text(tmp_path / "ds"):
            leaks += find_leaks(blob, f"scan --out {name}", fleet_values)
        # One guest per host (each `show` starts a Python process).
        for guest in [sorted(h.glob("*.xml"))[0] for h in sorted(FLEET.iterdir()) if list(h.glob("*.xml"))]:
            proc = run_cli(["show", str(guest)])
            leaks += find_leaks(proc.stdout + proc.stderr, f"show {guest.name}", fleet_values)
    assert not leaks, "\n".join(leaks)
