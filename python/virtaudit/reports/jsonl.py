"""``--output-format jsonl``: one JSON object a line (docs/findings.schema.json, ``#/$defs/line``).

Lines of ``"type": "finding"``, then ``"type": "error"`` (inputs that could not be read), then one
``"type": "summary"`` line with the run's metadata and counts.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from virtaudit.reports._common import dumps, header, ndjson_rows

if TYPE_CHECKING:
    from virtaudit.reports import AuditReport


def render(report: AuditReport) -> str:
    lines = ndjson_rows(report.findings, "finding") + ndjson_rows(report.errors, "error")
    lines.append(dumps({"type": "summary", **header(report)}))
    return "\n".join(lines) + "\n"


def write(report: AuditReport, stream: IO[bytes]) -> None:
    stream.write(render(report).encode())
