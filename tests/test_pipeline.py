"""The one pipeline: scan(), scan_batches() and the command line read the same inputs the same way."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"


def tarball(path: Path, files: list[Path]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for f in files:
            tf.add(f, arcname=f"{f.parent.name}/{f.name}")
    return path


def concat(scans: list[object]) -> dict[str, pl.DataFrame]:
    from virtaudit.scanning import TABLE_NAMES, Scan

    assert all(isinstance(s, Scan) for s in scans)
    return {
        name: pl.concat([getattr(s, name) for s in scans], how="vertical_relaxed").sort(
            ["path", "ordinal"] if name == "devices" else ["path"], maintain_order=True
        )
        for name in TABLE_NAMES
    }


def assert_same(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for name in a:
        assert a[name].equals(b[name]), f"{name}:\n{a[name]}\n!=\n{b[name]}"


def test_scan_batches_reads_archives_like_scan(tmp_path: Path) -> None:
    """Before the pipeline, scan_batches("x.tar.gz") gave one not_utf8 error row; scan() read the guests."""
    import virtaudit

    files = sorted(FLEET.glob("hv-x86-01/*.xml"))[:5]
    archive = tarball(tmp_path / "x.tar.gz", files)
    whole = virtaudit.scan(archive)
    batches = list(virtaudit.scan_batches(archive, batch_files=2))
    assert whole.domains.height == 5 and whole.errors.height == 0
    assert_same(concat(batches), whole.tables())


def test_scan_batches_reads_datasets_and_files_like_scan(tmp_path: Path) -> None:
    import virtaudit
    from virtaudit import sources

    dataset = tmp_path / "ds"
    sources.write_dataset(dataset, virtaudit.scan(FLEET / "hv-ppc-02"))
    archive = tarball(tmp_path / "a.tar.gz", sorted(FLEET.glob("hv-arm-01/*.xml")))
    inputs = (FLEET / "hv-x86-01", dataset, archive)
    whole = virtaudit.scan(*inputs)
    batches = list(virtaudit.scan_batches(*inputs, batch_files=3))
    assert len(batches) > 3  # plain files in batches of 3, then the dataset, then the archive
    assert whole.errors.height == 0
    assert_same(concat(batches), whole.tables())


def test_scan_batches_keeps_only_asked_caps_in_archives_too(tmp_path: Path) -> None:
    import virtaudit

    archive = tarball(tmp_path / "x.tar.gz", sorted(FLEET.glob("hv-x86-01/*.xml"))[:3])
    (batch,) = virtaudit.scan_batches(archive, caps_flags=["no-such-flag"])
    assert batch.caps.height == 0 and batch.domains.height == 3


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "sarif", "junit", "html", "table", "parquet"])
def test_cli_report_is_the_same_batch_by_batch(fmt: str, tmp_path: Path) -> None:
    """Small batches and one batch write the same report: rows spooled per batch come out most severe
    first, and the counts add up."""
    from virtaudit.cli import main

    outs = []
    for batch in ("1", "100000"):
        out = tmp_path / f"{batch}.{fmt}"
        with pytest.raises(SystemExit) as exit_:
            main(["audit", str(FLEET / "hv-x86-01"), "-f", fmt, "-o", str(out), "-q", "--batch-files", batch])
        assert exit_.value.code == 1
        outs.append(out.read_bytes())
    one_by_one, whole = outs
    if fmt == "parquet":
        assert pl.read_parquet(one_by_one).sort(pl.all()).equals(pl.read_parquet(whole).sort(pl.all()))
        return
    if fmt in ("json", "sarif"):
        a, b = json.loads(one_by_one), json.loads(whole)
        for doc in (a, b):
            doc.pop("generated", None)
            for run in doc.get("runs", []):
                run["invocations"][0].pop("endTimeUtc", None)
        assert a == b
        return
    strip = (b"generated", b"timestamp=", b'"generated"', b"<testsuites ")  # (its time: the run's seconds)
    keep = [[line for line in o.splitlines() if not any(s in line for s in strip)] for o in outs]
    if fmt in ("jsonl",):
        keep = [[line for line in k if b'"type":"summary"' not in line] for k in keep]
    assert keep[0] == keep[1]


def test_audit_batches_keep_only_the_unmatched_live_ids() -> None:
    """An audit's batches carry the live ids no device carries (all the rules read: the core makes no
    other rows), the same rows as a full scan's, and the same findings as an audit of the full scan."""
    import virtaudit
    from virtaudit.auditing import audit
    from virtaudit.pipeline import Pieces, ScanOptions, audit_pieces, limits_of

    options = ScanOptions(None, None, limits_of(None, None, None), 7, quiet=True, audit_only=True)
    batches = [piece.scan for piece in Pieces([str(FLEET)], options)]
    live = pl.concat([b.live_aliases for b in batches])
    full = virtaudit.scan(FLEET)
    unmatched = full.live_aliases.filter(~pl.col("in_definition"))
    assert live.height == unmatched.height > 0
    assert full.live_aliases.height > 5 * live.height  # (most listed ids are a device's own)
    key = ["path", "host", "alias"]
    assert live.select(key).sort(key).equals(unmatched.select(key).sort(key))
    piped = pl.concat(
        [a.findings for a in audit_pieces(Pieces([str(FLEET)], options), target_libvirt=None, facts=None)]
    )
    whole = audit(full)
    columns = [c for c in piped.columns if c in whole.columns]
    assert (
        piped.select(columns)
        .sort(columns, nulls_last=True)
        .equals(whole.select(columns).sort(columns, nulls_last=True))
    )
