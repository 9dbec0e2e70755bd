"""``--output-format parquet``: one Parquet file of the findings columns (written by polars).

Unreadable inputs are rows with code ``INPUT`` and severity ``error``, and each host's verdict a row with
code ``HOST``, as in the CSV format. ``severity`` is an ordered Enum (:data:`PARQUET_SEVERITIES`). The scan
tables as a dataset partitioned by host are ``virtaudit scan --out DIR``.

Batches are spooled as Arrow IPC files, one per batch and severity, in a temporary directory; the
Parquet file is streamed from them by polars' streaming engine when the report is written.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from virtaudit.reports import SEVERITIES
from virtaudit.reports._common import error_rows, verdict_rows
from virtaudit.reports._spool import BUCKETS, by_severity

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport

PARQUET_SEVERITIES: Final = (*SEVERITIES, "error")
"""The ``severity`` column is an Enum of these, in this order (most severe finding first, then the
unreadable inputs' ``error``), so that sorting by it works in polars and DuckDB; host verdict rows have
none (null)."""


class Spool:
    def __init__(self, **_run: object) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._parts: list[list[Path]] = [[] for _ in range(BUCKETS)]

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        for rank, part in by_severity(findings):
            if self._dir is None:
                self._dir = tempfile.TemporaryDirectory(prefix="virtaudit-")
            path = Path(self._dir.name) / f"{rank}-{len(self._parts[rank]):08d}.arrow"
            part.write_ipc(path)
            self._parts[rank].append(path)

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None:
        import polars as pl

        from virtaudit.reports import empty_findings

        frames = [empty_findings().lazy()]
        frames += [pl.scan_ipc(p) for bucket in self._parts for p in bucket]
        frames.append(error_rows(report).lazy())
        frames.append(verdict_rows(report).lazy())
        ordered = pl.Enum(list(PARQUET_SEVERITIES))
        table = pl.concat(frames, how="vertical_relaxed").with_columns(pl.col("severity").cast(ordered))
        with tempfile.TemporaryDirectory(prefix="virtaudit-") as tmp:
            # Through a file: polars' writer seeks, and stdout is often a pipe.
            out = Path(tmp) / "findings.parquet"
            table.sink_parquet(out)
            with out.open("rb") as f:
                shutil.copyfileobj(f, stream, 1 << 20)
        if self._dir is not None:
            self._dir.cleanup()


def write(report: AuditReport, stream: IO[bytes]) -> None:
    spool = Spool()
    spool.add(report.findings)
    spool.finish(report, stream)
