"""``virtaudit audit --write-baseline FILE``: the run's findings as a baseline (:mod:`virtaudit.baseline`).

Each batch's findings are reduced to their keys (host, code, guest key) and spooled to a temporary Arrow
file as they come; the entries are put together once the run is over, sorted by host, guest and code so
that a re-written file differs from the last one only where the fleet did.

Re-writing a baseline keeps what people wrote: an entry that still matches a finding keeps its reason and
expiry. An entry that matched nothing is dropped, unless the run could not judge it: its host had an input
that could not be read, or its rule did not run (``--select``/``--ignore``); those are kept as they were.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from virtaudit.baseline import Baseline, Entry, baseline_toml, key_columns
from virtaudit.schema import SEVERITIES, severity_rank

if TYPE_CHECKING:
    import polars as pl

__all__ = ["BaselineWriter", "WriteStats", "write_atomically"]


@dataclass
class WriteStats:
    """What a written baseline holds, for the line on stderr."""

    entries: int = 0
    carried: int = 0
    """Entries of the previous file that still match, with their reason and expiry."""
    new: int = 0
    dropped: int = 0
    """Entries of the previous file that matched no finding (stale), left out."""
    unjudged: int = 0
    """Entries of the previous file the run could not judge, kept as they were."""


@dataclass
class BaselineWriter:
    """The findings of a run, spooled by key, and the baseline they make."""

    path: Path
    min_severity: str | None = None
    previous: Baseline | None = None
    reason: str = ""
    _dir: tempfile.TemporaryDirectory[str] | None = None
    _parts: list[Path] = field(default_factory=list)

    def add(self, findings: pl.DataFrame) -> None:
        """One batch's findings: all of them, suppressed or not, before ``--min-severity``."""
        import polars as pl

        if findings.height == 0:
            return
        keys = findings.select(
            pl.col("host").cast(pl.String),
            pl.col("code").cast(pl.String),
            pl.col("guest").cast(pl.String),
            pl.col("rule").cast(pl.String),
            pl.col("severity").cast(pl.String),
            *key_columns(),
        ).unique()
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="virtaudit-")
        part = Path(self._dir.name) / f"{len(self._parts):08d}.arrow"
        keys.write_ipc(part)
        self._parts.append(part)

    def _found(self) -> pl.DataFrame:
        """One row per (host, code, key kind, key): a guest name, the rule and the worst severity rank."""
        import polars as pl

        schema = dict.fromkeys(("host", "code", "guest", "rule", "severity", "_kind", "_key"), pl.String)
        frames = [pl.DataFrame(schema=schema).lazy(), *(pl.scan_ipc(p) for p in self._parts)]
        rank = pl.col("severity").replace_strict(
            {s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES), return_dtype=pl.Int32
        )
        return (
            pl.concat(frames, how="vertical_relaxed")
            .group_by("host", "code", "_kind", "_key")
            .agg(pl.col("guest").drop_nulls().first(), pl.col("rule").first(), rank.min().alias("_rank"))
            .collect()
        )

    def entries(self, *, unreadable_hosts: set[str], codes_run: set[str]) -> tuple[list[Entry], WriteStats]:
        """The entries to write, and their counts."""
        shown = severity_rank(self.min_severity) if self.min_severity else len(SEVERITIES) - 1
        old = {(e.host, e.code, e.kind, e.key): e for e in (self.previous.entries if self.previous else [])}
        stats = WriteStats()
        matched: set[int] = set()
        out: list[Entry] = []
        for host, code, kind, key, guest, rule, rank in self._found().iter_rows():
            prev = old.get((host, code, kind, key))
            if prev is not None:
                matched.add(prev.index)
            elif rank > shown:
                continue  # (below --min-severity: not shown, so not accepted either)
            stats.carried += prev is not None
            stats.new += prev is None
            out.append(
                Entry(
                    index=0,
                    line=None,
                    host=host,
                    code=code,
                    kind=kind,
                    key=key,
                    guest=key if kind == "guest" else guest if kind == "uuid" else None,
                    # (--reason fills the reasons nobody wrote yet, and never replaces one)
                    reason=prev.reason if prev is not None and prev.reason.strip() else self.reason,
                    expires=prev.expires if prev is not None else None,
                    severity=SEVERITIES[rank] if rank < len(SEVERITIES) else None,
                    rule=rule,
                )
            )
        for e in old.values():
            if e.index in matched:
                continue
            if e.host in unreadable_hosts or e.code not in codes_run:
                stats.unjudged += 1
                out.append(e)
            else:
                stats.dropped += 1
        out.sort(key=lambda e: (e.host, e.guest or e.key, e.key, e.code))
        stats.entries = len(out)
        return out, stats

    def write(self, *, unreadable_hosts: set[str], codes_run: set[str]) -> WriteStats:
        """Write the file (atomically: a reader never sees half of it) and remove the spool."""
        try:
            entries, stats = self.entries(unreadable_hosts=unreadable_hosts, codes_run=codes_run)
            write_atomically(self.path, baseline_toml(entries))
        finally:
            if self._dir is not None:
                self._dir.cleanup()
                self._dir = None
        return stats


def write_atomically(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file beside it, renamed into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
