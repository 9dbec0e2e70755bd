"""Shared fixtures for the scan tests: the libvirt corpus, the scanner, and a row-for-row frame diff."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
if str(TESTS_DIR) not in sys.path:  # `import reference_extractor` whatever pytest's import mode
    sys.path.insert(0, str(TESTS_DIR))

CORPUS_NAME = "libvirt-7.10"
STATUS_SUBDIR = Path("tests") / "qemustatusxml2xmldata"
DOMAIN_SUBDIR = Path("tests") / "qemuxml2argvdata"


def find_corpus() -> Path | None:
    """The libvirt 7.10 corpus: $VIRTAUDIT_CORPUS, else ../shared/corpus/libvirt-7.10 next to the repo.

    VIRTAUDIT_CORPUS may name the libvirt-7.10 directory itself or a directory that contains it.
    """
    candidates: list[Path] = []
    env = os.environ.get("VIRTAUDIT_CORPUS")
    if env:
        candidates += [Path(env), Path(env) / CORPUS_NAME]
    candidates.append(REPO_ROOT.parent / "shared" / "corpus" / CORPUS_NAME)
    for c in candidates:
        if (c / STATUS_SUBDIR).is_dir() and (c / DOMAIN_SUBDIR).is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    corpus = find_corpus()
    if corpus is None:
        where = os.environ.get("VIRTAUDIT_CORPUS") or str(
            REPO_ROOT.parent / "shared" / "corpus" / CORPUS_NAME
        )
        pytest.skip(
            f"libvirt corpus not found at {where} (needs {STATUS_SUBDIR} and {DOMAIN_SUBDIR}); "
            "set VIRTAUDIT_CORPUS to the libvirt-7.10 corpus directory to run these tests"
        )
    return corpus


def load_scan() -> Callable[..., Any]:
    """``virtaudit.scan``, or skip when the package (or its native core) is not installed yet.

    Set VIRTAUDIT_REQUIRE_SCAN=1 (CI) to turn the skip into a failure.
    """
    try:
        import virtaudit

        return virtaudit.scan  # type: ignore[no-any-return]
    except ModuleNotFoundError as exc:
        if exc.name not in ("virtaudit", "virtaudit._core", "virtaudit.scanning"):
            raise
        if os.environ.get("VIRTAUDIT_REQUIRE_SCAN") == "1":
            raise
        pytest.skip(f"virtaudit.scan is not importable ({exc}); build it into the venv first")


@pytest.fixture(scope="session")
def scan() -> Callable[..., Any]:
    return load_scan()


def project_fixture_files() -> list[Path]:
    """Every *.xml under tests/fixtures and examples/fleet, whoever wrote them, as they exist now."""
    files: set[Path] = set()
    for base in (TESTS_DIR / "fixtures", REPO_ROOT / "examples" / "fleet"):
        if base.is_dir():
            files.update(p for p in base.rglob("*.xml") if p.is_file())
    return sorted(files)


# --------------------------------------------------------------------------------------------------
# scan helpers


def scan_tables(result: Any) -> dict[str, pl.DataFrame]:
    return {t: getattr(result, t) for t in ("domains", "devices", "caps", "live_aliases", "errors")}


def assert_files_seen(tables: dict[str, pl.DataFrame], files_seen: int) -> None:
    """The schema invariant: files seen = documents parsed + error rows; no file in both tables."""
    domains, errors = tables["domains"], tables["errors"]
    assert domains.height + errors.height == files_seen, (
        f"files seen {files_seen} != len(domains) {domains.height} + len(errors) {errors.height}"
    )
    both = set(domains["path"]) & set(errors["path"])
    assert not both, f"files both in domains and errors: {sorted(both)[:10]}"
    assert domains["path"].n_unique() == domains.height, "a file appears twice in domains"


def format_errors(errors: pl.DataFrame, limit: int = 20) -> str:
    rows = errors.head(limit).to_dicts()
    lines = [
        f"  {r['path']}: {r['kind']}: {r['message']} (line {r['line']}, col {r['column']})" for r in rows
    ]
    if errors.height > limit:
        lines.append(f"  ... and {errors.height - limit} more")
    return "\n".join(lines)


def snapshot(paths: Iterable[Path]) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of each regular file (symlinks followed; others skipped) to prove nothing writes."""
    out = {}
    for p in paths:
        if p.is_file() and os.access(p, os.R_OK):
            out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


# --------------------------------------------------------------------------------------------------
# frame comparison

ROW_KEYS = {
    "domains": ("path",),
    "devices": ("path", "ordinal"),
    "caps": ("path", "_n"),
    "live_aliases": ("path", "_n"),
    "errors": ("path",),
}


