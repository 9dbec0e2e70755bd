"""``--output-format parquet``: one Parquet file of the findings columns (written by polars).

Unreadable inputs are rows with code ``INPUT`` and severity ``error``, as in the CSV format. The scan
tables as a dataset partitioned by host are ``virtaudit scan --out DIR``.
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING

from virtaudit.reports._common import findings_with_errors

if TYPE_CHECKING:
    from virtaudit.reports import AuditReport


def write(report: AuditReport, stream: IO[bytes]) -> None:
    # Through memory: polars may seek, and stdout is often a pipe.
    buffer = io.BytesIO()
    findings_with_errors(report).write_parquet(buffer)
    stream.write(buffer.getvalue())
