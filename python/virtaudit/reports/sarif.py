"""``--output-format sarif``: SARIF 2.1.0 for code-scanning and CI systems.

The rules come from the catalog (help text: why it breaks, what to do, affected versions, evidence).
Each finding is a result with a physical location (the status file) and logical locations for the host,
the guest and the device. Inputs that could not be read are tool execution notifications at level
``error``, and ``executionSuccessful`` is false when there are any.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import quote

from virtaudit.reports import SEVERITIES, severity_rank
from virtaudit.reports._spool import BucketFiles, by_severity

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS: Final = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning's numeric severity (0-10) for a ranked display.
SECURITY_SEVERITY: Final = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


RULES_DOC: Final = "https://virtaudit.invalid/docs/rules.md"
"""Where docs/rules.md is published (the schema's ``$id`` host); each rule's ``helpUri`` is its anchor."""
SRCROOT: Final = "%SRCROOT%"
"""The ``uriBaseId`` of relative paths: the directory virtaudit ran in (``originalUriBaseIds``)."""
_ARCHIVE_MEMBER: Final = re.compile(
    r"^(.+?\.(?:tar(?:\.[a-z0-9]+)?|tgz|txz|tbz2|tzst|zip))!(.+)$", re.IGNORECASE
)
_SAFE: Final = "/!:@+,;=-._~"


def _file_uri(path: str) -> str:
    return "file://" + quote(os.path.abspath(path), safe=_SAFE)


def artifact_location(path: str) -> dict[str, str]:
    """A SARIF ``artifactLocation`` for a path as scanned: an absolute path is a ``file://`` URI, a
    relative one a relative URI with ``uriBaseId`` ``%SRCROOT%`` (the directory of the run), and an
    archive member ``ARCHIVE!MEMBER`` a ``jar:`` URI (``jar:file:///abs/archive.tar.xz!/member``)."""
    member = _ARCHIVE_MEMBER.match(path)
    if member is not None:
        return {"uri": f"jar:{_file_uri(member.group(1))}!/{quote(member.group(2).lstrip('/'), safe=_SAFE)}"}
    if path.startswith("/"):
        return {"uri": _file_uri(path)}
    return {"uri": quote(path, safe=_SAFE), "uriBaseId": SRCROOT}


def artifact_uri(path: str) -> str:
    """The URI of :func:`artifact_location` (relative paths stay relative)."""
    return artifact_location(path)["uri"]


def help_uri(code: str) -> str:
    """The rule's section of docs/rules.md (GitHub's anchor of a ``### CODE`` heading)."""
    return f"{RULES_DOC}#{code.lower()}"


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.DOTALL)
    return (match.group(1) if match else text.strip())[:1000]


def _rules(report: AuditReport) -> list[dict[str, Any]]:
    import polars as pl

    codes: dict[str, dict[str, Any]] = {}
    catalog = report.catalog
    if catalog is not None:
        for row in catalog.iter_rows(named=True):
            severities = [s for s in (row.get("severities") or []) if s in SEVERITIES]
            top = min(severities, key=severity_rank) if severities else "medium"
            why = row.get("why") or ""
            remediation = row.get("remediation") or ""
            affected = row.get("affected") or ""
            evidence = row.get("evidence") or ""
            logic = row.get("severity_logic") or ""
            text = (
                f"{why}\n\nWhat to do: {remediation}\n\nAffected: {affected}\n\nSeverity: {logic}"
                f"\n\nEvidence: {evidence}"
            )
            markdown = (
                f"## Why it breaks\n\n{why}\n\n## What to do\n\n{remediation}\n\n"
                f"## Affected versions\n\n{affected}\n\n## Severity\n\n{logic}\n\n## Evidence\n\n{evidence}"
            )
            codes[row["code"]] = {
                "id": row["code"],
                "name": row.get("name") or row["code"],
                "shortDescription": {"text": _first_sentence(why) or row["code"]},
                "fullDescription": {"text": why or row["code"]},
                "help": {"text": text, "markdown": markdown},
                "helpUri": help_uri(row["code"]),
                "defaultConfiguration": {"level": LEVELS.get(top, "warning")},
                "properties": {
                    "tags": [row["code"][:3], "libvirt", "restart-safety"],
                    "severities": severities,
                    "security-severity": SECURITY_SEVERITY.get(top, "5.5"),
                },
            }
    seen = report.tallied().keys().group_by("code").agg(pl.col("rule").first()).sort("code")
    for code, rule in seen.iter_rows():
        if code not in codes:
            codes[code] = {
                "id": code,
                "name": rule or code,
                "shortDescription": {"text": rule or code},
            }
    # The catalog's codes first, sorted (the indices the streamed results were written with), then any
    # other code the findings carry.
    known = sorted(c for c in codes if catalog is not None and c in set(catalog["code"].to_list()))
    return [codes[c] for c in known] + [codes[c] for c in sorted(set(codes) - set(known))]


def fingerprint(f: dict[str, Any]) -> str:
    """What identifies a finding whatever path it was read from: host, guest (UUID, else name), rule
    code and device (alias, else element). The same guest read as ``./fleet/h/g.xml``, an absolute
    path, a dataset or an archive member gives the same fingerprint."""
    guest = f.get("uuid") or f.get("guest") or ""
    device = f.get("alias") or f.get("element") or ""
    key = "\x1f".join(str(v) for v in (f.get("host") or "", guest, f.get("code") or "", device))
    return hashlib.sha256(key.encode()).hexdigest()


def _result(f: dict[str, Any], rule_index: dict[str, int]) -> dict[str, Any]:
    host, guest = f["host"], f["guest"] or f["path"]
    logical: list[dict[str, Any]] = [
        {"name": host, "fullyQualifiedName": host, "kind": "namespace"},
        {"name": guest, "fullyQualifiedName": f"{host}/{guest}", "kind": "module"},
    ]
    device = f["alias"] or f["element"]
    if device:
        logical.append({"name": device, "fullyQualifiedName": f"{host}/{guest}/{device}", "kind": "element"})
    result: dict[str, Any] = {
        "ruleId": f["code"],
        "level": LEVELS.get(f["severity"], "warning"),
        "message": {"text": f["message"]},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": artifact_location(f["path"])},
                "logicalLocations": logical,
            }
        ],
        "partialFingerprints": {"virtaudit/v2": fingerprint(f)},
        "properties": {k: f[k] for k in f if k not in ("message",)},
    }
    if f["code"] in rule_index:
        result["ruleIndex"] = rule_index[f["code"]]
    return result


