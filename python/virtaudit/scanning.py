"""Scanning: status and domain XML files into polars DataFrames (the tables of docs/schema.md).

All per-file and per-row work happens in the Rust core with the GIL released; this module only wraps
the Arrow tables it returns, which polars imports without copying. :func:`virtaudit.scan` and
:func:`virtaudit.scan_batches` live in :mod:`virtaudit.pipeline` (the one path from inputs to batches),
above this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from virtaudit import _core
from virtaudit.hostnames import HostFrom

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ELEMENTS",
    "DEFAULT_MAX_FILE_SIZE",
    "TABLE_NAMES",
    "HostFrom",
    "Scan",
]

DEFAULT_MAX_FILE_SIZE: int = _core.DEFAULT_MAX_FILE_SIZE
DEFAULT_MAX_DEPTH: int = _core.DEFAULT_MAX_DEPTH
DEFAULT_MAX_ELEMENTS: int = _core.DEFAULT_MAX_ELEMENTS
TABLE_NAMES: tuple[str, ...] = tuple(_core.TABLE_NAMES)


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

    def shifted_doc_ids(self, shift: int) -> Scan:
        """This scan with every document id moved up by ``shift`` (to follow another scan's ids)."""
        if shift == 0:
            return self
        tables = {name: _shift_doc_ids(getattr(self, name), shift) for name in TABLE_NAMES}
        return Scan.from_tables(tables, self.sources)

    def concat(self, other: Scan) -> Scan:
        """Both scans' rows, re-sorted by path so order stays deterministic.

        ``other``'s document ids are moved past ``self``'s, so that they stay unique in the result.
        """
        last = self.domains["doc_id"].max() if "doc_id" in self.domains.columns else None
        first = other.domains["doc_id"].min() if "doc_id" in other.domains.columns else None
        shift = 0 if last is None else int(last) + 1  # type: ignore[arg-type]
        if first is not None and int(first) >= shift:  # type: ignore[arg-type]
            shift = 0  # already past self's ids (the pipeline numbers its pieces on)
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
