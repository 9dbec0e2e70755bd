"""``--output-format junit``: JUnit XML for CI systems.

One ``<testsuite>`` per host, one ``<testcase>`` per guest (classname = host, name = guest). Each finding
at or above ``--fail-on`` is a ``<failure>`` of that test case (type = the rule code); findings below it
are listed in the test case's ``<system-out>``. Each input that could not be read is a test case with an
``<error>``, so a CI run never shows green over files it skipped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import IO, TYPE_CHECKING, Any

from virtaudit.reports import severity_rank

if TYPE_CHECKING:
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


def render(report: AuditReport) -> bytes:
    import polars as pl

    fail_rank = severity_rank(report.fail_on) if report.fail_on != "none" else -1
    by_guest: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in report.findings.iter_rows(named=True):
        by_guest.setdefault((f["host"], f["path"]), []).append(f)

    guests = report.guests.select("host", "path", "guest").unique(maintain_order=True)
    # A finding whose guest is not in the guests table (a caller's own findings) still gets a test case.
    extra = (
        report.findings.select("host", "path", "guest")
        .unique(maintain_order=True)
        .join(guests, on=["host", "path"], how="anti")
    )
    cases = pl.concat([guests, extra]).sort("host", "path", maintain_order=True)
    hosts = sorted(set(cases["host"].to_list()) | set(report.errors["host"].to_list()))

    root = ET.Element("testsuites", name="virtaudit")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for host in hosts:
        suite = ET.SubElement(root, "testsuite", name=clean(host), hostname=clean(host))
        if report.generated:
            suite.set("timestamp", report.generated.removesuffix("Z"))
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="target_libvirt", value=report.target_libvirt or "newest")
        ET.SubElement(props, "property", name="fail_on", value=report.fail_on)
        tests = failures = errors = 0
        for _h, path, guest in cases.filter(pl.col("host") == host).iter_rows():
            tests += 1
            case = ET.SubElement(
                suite, "testcase", classname=clean(host), name=clean(guest or path), file=clean(path)
            )
            found = sorted(by_guest.get((host, path), []), key=lambda f: severity_rank(f["severity"]))
            below = []
            failed = False
            for f in found:
                if severity_rank(f["severity"]) <= fail_rank:
                    failed = True
                    failure = ET.SubElement(
                        case,
                        "failure",
                        type=clean(f["code"]),
                        message=clean(f"{f['severity']}: {f['message']}"),
                    )
                    failure.text = _details(f)
                else:
                    below.append(_details(f))
            failures += failed
            if below:
                ET.SubElement(case, "system-out").text = "\n\n".join(below)
        for err in report.errors.filter(pl.col("host") == host).iter_rows(named=True):
            tests += 1
            errors += 1
            case = ET.SubElement(
                suite, "testcase", classname=clean(host), name=clean(err["path"]), file=clean(err["path"])
            )
            error = ET.SubElement(case, "error", type=clean(err["kind"]), message=clean(err["message"]))
            error.text = clean(f"could not read {err['path']}: {err['kind']}: {err['message']}")
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", "0")
        suite.set("time", "0")
        for k, v in (("tests", tests), ("failures", failures), ("errors", errors)):
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", "0")
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def write(report: AuditReport, stream: IO[bytes]) -> None:
    stream.write(render(report))
