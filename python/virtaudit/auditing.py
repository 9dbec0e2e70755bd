"""``audit()``: run the rule catalog over scan tables, for a target libvirt release and host facts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from os import PathLike
from typing import TYPE_CHECKING, Final, TypeAlias, cast

import polars as pl

from virtaudit.catalog import CATALOG, select_codes
from virtaudit.rules.engine import Context, caps_flags_used, caps_ignorable, run
from virtaudit.schema import SEVERITIES
from virtaudit.targets import HostFacts, ScanTables, document_targets, load_host_facts, target_columns
from virtaudit.versions import LibvirtVersion, libvirt_key

if TYPE_CHECKING:
    from virtaudit.scanning import Scan

__all__ = [
    "AUDIT_COLUMNS",
    "AUDIT_SCHEMA",
    "HostFacts",
    "audit",
    "audit_target_keys",
    "document_targets",
    "load_host_facts",
    "select_codes",
]

AUDIT_SCHEMA: Final[Mapping[str, pl.DataType]] = {
    "host": pl.String(),
    "path": pl.String(),
    "guest": pl.String(),
    "uuid": pl.String(),
    "code": pl.String(),
    "rule": pl.String(),
    "severity": pl.String(),
    "message": pl.String(),
    "element": pl.String(),
    "alias": pl.String(),
    "recorded_bus": pl.String(),
    "expected_bus": pl.String(),
    "libvirt_version": pl.String(),
    "qemu_version": pl.String(),
}
AUDIT_COLUMNS: Final = tuple(AUDIT_SCHEMA)
"""The output columns of :func:`audit`, in order (a contract for the CLI)."""

PathInput: TypeAlias = "str | PathLike[str]"

# ---------------------------------------------------------------------------------------------------
# audit


def _as_scan(scan_or_paths: ScanTables | Scan | PathInput | Sequence[PathInput]) -> ScanTables:
    if isinstance(scan_or_paths, (str, PathLike, list, tuple)):
        # Reading inputs is the pipeline's job, above this module: virtaudit.audit takes paths.
        raise TypeError("auditing.audit takes a Scan; virtaudit.audit (virtaudit.pipeline.audit) takes paths")
    return cast(ScanTables, scan_or_paths)


def audit_target_keys(target_libvirt: str | LibvirtVersion | None, *host_facts: HostFacts) -> tuple[int, ...]:
    """Every libvirt key an audit with these arguments can judge a document for: ``target_libvirt`` (the
    newest when None) and each host's own version in ``host_facts`` (several: the command line's and a
    source's own). What :func:`virtaudit.rules.engine.trim_caps` needs before the batch's findings."""
    keys = {libvirt_key(target_libvirt)}
    for facts in host_facts:
        frame = load_host_facts(facts)
        if not frame.is_empty():
            keys.update(frame.get_column("libvirt_key").drop_nulls().to_list())
    return tuple(sorted(keys))


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=AUDIT_SCHEMA)


def audit(
    scan_or_paths: ScanTables | Scan | PathInput | Sequence[PathInput],
    *,
    target_libvirt: str | LibvirtVersion | None = None,
    host_facts: HostFacts = None,
    select: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
) -> pl.DataFrame:
    """Findings of the rule catalog, one row per finding, columns :data:`AUDIT_COLUMNS`.

    ``scan_or_paths``: a :class:`virtaudit.Scan`, or paths to scan. ``target_libvirt``: the libvirt
    release that will read the files (None: the newest behaviour). ``host_facts``: per-host
    ``libvirt_version``/``qemu_version`` (DataFrame, CSV/JSON file or records); a host's own libvirt
    version overrides ``target_libvirt``, and its QEMU version lets QEMU-dependent rules decide.
    ``select``/``ignore``: rule codes or families. Sorted by severity (critical first), host, path, code.
    """
    codes = select_codes(select, ignore)
    scan = _as_scan(scan_or_paths)
    targets = target_columns(scan.domains, target_libvirt, host_facts)
    domains = pl.concat([scan.domains, targets], how="horizontal")
    ctx = Context.build(
        domains, scan.devices, scan.caps, scan.live_aliases, caps_flags_used(), caps_ignorable
    )
    found = run(ctx, codes)
    if found.is_empty():
        return empty_findings()
    return _report_rows(found, domains)


def _report_rows(found: pl.DataFrame, domains: pl.DataFrame) -> pl.DataFrame:
    """Findings of :func:`virtaudit.rules.engine.run` (by ``doc``, the row of ``domains``) with their document
    and rule columns, sorted, as :data:`AUDIT_SCHEMA`."""
    # (gathered inside the one query below: a Series' own gather is a query of its own)
    document = [
        pl.lit(domains.get_column(column)).gather(pl.col("doc")).alias(name)
        for column, name in (
            ("path", "path"),
            ("host", "host"),
            ("name", "guest"),
            ("uuid", "uuid"),
            ("libvirt_version", "libvirt_version"),
            ("qemu_version", "qemu_version"),
        )
    ]
    # One lazy query, collected once: each eager step would be a query of its own, and with a few
    # findings per batch what these steps cost is mostly that per-query overhead.
    out = (
        found.lazy()
        .with_columns(document)
        .join(_rule_names().lazy(), on="code", how="left", maintain_order="left")
        .with_columns(_severity_rank().alias("_rank"))
        .sort("_rank", "host", "path", "code", maintain_order=True)
        .select(_report_columns())
    )
    return out.collect(engine="in-memory")


@cache
def _rule_names() -> pl.DataFrame:
    """(code, rule) of the catalog; built once (the catalog never changes)."""
    return pl.DataFrame({"code": list(CATALOG), "rule": [rule.name for rule in CATALOG.values()]})


@cache
def _severity_rank() -> pl.Expr:
    return pl.col("severity").replace_strict(
        list(SEVERITIES), list(range(len(SEVERITIES))), return_dtype=pl.Int8
    )


@cache
def _report_columns() -> tuple[pl.Expr, ...]:
    return tuple(pl.col(name).cast(dtype) for name, dtype in AUDIT_SCHEMA.items())
