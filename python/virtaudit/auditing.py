"""``audit()``: run the rule catalog over scan tables, for a target libvirt release and host facts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, cast

import polars as pl

from virtaudit.catalog import CATALOG, SEVERITIES, select_codes
from virtaudit.versions import LibvirtVersion, libvirt_key, libvirt_label, qemu_label, qemu_number

if TYPE_CHECKING:
    from virtaudit.scanning import Scan

__all__ = [
    "AUDIT_COLUMNS",
    "AUDIT_SCHEMA",
    "HostFacts",
    "audit",
    "document_targets",
    "load_host_facts",
    "select_codes",
]

AUDIT_SCHEMA: Final[Mapping[str, pl.DataType]] = {
    "host": pl.String(),
    "path": pl.String(),
    "guest": pl.String(),
    "uuid": pl.String(),
    "code": pl.String(),
    "rule": pl.String(),
    "severity": pl.String(),
    "message": pl.String(),
    "element": pl.String(),
    "alias": pl.String(),
    "recorded_bus": pl.String(),
    "expected_bus": pl.String(),
    "libvirt_version": pl.String(),
    "qemu_version": pl.String(),
}
AUDIT_COLUMNS: Final = tuple(AUDIT_SCHEMA)
"""The output columns of :func:`audit`, in order (a contract for the CLI)."""

PathInput: TypeAlias = "str | PathLike[str]"
HostFacts: TypeAlias = "pl.DataFrame | str | PathLike[str] | Sequence[Mapping[str, Any]] | None"


class ScanTables(Protocol):
    """What :func:`audit` needs of a scan (``virtaudit.Scan``)."""

    @property
    def domains(self) -> pl.DataFrame: ...
    @property
    def devices(self) -> pl.DataFrame: ...
    @property
    def caps(self) -> pl.DataFrame: ...
    @property
    def live_aliases(self) -> pl.DataFrame: ...


# ---------------------------------------------------------------------------------------------------
# host facts


def _read_host_facts_file(path: Path) -> pl.DataFrame:
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "hosts" in data:
            data = data["hosts"]
        if isinstance(data, dict):  # {"host": {"libvirt_version": ..., "qemu_version": ...}}
            data = [{"host": host, **facts} for host, facts in data.items()]
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of host records or a mapping of host to facts")
        return pl.DataFrame(data, infer_schema_length=None)
    return pl.read_csv(path, infer_schema_length=0)


def load_host_facts(host_facts: HostFacts) -> pl.DataFrame:
    """Host facts as (host, libvirt_key, libvirt_version, qemu_key, qemu_version), one row per host.

    Accepts a DataFrame, a CSV or JSON file, or a sequence of mappings, with the columns host,
    libvirt_version and qemu_version (either version column may be absent or null).
    """
    schema = {
        "host": pl.String,
        "libvirt_key": pl.Int64,
        "libvirt_version": pl.String,
        "qemu_key": pl.Int64,
        "qemu_version": pl.String,
    }
    if host_facts is None:
        return pl.DataFrame(schema=schema)
    if isinstance(host_facts, pl.DataFrame):
        raw = host_facts
    elif isinstance(host_facts, (str, PathLike)):
        raw = _read_host_facts_file(Path(host_facts))
    else:
        raw = pl.DataFrame(list(host_facts), infer_schema_length=None)
    if "host" not in raw.columns:
        raise ValueError("host facts need a 'host' column")
    for column in ("libvirt_version", "qemu_version"):
        if column not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(column))
    raw = raw.select(
        pl.col("host").cast(pl.String),
        pl.col("libvirt_version").cast(pl.String).str.strip_chars(),
        pl.col("qemu_version").cast(pl.String).str.strip_chars(),
    ).unique(subset="host", keep="last", maintain_order=True)
    # A few hosts: parse each distinct version once.
    rows = []
    for host, libvirt, qemu in raw.iter_rows():
        lkey = None if libvirt in (None, "") else libvirt_key(libvirt)
        qkey = qemu_number(qemu)
        rows.append((host, lkey, None if lkey is None else libvirt_label(lkey), qkey, qemu_label(qkey)))
    return pl.DataFrame(rows, schema=schema, orient="row")


def document_targets(
    scan: ScanTables | Scan,
    *,
    target_libvirt: str | LibvirtVersion | None = None,
    host_facts: HostFacts = None,
) -> pl.DataFrame:
    """Per document (path, host): the libvirt key judged for (the host's own version, else
    ``target_libvirt``, else the newest), the host's QEMU key (null: unknown) and their labels."""
    domains = scan.domains.select("path", "host")
    return pl.concat([domains, _target_columns(domains, target_libvirt, host_facts)], how="horizontal")


def _labels(keys: pl.Series, label: Callable[[int], str | None], name: str) -> pl.Expr:
    """``keys`` (a column of version keys) replaced by their labels, computed once per distinct key."""
    distinct = keys.drop_nulls().unique().to_list()
    return (
        pl.col(keys.name)
        .replace_strict(distinct, [label(k) for k in distinct], default=None, return_dtype=pl.String)
        .alias(name)
    )


