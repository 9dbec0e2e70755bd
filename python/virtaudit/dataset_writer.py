"""``scan --out DIR``: a run's hosts replace their old data whole, or not at all.

Every batch is written beside the dataset first, into a staging directory inside it
(``DIR/.staging-ID/TABLE/host=NAME/part-N.parquet``); nothing of the dataset changes while the scan runs,
and a run that fails leaves it as it was (the staging directory is removed). At the end each host of the
run is swapped in, table by table, by renames within one file system: its old partition directories are
moved aside and the new ones moved into place, then the old ones deleted. A host the run covers but found
nothing for (``scan --out`` of an empty ``/run/libvirt/qemu``) gets empty partitions: zero guests
afterwards, not the old ones.

The marker file records, per host, when it was scanned, by which virtaudit version, and from which input
(``files``, or the archive, sosreport or dataset's path). A host whose recorded input differs from this
run's is not replaced unless ``replace`` (``scan --out --replace-hosts``): another input claiming a host
name must not take its data over silently.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from virtaudit.datasets import DATASET_META, DATASET_TABLES, _meta_hosts, host_info, partition, write_dataset

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.scanning import Scan

__all__ = ["StagedDataset", "host_info"]


class StagedDataset:
    """One run of ``scan --out``: batches staged, then swapped in host by host (:meth:`commit`)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.staging = out / f".staging-{uuid.uuid4().hex[:12]}"
        self.staging.mkdir()
        self.part = 0
        self.fresh: set[str] = set()
        self.sources: dict[str, str] = {}

    def write(
        self,
        scan: Scan,
        *,
        findings: pl.DataFrame,
        facts: pl.DataFrame,
        source: str,
        extra_hosts: Iterable[str] = (),
    ) -> None:
        hosts = write_dataset(
            self.staging,
            scan,
            findings=findings,
            facts=facts,
            part=self.part,
            fresh_hosts=self.fresh,
            extra_hosts=extra_hosts,
        )
        self.part += 1
        for host in hosts:
            self.sources.setdefault(host, source)

    def commit(self, *, replace: bool, version: str) -> tuple[list[str], list[tuple[str, str, str]]]:
        """Swap the staged hosts in: (hosts replaced, [(host, recorded input, this run's input)] refused)."""
        old = host_info(self.out)
        scanned = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        done: list[str] = []
        refused: list[tuple[str, str, str]] = []
        trash = self.out / f".old-{self.staging.name.removeprefix('.staging-')}"
        for host in sorted(self.sources):
            before = old.get(host, {}).get("source")
            if isinstance(before, str) and before != self.sources[host] and not replace:
                refused.append((host, before, self.sources[host]))
                continue
            for table in DATASET_TABLES:
                self._swap(table, host, trash)
            old[host] = {"scanned": scanned, "virtaudit": version, "source": self.sources[host]}
            done.append(host)
        self._write_meta(old, version)
        shutil.rmtree(trash, ignore_errors=True)
        self.discard()
        return done, refused

    def _swap(self, table: str, host: str, trash: Path) -> None:
        target = self.out / table / partition(host)
        new = self.staging / table / partition(host)
        if target.exists():
            aside = trash / table / partition(host)
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.rename(target, aside)
        if new.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(new, target)

    def _write_meta(self, info: dict[str, dict[str, Any]], version: str) -> None:
        from virtaudit import SCHEMA_VERSION

        meta = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "virtaudit", "version": version},
            "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tables": list(DATASET_TABLES),
            "hosts": sorted(set(info) | _meta_hosts(self.out)),
            "host_info": {h: info[h] for h in sorted(info)},
            "layout": "TABLE/host=NAME/part-N.parquet (hive partitioning; host values percent-encoded)",
        }
        tmp = self.out / f".{DATASET_META}.tmp"
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, self.out / DATASET_META)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
