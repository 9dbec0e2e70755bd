"""Parquet datasets written by ``virtaudit scan --out DIR``: written, recognised and read back.

A **dataset** is a directory that carries the marker ``_virtaudit.json`` (schema version, tool version,
hosts), with one sub-directory per table, each partitioned by host in the hive layout
(``DIR/TABLE/host=NAME/part-N.parquet``), readable with ``pl.scan_parquet(DIR/TABLE,
hive_partitioning=True)``, DuckDB or Spark. Only the marker makes a directory a dataset: directories that
merely happen to be named ``domains/`` or ``errors/`` are walked for XML like any other. A directory
whose sub-directories are datasets (one per host, as fetched from a fleet) is read as all of them.

Reading trusts nothing: each part file is checked (a regular file, within the size and row caps, Parquet,
the columns and types ``scan --out`` writes) before it is read, and a part that fails becomes one error
row of kind ``dataset`` naming the part and its host; the rest is read.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.scanning import Scan
    from virtaudit.sources import Source

DATASET_META: Final = "_virtaudit.json"
"""Written at the top of a dataset: schema version, tool version, when, and the hosts written."""
DATASET_TABLES: Final = ("domains", "devices", "caps", "live_aliases", "errors", "findings", "facts")
OPTIONAL_COLUMNS: Final = ("facts_source",)
"""Columns that datasets written before them lack (read as null)."""
MAX_PART_BYTES: Final = 1 << 30
"""A part file above this is not read (``scan --out`` writes parts of one batch: a few MB)."""
MAX_DATASET_ROWS: Final = 50_000_000
"""Rows of one dataset, all tables: past this the rest is refused (a small hostile file can claim a
huge row count, and the tables are read into memory)."""


def is_dataset(path: Path) -> bool:
    """A directory written by ``virtaudit scan --out``: it carries the marker file."""
    try:
        return path.is_dir() and (path / DATASET_META).is_file()
    except OSError:  # an unreadable directory is the core's to report, as an error row
        return False


def dataset_dirs(path: Path) -> list[Path]:
    """``[path]`` for a dataset; its sub-directories that are datasets for a directory of them."""
    try:
        if not path.is_dir():
            return []
        if is_dataset(path):
            return [path]
        # scandir's own entry types: no stat per entry (a flat directory of status files has thousands).
        with os.scandir(path) as entries:
            children = sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    return [p for p in children if is_dataset(p)]


def partition(host: str) -> str:
    # Hive layout: the value percent-encoded (what polars, DuckDB and Spark decode).
    return "host=" + quote(host, safe="")


@dataclass
class _Reader:
    """One dataset's tables read part by part, with an error row for each part that fails its checks."""

    schemas: dict[str, dict[str, Any]]
    rows: int = 0
    tables: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    errors: list[pl.DataFrame] = field(default_factory=list)

    def read(self, directory: Path) -> None:
        for name, schema in self.schemas.items():
            for host, part in _parts(directory / name):
                frame = self._part(part, host, schema)
                if frame is not None:
                    self.tables.setdefault(name, []).append(frame)

    def _part(self, part: Path, host: str, schema: dict[str, Any]) -> pl.DataFrame | None:
        import polars as pl

        problem = _check_file(part)
        if problem is None:
            try:
                found = pl.read_parquet_schema(part)
                rows = pl.scan_parquet(part).select(pl.len()).collect().item()
            except Exception as exc:  # polars' errors for files that are not Parquet, or cut short
                problem = f"not a readable Parquet file ({type(exc).__name__})"
            else:
                problem = _check_schema(found, schema) or self._check_rows(rows)
        if problem is None:
            try:
                frame = pl.read_parquet(part)
            except Exception as exc:  # a part whose pages are damaged past its footer
                problem = f"not a readable Parquet file ({type(exc).__name__})"
            else:
                return frame.select(
                    pl.lit(host, pl.String).alias("host"),
                    *(
                        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                        for c, t in schema.items()
                        if c != "host"
                    ),
                ).select(list(schema))
        self.errors.append(_error(str(part), host, problem))
        return None

    def _check_rows(self, rows: int) -> str | None:
        self.rows += rows
        if self.rows > MAX_DATASET_ROWS:
            return f"the dataset holds more than {MAX_DATASET_ROWS} rows; this part was not read"
        return None


def _error(path: str, host: str, message: str) -> pl.DataFrame:
    from virtaudit.sources import error_frame

    return error_frame(path, host, "dataset", message)


