"""The shapes every layer agrees on, in one place: severities and their order, the findings columns, the
colours of the severities, and the type of a rule's catalog entry.

Imports nothing (not polars, nothing of virtaudit), so that the command line can read it before polars is
loaded, and so that every module can import it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ALL_CAPS_FLAGS",
    "FAMILIES",
    "FINDINGS_COLUMNS",
    "RULE_FINDING_COLUMNS",
    "SEVERITIES",
    "SEVERITY_COLORS",
    "SEVERITY_STYLES",
    "Rule",
    "Scope",
    "severity_rank",
]

SEVERITIES: Final = ("critical", "high", "medium", "low", "info")
"""Severities, most severe first. critical: guest lost or killed at the restart; high: hotplug or
unplug fails after the restart; medium: may fail, or an ABI/migration risk; low/info: hygiene."""


def severity_rank(severity: str) -> int:
    """0 for critical ... 4 for info; one past the last for a value that is no severity (sorts last)."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return len(SEVERITIES)


FINDINGS_COLUMNS: Final = (
    "host",
    "path",
    "guest",
    "uuid",
    "code",
    "rule",
    "severity",
    "message",
    "element",
    "alias",
    "recorded_bus",
    "expected_bus",
    "libvirt_version",
    "qemu_version",
)
"""The findings contract: these columns, in this order (all strings; only host, path, code, rule,
severity, message and libvirt_version are never null)."""

RULE_FINDING_COLUMNS: Final = (
    "doc",
    "code",
    "severity",
    "message",
    "element",
    "alias",
    "recorded_bus",
    "expected_bus",
)
"""What a rule's query gives per finding, before the document's columns are added (``doc`` is the row of
the batch's domains table)."""

SEVERITY_STYLES: Final = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
"""rich styles of the severities in terminal output."""

SEVERITY_COLORS: Final = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#f59e0b",
    "low": "#3b82f6",
    "info": "#94a3b8",
    "clean": "#16a34a",
}
"""CSS colours of the severities (and of guests without findings) in the HTML report."""

FAMILIES: Final[Mapping[str, str]] = {
    "PCI": "PCI bus names, controllers and addresses",
    "ALS": "device aliases",
    "RST": "state libvirt rebuilds from status XML at a restart",
    "CAP": "QEMU capability flags recorded in the status XML",
}
"""Rule families (the first three letters of a code), in the order the catalog lists them."""

ALL_CAPS_FLAGS: Final = "*"
"""In a rule's ``caps_flags``: the rule reads every capability flag of a status file (CAP001 judges each
one against the target's table), so an audit keeps the whole caps table."""

Scope = Literal["status", "any"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's catalog entry: what it finds, how severe, why it breaks, the evidence, the fix.

    ``message`` is the template of the one-sentence finding; its placeholders are filled per finding by
    the rule's query: ``{device}`` the device, ``{alias}`` its alias, ``{recorded_bus}`` the bus name
    recorded or derived from the status XML, ``{expected_bus}`` the bus name QEMU has or libvirt expects,
    ``{target}`` the libvirt release judged for, ``{detail}`` the rule-specific clause (described in
    ``severity_logic``). ``affected`` says which releases the evidence covers and where it is unknown.
    """

    code: str
    name: str
    scope: Scope  # "status": running guests only (status XML); "any": also domain XML definitions
    severities: tuple[str, ...]  # the severities the rule can emit
    severity_logic: str
    message: str
    why: str  # why it breaks (a paragraph)
    evidence: str  # libvirt commits (first release) and code that are the evidence
    affected: str  # affected target libvirt releases, what the evidence covers, "unknown" beyond
    remediation: str
    caps_flags: tuple[str, ...] = ()  # the QEMU capability flags the rule reads (the scan keeps only these)

    @property
    def family(self) -> str:
        return self.code[:3]
