"""``--output-format junit``: JUnit XML for CI systems.

One ``<testsuite>`` per host (its properties: the host's verdict, worst finding and facts), one
``<testcase>`` per guest (classname = host, name = guest). A guest with findings at or above ``--fail-on``
has one ``<failure>`` (type = the rule codes, its text every such finding, the most severe first);
findings below it are listed in the test case's ``<system-out>``. Every element has a ``time``. Each
input that could not be read is a test case with an ``<error>``, so a CI run never shows green over files
it skipped.
"""

from __future__ import annotations

import io
import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from virtaudit.reports import severity_rank

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport

# Characters XML 1.0 cannot hold at all.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean(value: Any) -> str:
    return _INVALID_XML.sub("\ufffd", "" if value is None else str(value))


def _details(f: dict[str, Any]) -> str:
    lines = [
        f"{f['severity']} {f['code']} {f['rule']}: {f['message']}",
        f"path: {f['path']}",
    ]
    for key in ("element", "alias", "recorded_bus", "expected_bus", "libvirt_version", "qemu_version"):
        if f.get(key) is not None:
            lines.append(f"{key}: {f[key]}")
    return clean("\n".join(lines))


def _case_xml(host: str, path: str, guest: str | None, found: list[dict[str, Any]], fail_rank: int) -> bytes:
    """One guest's test case, and whether it failed (as the first byte: b"F" or b"."). Every finding at
    or above ``--fail-on`` goes into its one ``<failure>`` (the most severe first); the others into
    ``<system-out>``."""
    # (no "file" attribute: Jenkins' xUnit schema, junit-10.xsd, refuses it; the path is in the texts)
    case = ET.Element("testcase", classname=clean(host), name=clean(guest or path), time="0")
    ordered = sorted(found, key=lambda f: severity_rank(f["severity"]))
    failing = [f for f in ordered if severity_rank(f["severity"]) <= fail_rank]
    below = [_details(f) for f in ordered if severity_rank(f["severity"]) > fail_rank]
    if failing:
        worst = failing[0]
        codes = ",".join(dict.fromkeys(f["code"] for f in failing))
        more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
        failure = ET.SubElement(
            case,
            "failure",
            type=clean(codes),
            message=clean(
                f"{len(failing)} finding(s): {worst['severity']} {worst['code']}: {worst['message']}{more}"
            ),
        )
        failure.text = "\n\n".join(_details(f) for f in failing)
    if below:
        ET.SubElement(case, "system-out").text = "\n\n".join(below)
    ET.indent(case, level=2)
    text: bytes = ET.tostring(case, encoding="utf-8")
    return (b"F" if failing else b".") + b"    " + text + b"\n"


@dataclass
class _Host:
    tests: int = 0
    failures: int = 0
    spans: list[tuple[int, int]] = field(default_factory=list)
    """(offset, length) of this host's test cases in the spool file."""


