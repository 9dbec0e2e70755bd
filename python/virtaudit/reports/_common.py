"""Pieces shared by the report formats."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.reports import AuditReport

FINDINGS_SCHEMA_VERSION: Final = 1
"""Version of docs/findings.schema.json (JSON, JSONL); fields are only added within a version."""

DISPLAY_LIMIT: Final = 1000
"""Characters of one value shown on a terminal (the machine formats keep values whole)."""
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(value: object, limit: int = DISPLAY_LIMIT) -> str:
    """``value`` for a terminal: C0 and C1 control characters (ESC, OSC, BEL, CR, ...) escaped as
    ``\\xNN``, so that no byte of an input can move the cursor, retitle the window or hide text, and cut
    to ``limit`` characters, so that an absurd value costs no more than a long one."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text)} characters)"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


HOST_CODE: Final = "HOST"
"""The code of the per-host verdict rows in CSV and Parquet (rule: the verdict; severity: empty)."""

INPUT_CODE: Final = "INPUT"
"""The code under which unreadable inputs appear in formats that have only finding rows (CSV, Parquet)."""


def header(report: AuditReport) -> dict[str, Any]:
    """Run metadata common to the JSON formats."""
    return {
        "schema_version": FINDINGS_SCHEMA_VERSION,
        "tool": {"name": "virtaudit", "version": report.version},
        "generated": report.generated,
        "target_libvirt": report.target_libvirt,
        "fail_on": report.fail_on,
        "min_severity": report.min_severity,
        "exit_code": report.exit_code,
        "judged_against": report.judged_against(),
        "summary": report.counts(),
        "baseline": report.baseline,
    }


def host_rows(report: AuditReport, kind: str | None = None) -> list[str]:
    """One compact JSON object per host: its verdict, counts, worst finding and facts."""
    return ndjson_rows(report.host_verdicts(), kind)


def ndjson_rows(df: pl.DataFrame, kind: str | None = None) -> list[str]:
    """Rows as compact JSON objects (polars' writer: fast, and escapes control characters)."""
    import polars as pl

    if df.height == 0:
        return []
    if kind is not None:
        df = df.select(pl.lit(kind).alias("type"), pl.all())
    return df.write_ndjson().splitlines()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def findings_with_errors(report: AuditReport) -> pl.DataFrame:
    """Findings, then one row per unreadable input (code ``INPUT``, severity ``error``, rule = the
    error kind), for the formats that hold rows of one shape only."""
    import polars as pl

    if report.errors.height == 0:
        return report.findings
    return pl.concat([report.findings, error_rows(report)], how="vertical_relaxed")


def error_rows(report: AuditReport) -> pl.DataFrame:
    """One findings-shaped row per unreadable input (see :func:`findings_with_errors`)."""
    import polars as pl

    from virtaudit.reports import FINDINGS_COLUMNS, empty_findings

    if report.errors.height == 0:
        return empty_findings()
    return report.errors.select(
        pl.col("host").cast(pl.String),
        pl.col("path").cast(pl.String),
        pl.lit(None, pl.String).alias("guest"),
        pl.lit(None, pl.String).alias("uuid"),
        pl.lit(INPUT_CODE).alias("code"),
        pl.col("kind").cast(pl.String).alias("rule"),
        pl.lit("error").alias("severity"),
        pl.col("message").cast(pl.String),
        *[pl.lit(None, pl.String).alias(c) for c in FINDINGS_COLUMNS[8:12]],
        pl.lit(report.target_libvirt or "newest").alias("libvirt_version"),
        pl.lit(None, pl.String).alias("qemu_version"),
    )


def machine_family(machine: pl.Expr) -> pl.Expr:
    """``pc-i440fx-6.2`` -> ``pc-i440fx``, ``pseries-rhel8.6.0`` -> ``pseries``, ``virt-10.1`` -> ``virt``."""
    return machine.str.replace(r"-(?:rhel)?\d[\w.\-]*$", "")


def verdict_rows(report: AuditReport) -> pl.DataFrame:
    """One findings-shaped row per host (code ``HOST``, the verdict as ``rule``, no severity, the verdict
    in a sentence as ``message``), for the formats that hold rows of one shape only."""
    import polars as pl

    from virtaudit.reports import FINDINGS_COLUMNS
    from virtaudit.reports.hosts import verdict_line

    hosts = report.host_verdicts()
    target = report.target_libvirt or "newest"
    rows = [
        {
            "host": h["host"],
            "path": "",
            "code": HOST_CODE,
            "rule": h["verdict"],
            "message": verdict_line(h, report.fail_on),
            "libvirt_version": h["libvirt_version"] or target,
            "qemu_version": h["qemu_version"],
        }
        for h in hosts.iter_rows(named=True)
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            c: pl.String
            for c in FINDINGS_COLUMNS
            if c in ("host", "path", "code", "rule", "message", "libvirt_version", "qemu_version")
        },
    )
    return frame.select(
        pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in FINDINGS_COLUMNS
    )
