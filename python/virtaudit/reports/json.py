"""``--output-format json``: one document (docs/findings.schema.json, ``#/$defs/report``).

The findings array is written from spooled rows (see :mod:`virtaudit.reports._spool`): the summary at
the top is known only once every batch was read, the rows never all sit in memory.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from virtaudit.reports._common import dumps, header, host_rows, ndjson_rows
from virtaudit.reports._spool import BucketFiles, by_severity

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport


def _array(rows: list[str]) -> str:
    if not rows:
        return "[]"
    return "[\n    " + ",\n    ".join(rows) + "\n  ]"


class Spool:
    """Findings as compact JSON objects, one a line, per severity."""

    def __init__(self, **_run: object) -> None:
        self.rows = BucketFiles()

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        for rank, part in by_severity(findings):
            lines = ndjson_rows(part)
            self.rows.write(rank, ("\n".join(lines) + "\n").encode(), len(lines))

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None:
        head = header(report)
        parts = [f"  {dumps(k)}: {dumps(v)}" for k, v in head.items()]
        parts.append(f"  {dumps('hosts')}: {_array(host_rows(report))}")
        stream.write(("{\n" + ",\n".join(parts) + ',\n  "findings": ').encode())
        self.rows.write_json_array(stream, indent=4)
        self.rows.close()
        stream.write(f',\n  "errors": {_array(ndjson_rows(report.errors))}\n}}\n'.encode())


def render(report: AuditReport) -> str:
    import io

    buffer = io.BytesIO()
    write(report, buffer)
    return buffer.getvalue().decode()


def write(report: AuditReport, stream: IO[bytes]) -> None:
    spool = Spool()
    spool.add(report.findings)
    spool.finish(report, stream)