def _target_columns(
    domains: pl.DataFrame, target_libvirt: str | LibvirtVersion | None, host_facts: HostFacts
) -> pl.DataFrame:
    """Row for row with ``domains``: target_key, qemu_key, libvirt_version, qemu_version, target_text.

    Aligned by position (a join on the host, which keeps the left order), so the documents never need to
    be matched again by their paths.
    """
    default_key = libvirt_key(target_libvirt)
    facts = load_host_facts(host_facts)
    if facts.is_empty():  # (the usual audit: every document is judged for the one target)
        return _single_target(domains.height, default_key)
    keys = domains.select("host").join(
        facts.select("host", pl.col("libvirt_key").alias("_lkey"), "qemu_key"),
        on="host",
        how="left",
        maintain_order="left",
    )
    keys = keys.select(pl.col("_lkey").fill_null(default_key).alias("target_key"), "qemu_key")
    return keys.with_columns(
        _labels(keys["target_key"], libvirt_label, "libvirt_version"),
        _labels(keys["qemu_key"], qemu_label, "qemu_version"),
        _labels(keys["target_key"], _target_text, "target_text"),
    )


def _target_text(key: int) -> str:
    """How messages name the libvirt judged for (``libvirt 7.10.0``, ``the newest libvirt``)."""
    label = libvirt_label(key)
    return "the newest libvirt" if label == "newest" else f"libvirt {label}"


def _single_target(height: int, key: int) -> pl.DataFrame:
    """:func:`_target_columns` where no host has facts: ``key`` and its label on every row, without the
    join and the lookups (the same columns and types)."""
    values = {
        "target_key": (key, pl.Int64),
        "qemu_key": (None, pl.Int64),
        "libvirt_version": (libvirt_label(key), pl.String),
        "qemu_version": (None, pl.String),
        "target_text": (_target_text(key), pl.String),
    }
    # (a one-row frame repeated: cheaper than a repeat query per column)
    return pl.DataFrame(
        [pl.Series(name, [value], dtype).new_from_index(0, height) for name, (value, dtype) in values.items()]
    )


# ---------------------------------------------------------------------------------------------------
# audit


def _as_scan(scan_or_paths: ScanTables | Scan | PathInput | Sequence[PathInput]) -> ScanTables:
    if isinstance(scan_or_paths, (str, PathLike)):
        from virtaudit.scanning import scan

        return scan(scan_or_paths)
    if isinstance(scan_or_paths, (list, tuple)):
        from virtaudit.scanning import scan

        return scan(*scan_or_paths)
    return cast(ScanTables, scan_or_paths)


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=AUDIT_SCHEMA)


def audit(
    scan_or_paths: ScanTables | Scan | PathInput | Sequence[PathInput],
    *,
    target_libvirt: str | LibvirtVersion | None = None,
    host_facts: HostFacts = None,
    select: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
) -> pl.DataFrame:
    """Findings of the rule catalog, one row per finding, columns :data:`AUDIT_COLUMNS`.

    ``scan_or_paths``: a :class:`virtaudit.Scan`, or paths to scan. ``target_libvirt``: the libvirt
    release that will read the files (None: the newest behaviour). ``host_facts``: per-host
    ``libvirt_version``/``qemu_version`` (DataFrame, CSV/JSON file or records); a host's own libvirt
    version overrides ``target_libvirt``, and its QEMU version lets QEMU-dependent rules decide.
    ``select``/``ignore``: rule codes or families. Sorted by severity (critical first), host, path, code.
    """
    from virtaudit.ruleset import Context, run

    codes = select_codes(select, ignore)
    scan = _as_scan(scan_or_paths)
    targets = _target_columns(scan.domains, target_libvirt, host_facts)
    domains = pl.concat([scan.domains, targets], how="horizontal")
    ctx = Context.build(domains, scan.devices, scan.caps, scan.live_aliases)
    found = run(ctx, codes)
    if found.is_empty():
        return empty_findings()
    return _report_rows(found, domains)


def _report_rows(found: pl.DataFrame, domains: pl.DataFrame) -> pl.DataFrame:
    """Findings of :func:`virtaudit.ruleset.run` (by ``doc``, the row of ``domains``) with their document
    and rule columns, sorted, as :data:`AUDIT_SCHEMA`."""
    doc = found.get_column("doc")
    document = [
        domains.get_column(column).gather(doc).alias(name)
        for column, name in (
            ("path", "path"),
            ("host", "host"),
            ("name", "guest"),
            ("uuid", "uuid"),
            ("libvirt_version", "libvirt_version"),
            ("qemu_version", "qemu_version"),
        )
    ]
    # One lazy query, collected once: each eager step would be a query of its own, and with a few
    # findings per batch what these steps cost is mostly that per-query overhead.
    out = (
        found.lazy()
        .with_columns(document)
        .join(_rule_names().lazy(), on="code", how="left", maintain_order="left")
        .with_columns(_severity_rank().alias("_rank"))
        .sort("_rank", "host", "path", "code", maintain_order=True)
        .select(_report_columns())
    )
    return out.collect(engine="in-memory")


@cache
def _rule_names() -> pl.DataFrame:
    """(code, rule) of the catalog; built once (the catalog never changes)."""
    return pl.DataFrame({"code": list(CATALOG), "rule": [rule.name for rule in CATALOG.values()]})


@cache
def _severity_rank() -> pl.Expr:
    return pl.col("severity").replace_strict(
        list(SEVERITIES), list(range(len(SEVERITIES))), return_dtype=pl.Int8
    )


@cache
def _report_columns() -> tuple[pl.Expr, ...]:
    return tuple(pl.col(name).cast(dtype) for name, dtype in AUDIT_SCHEMA.items())
