"""``--output-format json``: one document (docs/findings.schema.json, ``#/$defs/report``)."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from virtaudit.reports._common import dumps, header, ndjson_rows

if TYPE_CHECKING:
    from virtaudit.reports import AuditReport


def _array(rows: list[str]) -> str:
    if not rows:
        return "[]"
    return "[\n    " + ",\n    ".join(rows) + "\n  ]"


def render(report: AuditReport) -> str:
    head = header(report)
    parts = [f"  {dumps(k)}: {dumps(v)}" for k, v in head.items()]
    parts.append(f'  "findings": {_array(ndjson_rows(report.findings))}')
    parts.append(f'  "errors": {_array(ndjson_rows(report.errors))}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write(report: AuditReport, stream: IO[bytes]) -> None:
    stream.write(render(report).encode())
