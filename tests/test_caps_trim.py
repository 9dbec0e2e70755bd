"""rules.engine.trim_caps: the caps rows a batch keeps for its targets (what the CLI can hold instead of the
whole table) give the same findings as the whole table, and are far fewer."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import polars as pl
import pytest
import virtaudit
from virtaudit.auditing import audit, audit_target_keys
from virtaudit.rules.engine import trim_caps

ROOT = Path(__file__).resolve().parent
SOURCES = (ROOT / "fixtures" / "rules", ROOT / "lab" / "recorded", ROOT.parent / "examples" / "fleet")


@cache
def whole() -> virtaudit.Scan:
    scan = virtaudit.scan(*SOURCES)
    assert scan.errors.is_empty(), scan.errors
    return scan


def trimmed(scan: virtaudit.Scan, keys: tuple[int, ...]) -> virtaudit.Scan:
    return dataclasses.replace(scan, caps=trim_caps(scan.caps, keys))


# The share of the caps rows kept at most: an old target keeps every flag it does not know (CAP001).
@pytest.mark.parametrize(
    ("target", "share"),
    [
        ("3.0.0", 0.6),
        ("7.7.0", 0.4),
        ("8.4.0", 0.4),
        ("9.0.0", 0.33),
        ("10.0.0", 0.33),
        ("11.3.0", 0.33),
        (None, 0.33),
    ],
)
def test_same_findings_with_the_trimmed_caps(target: str | None, share: float) -> None:
    scan = whole()
    small = trimmed(scan, audit_target_keys(target))
    assert small.caps.height < scan.caps.height * share, (small.caps.height, scan.caps.height)
    assert audit(small, target_libvirt=target).equals(audit(scan, target_libvirt=target))


def test_host_facts_add_their_targets() -> None:
    scan = whole()
    facts = pl.DataFrame({"host": ["lab", "hv-x86-01"], "libvirt_version": ["9.0.0", "7.9.0"]})
    keys = audit_target_keys("11.3.0", facts)
    assert len(keys) == 3
    small = trimmed(scan, keys)
    assert audit(small, target_libvirt="11.3.0", host_facts=facts).equals(
        audit(scan, target_libvirt="11.3.0", host_facts=facts)
    )


def test_unknown_flags_are_kept() -> None:
    """CAP001's evidence: a name no table has stays, whatever the target."""
    scan = whole()
    for target in ("9.0.0", None):
        flags = set(trim_caps(scan.caps, audit_target_keys(target))["flag"])
        assert {"vlab-future-flag", "kqemu", "blockdev", "secret"} <= flags


def test_trimmed_strings_do_not_share_the_batch_buffers() -> None:
    small = trim_caps(whole().caps, audit_target_keys(None))
    assert small.schema == whole().caps.schema
    assert small.height and small.estimated_size() < whole().caps.estimated_size() / 3


@pytest.mark.parametrize(
    ("target", "facts"),
    [
        (None, None),
        ("9.0.0", None),
        ("11.3.0", pl.DataFrame({"host": ["lab", "hv-x86-01"], "libvirt_version": ["9.0.0", "7.9.0"]})),
    ],
)
def test_an_audits_scan_gets_the_trimmed_caps_from_the_core(
    target: str | None, facts: pl.DataFrame | None
) -> None:
    """The audit's own scan (`Pieces` with the audit's targets): the core builds only the caps rows that
    trim_caps keeps, so the rules see the same rows and give the same findings as on the whole table."""
    from virtaudit.pipeline.inputs import Pieces, ScanOptions, limits_of

    options = ScanOptions(
        None,
        None,
        limits_of(None, None, None),
        None,
        quiet=True,
        audit_only=True,
        audit_targets=(target, facts),
    )
    pieces = [piece.scan for piece in Pieces([str(p) for p in SOURCES], options)]
    assert len(pieces) == 1
    scan = pieces[0]
    keys = audit_target_keys(target, facts)
    expected = trim_caps(whole().caps, keys)
    assert scan.caps.height == expected.height < whole().caps.height / 2
    assert sorted(scan.caps["flag"].to_list()) == sorted(expected["flag"].to_list())
    assert scan.domains["caps_count"].sum() == whole().domains["caps_count"].sum()
    assert audit(scan, target_libvirt=target, host_facts=facts).equals(
        audit(whole(), target_libvirt=target, host_facts=facts)
    )