def _with_keys(df: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    # Rows of caps/live_aliases have no ordinal: number them within each file in the order given
    # (document order, per the schema), after a stable sort by path.
    df = df.sort("path", maintain_order=True)
    if "_n" in keys:
        df = df.with_columns(_n=pl.int_range(pl.len(), dtype=pl.UInt32).over("path"))
    return df.sort(list(keys), maintain_order=True)


def _fmt(v: Any) -> str:
    return "null" if v is None else repr(v)


def frame_diff(
    actual: pl.DataFrame,
    expected: pl.DataFrame,
    table: str,
    *,
    exclude: Sequence[str] = (),
    check_dtypes: bool = True,
    max_rows: int = 15,
    actual_name: str = "scanner",
    expected_name: str = "reference",
) -> str | None:
    """A readable description of how two tables differ, or None when they are equal row for row.

    Both sides are sorted by (path, ordinal) (caps/live_aliases: path, position within the file).
    """
    keys = ROW_KEYS.get(table, ("path",))
    # doc_id numbers the inputs of one scan; the reference extractor reads files one by one and has no
    # such numbering, so it is compared only between two tables that both have it (test_doc_ids.py checks
    # it against the path instead).
    if ("doc_id" in actual.columns) != ("doc_id" in expected.columns):
        exclude = (*exclude, "doc_id")
    problems: list[str] = []
    a_cols = [c for c in actual.columns if c not in exclude]
    e_cols = [c for c in expected.columns if c not in exclude]
    if a_cols != e_cols:
        problems.append(
            f"columns differ:\n  {actual_name}:  {a_cols}\n  {expected_name}: {e_cols}\n"
            f"  only in {actual_name}: {sorted(set(a_cols) - set(e_cols))}; "
            f"only in {expected_name}: {sorted(set(e_cols) - set(a_cols))}"
        )
    common = [c for c in e_cols if c in a_cols]
    if check_dtypes:
        bad = [
            (c, actual.schema[c], expected.schema[c])
            for c in common
            if actual.schema[c] != expected.schema[c]
        ]
        if bad:
            problems.append(
                "dtypes differ:\n"
                + "\n".join(f"  {c}: {actual_name} {a} != {expected_name} {e}" for c, a, e in bad)
            )
    a = _with_keys(actual.select(common), keys)
    e = _with_keys(expected.select(common), keys)
    if a.height != e.height:
        problems.append(f"row counts differ: {actual_name} {a.height}, {expected_name} {e.height}")
    a_keys = a.select(keys).with_columns(pl.lit(True).alias("_a"))
    e_keys = e.select(keys).with_columns(pl.lit(True).alias("_e"))
    only_a = a_keys.join(e_keys, on=list(keys), how="anti")
    only_e = e_keys.join(a_keys, on=list(keys), how="anti")
    for name, only in ((actual_name, only_a), (expected_name, only_e)):
        if only.height:
            sample = ", ".join(str(tuple(r)) for r in only.select(keys).head(max_rows).iter_rows())
            problems.append(f"{only.height} rows only in {name} (keys {keys}): {sample}")
    # value comparison on the rows present on both sides
    joined = a.join(e, on=list(keys), how="inner", suffix="__e", nulls_equal=True)
    value_cols = [c for c in common if c not in keys]
    if value_cols and joined.height:
        neq = [
            (pl.col(c).ne_missing(pl.col(f"{c}__e")) if c in joined.columns else pl.lit(False)).alias(c)
            for c in value_cols
        ]
        flags = joined.select([*keys, *neq])
        bad_rows = flags.filter(pl.any_horizontal(value_cols))
        if bad_rows.height:
            per_col = {c: int(flags[c].sum()) for c in value_cols if flags[c].sum()}
            lines = [
                f"{bad_rows.height} rows differ in values; mismatches per column: {per_col}",
                f"first {min(max_rows, bad_rows.height)} mismatching rows "
                f"({actual_name} vs {expected_name}):",
            ]
            sample = joined.join(bad_rows.select(keys), on=list(keys), how="semi").head(max_rows)
            sample_flags = flags.join(bad_rows.select(keys), on=list(keys), how="semi").head(max_rows)
            pairs = zip(sample.iter_rows(named=True), sample_flags.iter_rows(named=True), strict=True)
            for row, fl in pairs:
                key = ", ".join(f"{k}={row[k]!r}" for k in keys)
                diffs = "; ".join(
                    f"{c}: {_fmt(row[c])} vs {_fmt(row[c + '__e'])}" for c in value_cols if fl[c]
                )
                extra = ""
                if "element" in row and "element" not in (c for c in value_cols if fl[c]):
                    extra = f" <{row['element']}>"
                lines.append(f"  [{key}]{extra} {diffs}")
            problems.append("\n".join(lines))
    if not problems:
        return None
    return f"table {table!r}: " + "\n".join(problems)


def assert_frames_match(
    actual: pl.DataFrame,
    expected: pl.DataFrame,
    table: str,
    **kwargs: Any,
) -> None:
    diff = frame_diff(actual, expected, table, **kwargs)
    if diff is not None:
        pytest.fail(diff, pytrace=False)
