"""The one path from inputs to batches to findings.

Every way into virtaudit goes through here: :func:`virtaudit.scan`, :func:`virtaudit.scan_batches`,
``virtaudit audit``, ``scan --out``, ``show`` and ``diff``. An input is a file, a directory (its
``*.xml``, recursively), a glob, an archive (:mod:`virtaudit.sources`) or a dataset written by
``virtaudit scan --out``; :class:`Pieces` turns a list of them into :class:`Piece` batches (plain files
through the core's batch scanner, then archives and datasets one at a time), and :func:`audit_pieces`
runs the rules on each batch as it arrives. Nothing here keeps more than a batch alive: what outlives a
batch (findings to write, counts) is the caller's choice (see :mod:`virtaudit.reports.stream`).

Imports go one way: inputs (:mod:`virtaudit.sources`, the core) -> scan (:mod:`virtaudit.scanning`) ->
this package -> reports -> the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from virtaudit.pipeline.collect import Audited, KeptRows, audit_pieces, each_audited, merge_facts
from virtaudit.pipeline.inputs import (
    DEFAULT_BATCH_FILES,
    InputProblem,
    Piece,
    Pieces,
    PlainScan,
    ScanOptions,
    detached,
    for_audit,
    limits_of,
    load_scan,
    scan,
    scan_batches,
)

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.auditing import PathInput
    from virtaudit.targets import ScanTables

__all__ = [
    "DEFAULT_BATCH_FILES",
    "Audited",
    "InputProblem",
    "KeptRows",
    "Piece",
    "Pieces",
    "PlainScan",
    "ScanOptions",
    "audit",
    "audit_pieces",
    "detached",
    "each_audited",
    "for_audit",
    "limits_of",
    "load_scan",
    "merge_facts",
    "scan",
    "scan_batches",
]


def audit(scan_or_paths: ScanTables | PathInput | Sequence[PathInput], **options: Any) -> pl.DataFrame:
    """:func:`virtaudit.auditing.audit` of a scan, or of paths read through the pipeline first (what
    :func:`scan` reads: files, directories, globs, archives, datasets). ``options``: those of
    :func:`virtaudit.auditing.audit` (``target_libvirt``, ``host_facts``, ``select``, ``ignore``).

    Given paths, the host facts that sosreports and datasets record (their package lists) apply as they do
    on the command line, ``host_facts`` winning for the hosts it names."""
    from os import PathLike

    from virtaudit.auditing import audit as audit_scan
    from virtaudit.auditing import load_host_facts
    from virtaudit.pipeline.collect import modelled_facts
    from virtaudit.pipeline.inputs import _options, _paths

    if isinstance(scan_or_paths, (str, PathLike, list, tuple)):
        paths = (scan_or_paths,) if isinstance(scan_or_paths, (str, PathLike)) else tuple(scan_or_paths)
        scan_options = _options(None, None, limits_of(None, None, None), batch_files=None)
        read, recorded = load_scan(_paths(paths), scan_options)
        if recorded is not None:
            given = options.get("host_facts")
            merged = merge_facts(recorded, None if given is None else load_host_facts(given))
            options = {**options, "host_facts": modelled_facts(merged)}
        return audit_scan(read, **options)
    return audit_scan(scan_or_paths, **options)