def _parts(table_dir: Path) -> list[tuple[str, Path]]:
    """(host, part file) of one table: ``host=NAME/*.parquet`` only, symlinks never followed (no loops)."""
    out: list[tuple[str, Path]] = []
    try:
        with os.scandir(table_dir) as hosts:
            host_dirs = sorted(
                (e.name, Path(e.path))
                for e in hosts
                if e.name.startswith("host=") and e.is_dir(follow_symlinks=False)
            )
    except OSError:
        return out
    for name, host_dir in host_dirs:
        host = unquote(name.removeprefix("host="))
        try:
            with os.scandir(host_dir) as files:
                parts = sorted(Path(e.path) for e in files if e.name.endswith(".parquet"))
        except OSError as exc:
            parts = []
            out.append((host, host_dir / f"<unreadable: {exc.strerror}>"))
        out.extend((host, p) for p in parts)
    return out


def _check_file(part: Path) -> str | None:
    """Why a part file is not read (None: it may be): only regular files within the size cap."""
    try:
        st = os.lstat(part)
    except OSError as exc:
        return f"cannot read the part file ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size > MAX_PART_BYTES:
        return f"{st.st_size} bytes is above the {MAX_PART_BYTES}-byte limit for a part file; not read"
    if st.st_size == 0:
        return "empty part file"
    return None


def _check_schema(found: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """What differs from the columns ``scan --out`` writes (names only: never values)."""
    import polars as pl

    missing = [c for c in schema if c not in ("host", *OPTIONAL_COLUMNS) and c not in found]
    if missing:
        return f"missing columns: {', '.join(missing)}"
    wrong = [
        c
        for c, t in schema.items()
        if c != "host"
        and c in found
        and found[c] != t
        and not (t == pl.String and found[c] in (pl.Utf8, pl.Categorical))
    ]
    if wrong:
        return f"columns of another type: {', '.join(wrong)}"
    return None


def _findings_schema() -> dict[str, Any]:
    import polars as pl

    from virtaudit.reports import FINDINGS_COLUMNS

    return {c: pl.String for c in FINDINGS_COLUMNS}


def _check_version(d: Path) -> None:
    from virtaudit import SCHEMA_VERSION

    meta = d / DATASET_META
    try:
        version = json.loads(meta.read_text()).get("schema_version", SCHEMA_VERSION)
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{meta}: unreadable dataset metadata: {type(exc).__name__}") from exc
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"{d}: dataset schema version {version}, this virtaudit reads version {SCHEMA_VERSION}"
        )


def read_dataset(path: Path, *, max_age: float | None = None) -> tuple[Source, pl.DataFrame]:
    """The scan tables, host facts and stored findings of one dataset or a directory of them, as a
    (:class:`virtaudit.sources.Source`, findings) pair.

    The source's notes give each host's age (when it was scanned, by which virtaudit). With ``max_age``
    (seconds), a host scanned longer ago, or whose scan time the dataset does not record, is refused: its
    rows are dropped and one ``dataset`` error row names it and its age."""
    import polars as pl

    from virtaudit import sources

    dirs = dataset_dirs(path)
    if not dirs:
        raise ValueError(f"{path} is not a virtaudit dataset (no {DATASET_META})")
    schemas: dict[str, dict[str, Any]] = {n: dict(t.schema) for n, t in sources.empty_tables().items()}
    schemas["facts"] = dict(sources.empty_facts().schema)
    schemas["findings"] = _findings_schema()
    reader = _Reader(schemas)
    for d in dirs:
        _check_version(d)
        reader.read(d)

    def table(name: str) -> pl.DataFrame:
        empty = pl.DataFrame(schema=schemas[name])
        return pl.concat([empty, *reader.tables.get(name, [])], how="vertical_relaxed")

    tables = {name: table(name) for name in sources.empty_tables()}
    ages = _ages(dirs, set(tables["domains"]["host"].to_list()) | set(tables["errors"]["host"].to_list()))
    stale = {h for h, (_d, age, _v) in ages.items() if max_age is not None and (age is None or age > max_age)}
    for h in sorted(stale):
        d, age, _v = ages[h]
        said = "an unknown time ago (the dataset does not record it)" if age is None else f"{_human(age)} ago"
        message = f"host {h}: data scanned {said}, older than --max-age {_human(max_age or 0)}: not audited"
        reader.errors.append(_error(str(d), h, message))
    if stale:
        tables = {n: t.filter(~pl.col("host").is_in(sorted(stale))) for n, t in tables.items()}
    if reader.errors:
        tables["errors"] = pl.concat([tables["errors"], *reader.errors], how="vertical_relaxed")
    tables = sources.concat_tables([tables])
    facts = table("facts").unique(subset=["host"], keep="last", maintain_order=True)
    facts = facts.filter(~pl.col("host").is_in(sorted(stale)))
    scan = sources.scan_from(tables, tuple(str(d) for d in dirs))
    notes = tuple(_age_note(h, *ages[h]) for h in sorted(ages) if h not in stale)
    findings = table("findings").filter(~pl.col("host").is_in(sorted(stale)))
    return sources.Source(scan, facts, notes), findings


