"""Findings written batch by batch: each format's rows go to unnamed temporary files, one per severity,
as the batches arrive, and are copied out in order (most severe first) when the report is written.

So a report of any size costs the memory of one batch, and the output still lists the most severe
findings first (within a severity: batch by batch, each batch by host, path and code, as one batch of
the whole run would be).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Final

from virtaudit.reports import SEVERITIES

if TYPE_CHECKING:
    import polars as pl

BUCKETS: Final = len(SEVERITIES) + 1
"""One bucket per severity, most severe first, and one for any other severity string."""


def rank_expr() -> pl.Expr:
    import polars as pl

    return pl.col("severity").replace_strict(
        {s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES), return_dtype=pl.Int32
    )


def by_severity(findings: pl.DataFrame) -> Iterator[tuple[int, pl.DataFrame]]:
    """(rank, rows) per severity present, each sorted by host, path and code (the report's order)."""
    if findings.height == 0:
        return
    ranked = findings.with_columns(rank_expr().alias("_rank")).sort(
        "_rank", "host", "path", "code", maintain_order=True
    )
    for (rank,), part in ranked.partition_by("_rank", as_dict=True, maintain_order=True).items():
        yield int(rank), part.drop("_rank")


class BucketFiles:
    """Bytes appended per severity bucket; read back most severe first."""

    def __init__(self) -> None:
        self._files: list[IO[bytes] | None] = [None] * BUCKETS
        self.rows = 0

    def write(self, rank: int, data: bytes, rows: int) -> None:
        f = self._files[rank]
        if f is None:
            f = self._files[rank] = tempfile.TemporaryFile(prefix="virtaudit-")  # noqa: SIM115 - closed in close()
        f.write(data)
        self.rows += rows

    def copy_to(self, stream: IO[bytes]) -> None:
        """Every bucket's bytes, in order."""
        for f in self._files:
            if f is not None:
                f.seek(0)
                shutil.copyfileobj(f, stream, 1 << 20)

    def lines(self) -> Iterator[bytes]:
        """Every bucket's lines (without their newline), in order."""
        for f in self._files:
            if f is not None:
                f.seek(0)
                for line in f:
                    yield line.rstrip(b"\n")

    def write_json_array(self, stream: IO[bytes], indent: int) -> None:
        """The lines (each one JSON value) as a JSON array whose items stand ``indent`` spaces in, its
        closing bracket two less: JSON and SARIF stream their findings this way."""
        if self.rows == 0:
            stream.write(b"[]")
            return
        sep = b"[\n" + b" " * indent
        for line in self.lines():
            stream.write(sep + line)
            sep = b",\n" + b" " * indent
        stream.write(b"\n" + b" " * (indent - 2) + b"]")

    def close(self) -> None:
        for f in self._files:
            if f is not None:
                f.close()
        self._files = [None] * BUCKETS
