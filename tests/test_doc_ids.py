"""``doc_id``: one integer per input of a scan, shared by every row the input contributes.

Checked against the path, which identifies a document within one scan too: each ``domains``/``errors`` row
has its own id, and every ``devices``/``caps``/``live_aliases`` row has the id of its document's
``domains`` row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT, STATUS_SUBDIR

CHILD_TABLES = ("devices", "caps", "live_aliases")


def check_doc_ids(tables: dict[str, pl.DataFrame], first: int = 0) -> None:
    """``tables`` from the core, errors included (a :class:`virtaudit.Scan` leaves the errors' ids out)."""
    for name in ("domains", *CHILD_TABLES, "errors"):
        assert tables[name].columns[:3] == ["path", "host", "doc_id"], name
    docs = pl.concat([tables["domains"].select("path", "doc_id"), tables["errors"].select("path", "doc_id")])
    assert docs.height > 0
    assert docs["doc_id"].dtype == pl.UInt32
    assert docs["doc_id"].null_count() == 0
    assert docs["doc_id"].n_unique() == docs.height, "two inputs share an id"
    assert docs["path"].n_unique() == docs.height
    # A running counter over the inputs: first .. first + n - 1, in scan order.
    assert sorted(docs["doc_id"].to_list()) == list(range(first, first + docs.height))
    for name in CHILD_TABLES:
        table = tables[name]
        assert table["doc_id"].dtype == pl.UInt32
        assert table["doc_id"].null_count() == 0
        joined = table.select("path", "doc_id").join(
            tables["domains"].select("path", domain_doc_id="doc_id"), on="path", how="left"
        )
        mismatched = joined.filter(pl.col("doc_id").ne_missing(pl.col("domain_doc_id")))
        assert mismatched.is_empty(), f"{name}: rows whose doc_id is not their domain's: {mismatched.head()}"


LIMITS = {"max_file_size": 1 << 26, "max_depth": 256, "max_elements": 1_000_000}


@pytest.fixture(scope="module")
def core() -> ModuleType:
    return pytest.importorskip("virtaudit._core")


def core_frames(core: ModuleType, tables: Any) -> dict[str, pl.DataFrame]:
    return {name: pl.DataFrame(tables[name]) for name in core.TABLE_NAMES}


def test_core_scan_ids_with_errors_and_threads(core: ModuleType, corpus_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for n, text in enumerate(["", "<domain>", "<other/>", "<domstatus/>"]):
        (bad / f"b{n}.xml").write_text(text)
    dirs = [str(corpus_dir / STATUS_SUBDIR), str(bad), str(corpus_dir / "tests" / "qemuxml2argvdata")]
    raw = core.scan(dirs, jobs=2, host_mode="parent", host_value=None, **LIMITS)
    tables = core_frames(core, raw)
    assert tables["devices"].height > 1000 and tables["caps"].height > 1000
    assert tables["errors"].height == 4
    check_doc_ids(tables)
    # Numbered in scan order: each table's rows come in that order, so their ids increase down the table.
    for name in ("domains", "errors"):
        ids = tables[name]["doc_id"]
        assert ids.is_sorted(), name


def test_core_scanner_ids_run_on_across_batches(core: ModuleType, corpus_dir: Path) -> None:
    scanner = core.Scanner(
        [str(corpus_dir / STATUS_SUBDIR)], jobs=2, host_mode="parent", host_value=None, **LIMITS
    )
    batches = []
    while (raw := scanner.next_batch(7)) is not None:
        batches.append(core_frames(core, raw))
    assert len(batches) > 2
    combined = {name: pl.concat([b[name] for b in batches]) for name in batches[0]}
    check_doc_ids(combined)
    # Each batch continues where the one before stopped.
    spans = [pl.concat([b["domains"]["doc_id"], b["errors"]["doc_id"]]) for b in batches]
    assert [(s.min(), s.max()) for s in spans] == [(7 * k, 7 * k + s.len() - 1) for k, s in enumerate(spans)]


def test_scan_tables_keep_ids(scan: Callable[..., Any]) -> None:
    result = scan(REPO_ROOT / "examples" / "fleet", jobs=2)
    tables = {name: getattr(result, name) for name in ("domains", *CHILD_TABLES)}
    # (a Scan leaves the errors' ids out; the fleet has no errors)
    tables["errors"] = pl.DataFrame(schema={"path": pl.String, "host": pl.String, "doc_id": pl.UInt32})
    check_doc_ids(tables)


def test_concat_keeps_ids_unique(scan: Callable[..., Any]) -> None:
    hosts = sorted(p for p in (REPO_ROOT / "examples" / "fleet").iterdir() if p.is_dir())
    parts = [scan(h) for h in hosts[:3]]
    assert all(p.domains["doc_id"].min() == 0 for p in parts)
    merged = parts[0].concat(parts[1]).concat(parts[2])
    tables = {name: getattr(merged, name) for name in ("domains", *CHILD_TABLES)}
    tables["errors"] = pl.DataFrame(schema={"path": pl.String, "host": pl.String, "doc_id": pl.UInt32})
    check_doc_ids(tables)


def test_scan_buffers_starts_at_first_doc_id(core: ModuleType) -> None:
    guest = next((REPO_ROOT / "examples" / "fleet").rglob("*.xml")).read_bytes()
    items = [("a.tar!one.xml", "h", guest), ("a.tar!bad.xml", "h", b"<x/>"), ("a.tar!two.xml", "h", guest)]
    for first in (0, 1234):
        tables = core_frames(core, core.scan_buffers(items=items, jobs=2, first_doc_id=first, **LIMITS))
        check_doc_ids(tables, first)
        assert tables["errors"]["doc_id"].to_list() == [first + 1]
    with pytest.raises(OverflowError):
        core.scan_buffers(items=items, jobs=1, first_doc_id=-1, **LIMITS)
    with pytest.raises(core.VirtauditError, match="largest id"):
        core.scan_buffers(items=items, jobs=1, first_doc_id=2**32 - 2, **LIMITS)