def host_info(directory: Path) -> dict[str, dict[str, Any]]:
    """Per host, what the marker of the dataset at ``directory`` records (empty for older datasets)."""
    try:
        meta = json.loads((directory / DATASET_META).read_text())
    except (OSError, ValueError):
        return {}
    info = meta.get("host_info") if isinstance(meta, dict) else None
    if not isinstance(info, dict):
        return {}
    return {h: v for h, v in info.items() if isinstance(h, str) and isinstance(v, dict)}


def _ages(dirs: list[Path], hosts: set[str]) -> dict[str, tuple[Path, float | None, str | None]]:
    """Per host of the tables: its dataset directory, age in seconds (None: not recorded), version."""
    now = datetime.now(UTC)
    out: dict[str, tuple[Path, float | None, str | None]] = {}
    for d in dirs:
        info = host_info(d)
        for h in hosts:
            record = info.get(h)
            if record is None:
                out.setdefault(h, (d, None, None))
                continue
            try:
                scanned = datetime.strptime(str(record.get("scanned")), "%Y-%m-%dT%H:%M:%SZ")
                age: float | None = (now - scanned.replace(tzinfo=UTC)).total_seconds()
            except ValueError:
                age = None
            version = record.get("virtaudit")
            out[h] = (d, age, version if isinstance(version, str) else None)
    return out


def _age_note(host: str, directory: Path, age: float | None, version: str | None) -> str:
    if age is None:
        return f"dataset {directory}: host {host}: scan time not recorded (written by an older virtaudit)"
    return f"dataset {directory}: host {host}: scanned {_human(age)} ago by virtaudit {version or '?'}"


def _human(seconds: float) -> str:
    """``90061`` -> ``1d 1h``; ``59`` -> ``59s``."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            big, rest = divmod(seconds, size)
            small = {"d": ("h", 3600), "h": ("m", 60), "m": ("s", 1)}[unit]
            part = rest // small[1]
            return f"{big}{unit}" + (f" {part}{small[0]}" if part else "")
    return f"{seconds}s"


def write_dataset(
    out: Path,
    scan: Scan,
    *,
    findings: pl.DataFrame | None = None,
    facts: pl.DataFrame | None = None,
    part: int = 0,
    fresh_hosts: set[str] | None = None,
    extra_hosts: Iterable[str] = (),
) -> list[str]:
    """Write ``scan`` (and ``findings``, ``facts``) under ``out`` as ``TABLE/host=NAME/part-N.parquet``.

    Every table gets a file for every host of the scan, even an empty one, so that each host's
    partition is complete and self-describing. A host's partition directories are emptied the first time
    it is written (``fresh_hosts`` tracks which hosts were already written by this run, for callers that
    write batch by batch with increasing ``part``); other hosts' partitions are left alone, so that
    per-host datasets can be merged into one directory. ``extra_hosts`` are written even without a row
    (empty partitions: a host the run covered that has no guest any more). Returns the hosts written.
    """

    from virtaudit import SCHEMA_VERSION, __version__

    tables: dict[str, pl.DataFrame] = dict(scan.tables())
    if findings is not None:
        tables["findings"] = findings
    if facts is not None:
        tables["facts"] = facts
    hosts = sorted(
        set(scan.domains["host"].to_list())
        | set(scan.errors["host"].to_list())
        | (set(findings["host"].to_list()) if findings is not None else set())
        | set(extra_hosts)
    )
    if fresh_hosts is None:
        fresh_hosts = set()
    out.mkdir(parents=True, exist_ok=True)
    by_host = {
        name: df.partition_by("host", as_dict=True, include_key=False) if df.height else {}
        for name, df in tables.items()
    }
    for host in hosts:
        first = host not in fresh_hosts
        fresh_hosts.add(host)
        for name, df in tables.items():
            directory = out / name / partition(host)
            if first and directory.is_dir():
                for old in directory.glob("*.parquet"):
                    old.unlink()
            directory.mkdir(parents=True, exist_ok=True)
            chunk = by_host[name].get((host,))
            if chunk is None:
                chunk = df.head(0).drop("host")
            tmp = directory / f".part-{part}.parquet.tmp"
            chunk.write_parquet(tmp)
            os.replace(tmp, directory / f"part-{part}.parquet")
    meta = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "virtaudit", "version": __version__},
        "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tables": list(tables),
        "hosts": sorted(set(hosts) | _meta_hosts(out)),
        "layout": "TABLE/host=NAME/part-N.parquet (hive partitioning; host values percent-encoded)",
    }
    tmp_meta = out / f".{DATASET_META}.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp_meta, out / DATASET_META)
    return hosts


def _meta_hosts(out: Path) -> set[str]:
    try:
        hosts = json.loads((out / DATASET_META).read_text()).get("hosts", [])
    except (OSError, ValueError):
        return set()
    return {h for h in hosts if isinstance(h, str)}
