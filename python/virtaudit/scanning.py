"""Scanning: status and domain XML files into polars DataFrames (the tables of docs/schema.md).

All per-file and per-row work happens in the Rust core with the GIL released; this module only turns
arguments into the core's and wraps the Arrow tables it returns, which polars imports without copying.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from virtaudit import _core
from virtaudit.hostnames import HostFrom, host_mode

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ELEMENTS",
    "DEFAULT_MAX_FILE_SIZE",
    "TABLE_NAMES",
    "HostFrom",
    "Scan",
    "scan",
    "scan_batches",
]

DEFAULT_MAX_FILE_SIZE: int = _core.DEFAULT_MAX_FILE_SIZE
DEFAULT_MAX_DEPTH: int = _core.DEFAULT_MAX_DEPTH
DEFAULT_MAX_ELEMENTS: int = _core.DEFAULT_MAX_ELEMENTS
TABLE_NAMES: tuple[str, ...] = tuple(_core.TABLE_NAMES)

StrPath = str | bytes | os.PathLike[str]


def _frame(table: Any) -> pl.DataFrame:
    # pl.DataFrame imports any object with __arrow_c_stream__ (Utf8View strings stay zero-copy).
    return pl.DataFrame(table)


def _frames(tables: Mapping[str, Any]) -> dict[str, pl.DataFrame]:
    return {name: _frame(tables[name]) for name in TABLE_NAMES}


def _shift_doc_ids(df: pl.DataFrame, shift: int) -> pl.DataFrame:
    if shift == 0 or "doc_id" not in df.columns:
        return df
    return df.with_columns(pl.col("doc_id") + pl.lit(shift, dtype=pl.UInt32))


@dataclass(frozen=True)
class Scan:
    """The tables of one scan. Every input is a row of ``domains`` or of ``errors``, never both."""

    domains: pl.DataFrame
    devices: pl.DataFrame
    caps: pl.DataFrame
    live_aliases: pl.DataFrame
    errors: pl.DataFrame
    # Where the scan came from, for reports (paths as given).
    sources: tuple[str, ...] = field(default=())

    @classmethod
    def from_tables(cls, tables: Mapping[str, pl.DataFrame], sources: tuple[str, ...] = ()) -> Scan:
        return cls(
            domains=tables["domains"],
            devices=tables["devices"],
            caps=tables["caps"],
            live_aliases=tables["live_aliases"],
            # The reports and the CLI take errors as exactly reports.ERROR_COLUMNS (and the findings JSON
            # schema allows no other property): the core's doc_id of an error row stays out of the Scan
            # until they select their columns. Domains and their rows keep it.
            errors=tables["errors"].drop("doc_id", strict=False),
            sources=sources,
        )

    def tables(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in TABLE_NAMES}

    @property
    def files(self) -> int:
        """Inputs seen: documents parsed plus inputs that failed."""
        return self.domains.height + self.errors.height

    @property
    def ok(self) -> bool:
        """True only when every input was read and parsed."""
        return self.errors.height == 0

    @property
    def hosts(self) -> int:
        return pl.concat([self.domains["host"], self.errors["host"]]).n_unique()

    def concat(self, other: Scan) -> Scan:
        """Both scans' rows, re-sorted by path so order stays deterministic.

        ``other``'s document ids are moved past ``self``'s, so that they stay unique in the result.
        """
        last = self.domains["doc_id"].max() if "doc_id" in self.domains.columns else None
        shift = 0 if last is None else int(last) + 1  # type: ignore[arg-type]
        merged = {
            name: pl.concat(
                [getattr(self, name), _shift_doc_ids(getattr(other, name), shift)], how="vertical_relaxed"
            )
            for name in TABLE_NAMES
        }
        for name, df in merged.items():
            keys = ["path", "ordinal"] if name == "devices" else ["path"]
            merged[name] = df.sort(keys, maintain_order=True)
        return Scan.from_tables(merged, self.sources + other.sources)

    def __repr__(self) -> str:
        status = "ok" if self.ok else f"{self.errors.height} unreadable"
        return (
            f"<virtaudit.Scan files={self.files} hosts={self.hosts} domains={self.domains.height} "
            f"devices={self.devices.height} caps={self.caps.height} "
            f"live_aliases={self.live_aliases.height} errors={self.errors.height} ({status})>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td>{escape(name)}</td><td style='text-align:right'>{getattr(self, name).height}</td></tr>"
            for name in TABLE_NAMES
        )
        kinds = ""
        if self.errors.height:
            counts = self.errors.group_by("kind").len().sort("kind")
            kinds = "<p><b>Unreadable inputs:</b> " + ", ".join(
                f"{escape(k)}: {n}" for k, n in counts.iter_rows()
            )
            kinds += "</p>"
        return (
            f"<div><b>virtaudit scan</b>: {self.files} files from {self.hosts} hosts"
            f"<table><tr><th>table</th><th>rows</th></tr>{rows}</table>{kinds}</div>"
        )


def _paths(paths: tuple[StrPath, ...]) -> list[str | os.PathLike[str]]:
    if not paths:
        raise ValueError("scan() needs at least one path")
    # bytes paths (non-UTF-8 file names) become str with surrogate escapes, which round-trip to bytes.
    return [os.fsdecode(p) if isinstance(p, bytes) else os.fspath(p) for p in paths]


def scan(
    *paths: StrPath,
    jobs: int | None = None,
    host_from: HostFrom = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Scan:
    """Scan files, directories (recursively, ``*.xml``) and glob patterns into a :class:`Scan`.

    Archives (``.tar``, ``.tar.gz``, ``.tar.xz``, ``.zip``) and Parquet datasets written by
    ``virtaudit scan --out`` are read too (see :mod:`virtaudit.sources`).
    """
    mode, value = host_mode(host_from)
    limits = {"max_file_size": max_file_size, "max_depth": max_depth, "max_elements": max_elements}
    plain, special = _split_sources(_paths(paths))
    result: Scan | None = None
    if plain or not special:
        tables = _core.scan(plain, jobs=jobs, host_mode=mode, host_value=value, **limits)
        result = Scan.from_tables(_frames(tables), tuple(str(p) for p in plain))
    if special:
        from virtaudit import sources

        for source in special:
            extra = sources.scan_special(source, jobs=jobs, host_from=host_from, **limits)
            result = extra if result is None else result.concat(extra)
    assert result is not None
    return result


def _split_sources(paths: list[str | os.PathLike[str]]) -> tuple[list[str | os.PathLike[str]], list[Path]]:
    """Separates archives and Parquet datasets (read in Python) from the files the core reads."""
    from virtaudit.sources import is_special

    plain: list[str | os.PathLike[str]] = []
    special: list[Path] = []
    for p in paths:
        if is_special(Path(p)):
            special.append(Path(p))
            if Path(p).is_dir():
                # XML files beside a dataset are read too: the core's walk finds only *.xml.
                plain.append(p)
        else:
            plain.append(p)
    return plain, special


def scan_batches(
    *paths: StrPath,
    batch_files: int = 10_000,
    jobs: int | None = None,
    host_from: HostFrom = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    caps_flags: Sequence[str] | None = None,
) -> Iterator[Scan]:
    """Yield the scan :class:`Scan` by :class:`Scan`, ``batch_files`` inputs at a time.

    Peak memory depends on ``batch_files``, not on the number of inputs: use it for very large fleets.
    ``caps_flags``: only these QEMU capability flags become rows of ``caps`` (``domains.caps_count``
    still counts them all); the caps table is otherwise the largest by far.
    """
    if batch_files < 1:
        raise ValueError("batch_files must be at least 1")
    mode, value = host_mode(host_from)
    scanner = _core.Scanner(
        _paths(paths),
        jobs=jobs,
        host_mode=mode,
        host_value=value,
        max_file_size=max_file_size,
        max_depth=max_depth,
        max_elements=max_elements,
        caps_flags=None if caps_flags is None else list(caps_flags),
    )
    while (batch := next_scan(scanner, batch_files)) is not None:
        yield batch
        # Drop this frame's reference before the next batch is built: with it, two batches would be alive at
        # once (the caller's and the one being scanned), doubling the peak memory.
        del batch


def next_scan(scanner: _core.Scanner, batch_files: int, sources: tuple[str, ...] = ()) -> Scan | None:
    """The next ``batch_files`` inputs of ``scanner`` as a :class:`Scan` (None: no more).

    The core's tables are referenced only here, so once the frames hold them nothing else does.
    """
    tables = scanner.next_batch(batch_files)
    if tables is None:
        return None
    return scan_of_tables(tables, sources)


def scan_of_tables(tables: Mapping[str, Any], sources: tuple[str, ...] = ()) -> Scan:
    """A :class:`Scan` of the core's tables of one batch (polars takes them over without copying)."""
    return Scan.from_tables(_frames(tables), sources)
