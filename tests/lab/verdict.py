"""How the lab compares virtaudit's verdict with what libvirt did (used by the tests and the table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scenarios import BROKEN_NOW, HAZARDS

HIGH = frozenset({"high", "critical"})


def high_codes(findings: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({f["code"] for f in findings if f["severity"] in HIGH})


def disagreement(code: str | None, before: str, after: str, findings: Sequence[dict[str, Any]]) -> str | None:
    """None when virtaudit agrees with libvirt's outcome, else what is wrong, in one line.

    Agreement: a finding at high or above exactly when the operation fails (or the guest is lost) after
    the restart; with `code` among them when given; and, when the operation already failed before the
    restart, one such finding whose message says it is broken now.
    """
    high = [f for f in findings if f["severity"] in HIGH]
    codes = high_codes(findings)
    if after not in HAZARDS:
        if high:
            return f"libvirt {before}/{after} after the restart, but virtaudit reports {codes} (false alarm)"
        return None
    if not high:
        return f"libvirt {before}/{after} after the restart, but virtaudit reports nothing at high or above"
    if code is not None and code not in codes:
        return f"libvirt {before}/{after}: expected {code} at high or above, virtaudit reports {codes}"
    if before in HAZARDS:
        relevant = [f for f in high if code is None or f["code"] == code]
        if not any(BROKEN_NOW.search(f["message"]) for f in relevant):
            return (
                f"libvirt fails before the restart already, but no {code or 'high'} finding says so "
                f"(pattern {BROKEN_NOW.pattern!r})"
            )
    return None


# Codes whose findings are about the reconnect itself (the guest lost or killed at the restart): the RST
# rules, and CAP001 (a status file with a flag the target does not know fails to load).
RECONNECT_CODES: frozenset[str] = frozenset({"CAP001"})


def is_reconnect(code: str) -> bool:
    return code.startswith("RST") or code in RECONNECT_CODES


def upgrade_disagreement(
    before: str, after: str, findings: Sequence[dict[str, Any]], code: str | None = None
) -> str | None:
    """As `disagreement` (with `code` where given), but a guest lost at reconnect needs a reconnect one."""
    d = disagreement(code, before, after, findings)
    codes = high_codes(findings)
    if d is None and after == "lost" and not any(is_reconnect(c) for c in codes):
        d = f"the guest is lost at reconnect, but virtaudit's high findings {codes} are about hotplug"
    return d
