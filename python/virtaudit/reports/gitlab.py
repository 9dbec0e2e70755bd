"""``--output-format gitlab``: a GitLab Code Quality report (a JSON array of issues, as ``ruff
--output-format gitlab`` writes), for ``artifacts:reports:codequality``.

Each finding is an issue: ``description`` (host/guest: message), ``check_name`` (virtaudit CODE rule),
``fingerprint`` (as SARIF's: host, guest UUID, code and device, not the path as typed), ``severity`` in
GitLab's words (critical -> blocker, high -> critical, medium -> major, low -> minor, info -> info) and
``location.path`` with ``lines.begin`` 1. Each unreadable input is a ``blocker`` issue (its guests were not
audited), and each host that is not ``restart-safe`` an issue with its verdict.
"""

from __future__ import annotations

import hashlib
import json
from typing import IO, TYPE_CHECKING, Any, Final

from virtaudit.reports._spool import BucketFiles, by_severity
from virtaudit.reports.sarif import fingerprint

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport

SEVERITIES: Final = {
    "critical": "blocker",
    "high": "critical",
    "medium": "major",
    "low": "minor",
    "info": "info",
}


def issue(f: dict[str, Any]) -> dict[str, Any]:
    guest = f["guest"] or f["path"]
    return {
        "description": f"{f['host']}/{guest}: {f['message']}",
        "check_name": f"virtaudit {f['code']} {f['rule']}",
        "fingerprint": fingerprint(f),
        "severity": SEVERITIES.get(f["severity"], "major"),
        "location": {"path": f["path"], "lines": {"begin": 1}},
    }


def _other(kind: str, key: str, description: str, path: str, severity: str) -> dict[str, Any]:
    return {
        "description": description,
        "check_name": f"virtaudit {kind}",
        "fingerprint": hashlib.sha256(f"{kind}\x1f{key}".encode()).hexdigest(),
        "severity": severity,
        "location": {"path": path, "lines": {"begin": 1}},
    }


class Spool:
    """Issues as compact JSON, one a line, per severity."""

    def __init__(self, **_run: object) -> None:
        self.rows = BucketFiles()

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        for rank, part in by_severity(findings):
            lines = [json.dumps(issue(f), ensure_ascii=False) for f in part.iter_rows(named=True)]
            self.rows.write(rank, ("\n".join(lines) + "\n").encode(), len(lines))

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None:
        from virtaudit.reports.hosts import verdict_line

        extra = [
            _other(
                "unreadable-input",
                f"{e['host']}\x1f{e['path']}",
                f"could not read {e['path']}: {e['kind']}: {e['message']} (its guests were not audited)",
                e["path"],
                "blocker",
            )
            for e in report.errors.iter_rows(named=True)
        ]
        extra += [
            _other(f"host-{h['verdict']}", h["host"], verdict_line(h, report.fail_on), h["host"], "critical")
            for h in report.host_verdicts().iter_rows(named=True)
            if h["verdict"] != "restart-safe"
        ]
        if (summary := report.suppressed_line()) is not None:
            # (Code Quality has no summary: the count is an info issue, so it is never silently gone)
            file = str((report.baseline or {}).get("file"))
            extra.append(_other("baseline", file, summary, file, "info"))
        sep = b"[\n  "
        for line in self.rows.lines():
            stream.write(sep + line)
            sep = b",\n  "
        self.rows.close()
        for item in extra:
            stream.write(sep + json.dumps(item, ensure_ascii=False).encode())
            sep = b",\n  "
        stream.write(b"[]\n" if sep == b"[\n  " else b"\n]\n")


def write(report: AuditReport, stream: IO[bytes]) -> None:
    spool = Spool()
    spool.add(report.findings)
    spool.finish(report, stream)
