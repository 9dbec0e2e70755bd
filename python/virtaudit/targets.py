"""Which libvirt release judges each document, and what is known of its host's QEMU: the target release
of an audit and the per-host facts (``libvirt_version``, ``qemu_version``) that override it.

Used by the rules' context (:mod:`virtaudit.auditing`) and by :func:`virtaudit.busnames.buses`; depends on
:mod:`virtaudit.versions` only, so that both can import it without a cycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import polars as pl

from virtaudit.versions import LibvirtVersion, libvirt_key, libvirt_label, qemu_label, qemu_number

if TYPE_CHECKING:
    from virtaudit.scanning import Scan

__all__ = [
    "HostFacts",
    "ScanTables",
    "document_targets",
    "load_host_facts",
    "target_columns",
]

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
    return pl.concat([domains, target_columns(domains, target_libvirt, host_facts)], how="horizontal")


def _labels(keys: pl.Series, label: Callable[[int], str | None], name: str) -> pl.Expr:
    """``keys`` (a column of version keys) replaced by their labels, computed once per distinct key."""
    distinct = keys.drop_nulls().unique().to_list()
    return (
        pl.col(keys.name)
        .replace_strict(distinct, [label(k) for k in distinct], default=None, return_dtype=pl.String)
        .alias(name)
    )


def target_columns(
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
