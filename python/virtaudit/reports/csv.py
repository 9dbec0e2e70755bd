"""``--output-format csv``: the findings columns with a header row.

Inputs that could not be read follow the findings as rows with code ``INPUT``, severity ``error`` and
the error kind as the rule, so that a spreadsheet never looks clean when a file was skipped.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from virtaudit.reports._common import findings_with_errors

if TYPE_CHECKING:
    from virtaudit.reports import AuditReport


def write(report: AuditReport, stream: IO[bytes]) -> None:
    findings_with_errors(report).write_csv(stream)
