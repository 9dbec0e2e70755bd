"""The reconnect rules of doc 6.5 and the lab's downgrade (RST009-RST014): severity by target release, on
the fixtures of tests/fixtures/rules (each with a near miss that no target reports)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import virtaudit
from virtaudit.auditing import audit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules"
TARGETS = (
    "7.9.0",
    "8.4.0",
    "8.5.0",
    "8.10.0",
    "9.0.0",
    "9.1.0",
    "9.8.0",
    "10.7.0",
    "10.8.0",
    "11.2.0",
    "11.3.0",
    None,
)


@cache
def severities(name: str, code: str) -> dict[str | None, str | None]:
    """Per target: the severity ``code`` reports for the fixture ``name`` (None: not reported)."""
    scan = virtaudit.scan(FIXTURES / name)
    assert scan.errors.is_empty(), scan.errors
    out: dict[str | None, str | None] = {}
    for target in TARGETS:
        found = audit(scan, target_libvirt=target, select=code)
        assert found.height <= 1, found
        out[target] = found["severity"][0] if found.height else None
    return out


def expect(**ranges: str | None) -> dict[str | None, str | None]:
    """Severities by target from keyword ranges: ``below_X`` / ``from_X`` with X as 9_1_0 (first match)."""
    out: dict[str | None, str | None] = {}
    for target in TARGETS:
        key = tuple(int(p) for p in (target or "9999.0.0").split("."))
        out[target] = None
        for name, severity in ranges.items():
            kind, _, version = name.partition("_")
            bound = tuple(int(p) for p in version.split("_"))
            if (kind == "below" and key < bound) or (kind == "from" and key >= bound):
                out[target] = severity
                break
    return out


CASES = {
    # 9.0.0 seen (lab), older inferred; 9.1.0-11.2.x unknown; known to 11.3.0
    ("rst009-itco-watchdog.xml", "RST009"): expect(below_9_1_0="critical", below_11_3_0="medium"),
    ("rst010-postcopy-failed.xml", "RST010"): expect(below_8_5_0="critical"),
    ("rst011-dbus-daemon.xml", "RST011"): expect(from_11_3_0="medium", from_10_8_0="info"),
    ("rst012-nbdkit-disk.xml", "RST012"): expect(from_9_8_0="info", below_9_8_0="medium"),
    ("rst013-tpm-emulator.xml", "RST013"): expect(below_9_0_0="medium"),
    ("rst014-volume-no-actualtype.xml", "RST014"): expect(from_7_10_0="medium", below_7_10_0="info"),
}
NEAR_MISSES = {
    "RST009": "rst009-i6300esb-watchdog.xml",
    "RST010": "rst010-perform3.xml",
    "RST011": "base-q35.xml",
    "RST012": "rst012-network-disk.xml",
    "RST013": "rst013-tpm-passthrough.xml",
    "RST014": "rst014-volume-actualtype.xml",
}


@pytest.mark.parametrize(("name", "code"), sorted(CASES))
def test_severity_by_target(name: str, code: str) -> None:
    assert severities(name, code) == CASES[name, code]


@pytest.mark.parametrize("code", sorted(NEAR_MISSES))
def test_near_miss_is_never_reported(code: str) -> None:
    assert set(severities(NEAR_MISSES[code], code).values()) == {None}


def test_messages_say_what_is_unknown() -> None:
    scan = virtaudit.scan(FIXTURES / "rst009-itco-watchdog.xml")
    critical = audit(scan, target_libvirt="9.0.0", select="RST009")["message"][0]
    assert "libvirt 9.0.0 does not know that model" in critical
    unknown = audit(scan, target_libvirt="10.0.0", select="RST009")["message"][0]
    assert "is unknown" in unknown


def test_lab_downgrade_itco_guest_is_critical_for_9_0_0() -> None:
    """The lab's q35 guest started under 11.3.0 and lost after the downgrade to 9.0.0 (docs/lab.md)."""
    lab = Path(__file__).resolve().parent / "lab" / "recorded" / "11.3.0-to-9.0.0" / "lab"
    found = audit(virtaudit.scan(lab), target_libvirt="9.0.0", select="RST009")
    assert found.select("guest", "severity").rows() == [("vlab-up-q35-port", "critical")]
    # the 11.3.0 restart recording: the same watchdog, reloaded by 11.3.0 itself, and every guest reconnected
    restart = Path(__file__).resolve().parent / "lab" / "recorded" / "restart-11.3.0" / "lab"
    new_rules = sorted(code for _, code in CASES)
    assert audit(virtaudit.scan(restart), target_libvirt="11.3.0", select=new_rules).is_empty()