class Spool:
    """Test cases written batch by batch to one temporary file, indexed by host; each host's suite is
    put together from its pieces when the report is written (hosts sorted, as before)."""

    def __init__(self, *, fail_on: str = "high", **_run: object) -> None:
        self._fail_rank = severity_rank(fail_on) if fail_on != "none" else -1
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="virtaudit-")  # noqa: SIM115 - closed in finish()
        self._hosts: dict[str, _Host] = {}
        self._hosts_props: dict[str, dict[str, Any]] | None = None

    def add(self, findings: pl.DataFrame, guests: pl.DataFrame | None = None) -> None:
        import polars as pl

        by_guest: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for f in findings.iter_rows(named=True):
            by_guest.setdefault((f["host"], f["path"]), []).append(f)
        known = (
            guests.select("host", "path", "guest").unique(maintain_order=True)
            if guests is not None
            else findings.select("host", "path", "guest").clear()
        )
        # A finding whose guest is not in the guests table (a caller's own findings) still gets a test case.
        extra = (
            findings.select("host", "path", "guest")
            .unique(maintain_order=True)
            .join(known, on=["host", "path"], how="anti")
        )
        cases = pl.concat([known, extra]).sort("host", "path", maintain_order=True)
        for (host,), part in cases.partition_by("host", as_dict=True, maintain_order=True).items():
            entry = self._hosts.setdefault(host, _Host())
            start = self._file.tell()
            for _h, path, guest in part.iter_rows():
                xml = _case_xml(host, path, guest, by_guest.get((host, path), []), self._fail_rank)
                entry.tests += 1
                entry.failures += xml[:1] == b"F"
                self._file.write(xml[1:])
            entry.spans.append((start, self._file.tell() - start))

    def finish(self, report: AuditReport, stream: IO[bytes]) -> None:
        hosts = sorted(set(self._hosts) | set(report.errors["host"].to_list()))
        errors_by_host = {h: rows for (h,), rows in report.errors.partition_by("host", as_dict=True).items()}
        totals = {"tests": 0, "failures": 0, "errors": 0}
        stream_parts: list[tuple[bytes, str | None, bytes]] = []
        for host in hosts:
            entry = self._hosts.get(host, _Host())
            errors = errors_by_host.get(host, report.errors.clear())
            tests = entry.tests + errors.height
            for k, v in (("tests", tests), ("failures", entry.failures), ("errors", errors.height)):
                totals[k] += v
            stream_parts.append(self._suite(report, host, entry, errors, tests))
        stream.write(b"<?xml version='1.0' encoding='utf-8'?>\n")
        attrs = " ".join(f'{k}="{v}"' for k, v in totals.items())
        attrs += f' time="{report.options.get("elapsed_s", "0")}"'
        if not hosts:
            stream.write(f'<testsuites name="virtaudit" {attrs} />\n'.encode())
            return
        stream.write(f'<testsuites name="virtaudit" {attrs}>\n'.encode())
        for head, host, tail in stream_parts:
            stream.write(head)
            spans = self._hosts[host].spans if host in self._hosts else []
            for offset, length in spans:
                self._file.seek(offset)
                stream.write(self._file.read(length))
            stream.write(tail)
        stream.write(b"</testsuites>\n")
        self._file.close()

    def _verdicts(self, report: AuditReport) -> dict[str, dict[str, Any]]:
        """Each host's verdict, worst finding and facts, as its suite's properties."""
        if self._hosts_props is None:
            self._hosts_props = {
                h["host"]: {
                    "verdict": h["verdict"],
                    "guests": h["guests"],
                    "worst_finding": f"{h['worst_severity']} {h['worst_code']}"
                    if h["worst_severity"]
                    else "none",
                    "libvirt_version": h["libvirt_version"],
                    "qemu_version": h["qemu_version"],
                    "facts_source": h["facts_source"],
                    # (only where a baseline suppressed some: a report without one is unchanged)
                    "suppressed": h["suppressed"] or None,
                }
                for h in report.host_verdicts().iter_rows(named=True)
            }
        return self._hosts_props

    def _suite(
        self, report: AuditReport, host: str, entry: _Host, errors: pl.DataFrame, tests: int
    ) -> tuple[bytes, str | None, bytes]:
        """The suite's opening tag and properties, and its error cases and closing tag."""
        suite = ET.Element("testsuite", name=clean(host), hostname=clean(host))
        if report.generated:
            suite.set("timestamp", report.generated.removesuffix("Z"))
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="target_libvirt", value=report.target_libvirt or "newest")
        ET.SubElement(props, "property", name="fail_on", value=report.fail_on)
        for name, value in self._verdicts(report).get(host, {}).items():
            if value is not None:
                ET.SubElement(props, "property", name=name, value=clean(value))
        for err in errors.iter_rows(named=True):
            case = ET.SubElement(suite, "testcase", classname=clean(host), name=clean(err["path"]))
            error = ET.SubElement(case, "error", type=clean(err["kind"]), message=clean(err["message"]))
            error.text = clean(f"could not read {err['path']}: {err['kind']}: {err['message']}")
        for k, v in (("tests", tests), ("failures", entry.failures), ("errors", errors.height)):
            suite.set(k, str(v))
        suite.set("skipped", "0")
        suite.set("time", "0")
        for case in suite.iter("testcase"):
            case.set("time", "0")
        ET.indent(suite, level=1)
        text = ET.tostring(suite, encoding="utf-8")
        # Split after </properties>: the guests' cases go between the properties and the error cases.
        cut = text.index(b"</properties>") + len(b"</properties>")
        head, tail = text[:cut], text[cut:]
        if errors.height == 0:
            tail = b"\n  </testsuite>"
        return b"  " + head + b"\n", host, tail.lstrip(b"\n") + b"\n"


def render(report: AuditReport) -> bytes:
    buffer = io.BytesIO()
    write(report, buffer)
    return buffer.getvalue()


def write(report: AuditReport, stream: IO[bytes]) -> None:
    spool = Spool(fail_on=report.fail_on)
    spool.add(report.findings, report.guests)
    spool.finish(report, stream)