def _notifications(errors: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for e in errors.iter_rows(named=True):
        physical: dict[str, Any] = {"artifactLocation": artifact_location(e["path"])}
        if e["line"] is not None:
            physical["region"] = {
                "startLine": e["line"],
                **({"startColumn": e["column"]} if e["column"] else {}),
            }
        out.append(
            {
                "level": "error",
                "message": {"text": f"could not read {e['path']}: {e['kind']}: {e['message']}"},
                "descriptor": {"id": e["kind"]},
                "locations": [
                    {
                        "physicalLocation": physical,
                        "logicalLocations": [{"name": e["host"], "kind": "namespace"}],
                    }
                ],
            }
        )
    return out


def _catalog_index(catalog: pl.DataFrame | None) -> dict[str, int]:
    """Each catalog code's index in the driver's rules (sorted by code, as :func:`_rules` lists them).

    Results are written before the run's last finding is known, so only catalog codes get a
    ``ruleIndex`` (optional in SARIF); a code outside the catalog still gets its rule entry."""
    codes = sorted(catalog["code"].to_list()) if catalog is not None else []
    return {c: i for i, c in enumerate(codes)}


class Spool:
    """Results as compact JSON, one a line, per severity."""

    def __init__(self, *, catalog: pl.DataFrame | None = None, **_run: object) -> None:
        self.rows = BucketFiles()
        self._index = _catalog_index(catalog)

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        for rank, part in by_severity(findings):
            lines = [
                json.dumps(_result(f, self._index), ensure_ascii=False) for f in part.iter_rows(named=True)
            ]
            self.rows.write(rank, ("\n".join(lines) + "\n").encode(), len(lines))

    def add_suppressed(self, suppressed: pl.DataFrame) -> None:
        """Findings a baseline accepted: results like the others, with SARIF's own ``suppressions``
        (kind ``external``: the baseline file; status ``accepted``; its reason as the justification), so
        that code scanning shows them as dismissed rather than losing them."""
        extra = ("baseline_reason", "baseline_expires", "baseline_entry")
        for rank, part in by_severity(suppressed):
            lines = []
            for f in part.iter_rows(named=True):
                result = _result({k: v for k, v in f.items() if k not in extra}, self._index)
                result["suppressions"] = [_suppression(f)]
                lines.append(json.dumps(result, ensure_ascii=False))
            self.rows.write(rank, ("\n".join(lines) + "\n").encode(), len(lines))

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None:
        rules = _rules(report)
        invocation: dict[str, Any] = {
            "executionSuccessful": report.errors.height == 0,
            "exitCode": report.exit_code,
            "toolExecutionNotifications": _notifications(report.errors),
        }
        if report.generated:
            invocation["endTimeUtc"] = report.generated
        doc = {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "virtaudit",
                            "version": report.version,
                            "semanticVersion": report.version,
                            "rules": rules,
                        }
                    },
                    "invocations": [invocation],
                    "originalUriBaseIds": {SRCROOT: {"uri": _file_uri(os.getcwd()).rstrip("/") + "/"}},
                    "results": _RESULTS,
                    "properties": {
                        "target_libvirt": report.target_libvirt or "newest",
                        "judged_against": report.judged_against(),
                        "hosts": report.host_verdicts().to_dicts(),
                        "fail_on": report.fail_on,
                        "summary": report.counts(),
                        **({"baseline": report.baseline} if report.baseline is not None else {}),
                    },
                }
            ],
        }
        head, tail = json.dumps(doc, indent=2, ensure_ascii=False).split(json.dumps(_RESULTS))
        stream.write(head.encode())
        self.rows.write_json_array(stream, indent=8)
        self.rows.close()
        stream.write(tail.encode() + b"\n")


def _suppression(f: dict[str, Any]) -> dict[str, Any]:
    properties = {"entry": f.get("baseline_entry")}
    if f.get("baseline_expires"):
        properties["expires"] = f["baseline_expires"]
    return {
        "kind": "external",
        "status": "accepted",
        "justification": f.get("baseline_reason") or "",
        "properties": properties,
    }


# Where the streamed results go in the document (a string no catalog text holds).
_RESULTS: Final = "\x00virtaudit-results\x00"


def render(report: AuditReport) -> dict[str, Any]:
    """The SARIF document as a dict."""
    import io

    buffer = io.BytesIO()
    write(report, buffer)
    loaded: dict[str, Any] = json.loads(buffer.getvalue())
    return loaded


def write(report: AuditReport, stream: IO[bytes]) -> None:
    spool = Spool(catalog=report.catalog)
    spool.add(report.findings)
    spool.finish(report, stream)
