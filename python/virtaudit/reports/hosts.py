"""Per-host verdicts: which hosts can be restarted now, and what each was judged against.

A host is

* ``unknown`` when some input of it could not be read (its guests are not all covered),
* else ``at-risk`` when one of its findings is at or above ``--fail-on``,
* else ``restart-safe``,

like nova-status's Success / Warning / Failure per check. :class:`HostBook` adds the counts up batch by
batch (a few numbers per host, never a row per guest), with the libvirt and QEMU versions each host was
judged with and where they came from (``--host-facts``, a sosreport's package list, a dataset).

The run's target is described by :func:`judged_against`: which release "newest" stands for, and a
warning when ``--target-libvirt`` is newer than anything the model knows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from virtaudit.reports import SEVERITIES, severity_rank

if TYPE_CHECKING:
    import polars as pl

VERDICTS: Final = ("at-risk", "unknown", "restart-safe")
"""The verdicts, in the order hosts are listed (the ones to look at first)."""

HOST_COLUMNS: Final = (
    "host",
    "verdict",
    "guests",
    "unreadable",
    "findings",
    "failing",
    "suppressed",
    "worst_severity",
    "worst_code",
    "libvirt_version",
    "qemu_version",
    "facts_source",
)
"""One row per host (docs/findings.schema.json ``#/$defs/host``)."""

NO_HOST: Final = "(no host)"
"""Where an unreadable input that names no host is counted (it still makes the run exit 3)."""


def newest_modelled() -> str:
    """The newest libvirt release the model was checked against: what "newest" means today."""
    from virtaudit.versions import NEWEST_MODELLED

    return NEWEST_MODELLED


def judged_against(target: str | None) -> dict[str, Any]:
    """The target of a run: ``release`` (the target as given, or "newest"), ``means`` (a sentence), and
    ``warning`` (None, or why the target is beyond the model)."""
    from virtaudit.versions import libvirt_key

    newest = newest_modelled()
    if target is None:
        means = (
            f"newest: the behaviour of libvirt {newest}, the newest release the model knows "
            "(later releases are assumed to behave alike)"
        )
        return {"release": "newest", "newest_modelled": newest, "means": means, "warning": None}
    warning = None
    major, minor = newest.split(".")[:2]
    if libvirt_key(target) >= libvirt_key(f"{major}.{int(minor) + 1}.0"):
        warning = (
            f"--target-libvirt {target} is newer than anything the model knows (libvirt {newest}): "
            f"it is judged as libvirt {newest} behaves"
        )
    means = f"libvirt {target} (--target-libvirt; a host's own version from its facts wins)"
    return {"release": target, "newest_modelled": newest, "means": means, "warning": warning}


def facts_origin(source_paths: tuple[str, ...]) -> str:
    """How a report names the facts a source recorded: a sosreport's package list or a dataset."""
    where = ", ".join(source_paths) or "?"
    if source_paths and all(os.path.isdir(p) for p in source_paths):
        return f"the dataset's recorded facts ({where})"
    return f"the archive's package list ({where})"


@dataclass
class _Host:
    guests: int = 0
    unreadable: int = 0
    findings: int = 0
    failing: int = 0
    suppressed: int = 0
    worst_rank: int = len(SEVERITIES)
    worst_code: str | None = None
    libvirt: str | None = None
    qemu: str | None = None
    source: str | None = None


@dataclass
class HostBook:
    """Per-host counts, added batch by batch (see the module docstring)."""

    fail_on: str = "high"
    hosts: dict[str, _Host] = field(default_factory=dict)

    def _host(self, name: str | None) -> _Host:
        return self.hosts.setdefault(name or NO_HOST, _Host())

    def add(self, domains: pl.DataFrame, findings: pl.DataFrame, errors: pl.DataFrame) -> None:
        """One batch: its ``domains`` and ``errors`` tables and every finding (before ``--min-severity``)."""
        import polars as pl

        for host, n in domains.group_by("host").len().iter_rows():
            self._host(host).guests += n
        for host, n in errors.group_by("host").len().iter_rows():
            self._host(host).unreadable += n
        if findings.height == 0:
            return
        fail_rank = severity_rank(self.fail_on) if self.fail_on != "none" else -1
        rank = pl.col("severity").replace_strict(
            {s: i for i, s in enumerate(SEVERITIES)}, default=len(SEVERITIES), return_dtype=pl.Int32
        )
        per_host = (
            findings.with_columns(rank.alias("_rank"))
            .sort("_rank", "code")
            .group_by("host", maintain_order=True)
            .agg(
                pl.len().alias("n"),
                (pl.col("_rank") <= fail_rank).sum().alias("failing"),
                pl.col("_rank").first().alias("worst"),
                pl.col("code").first().alias("code"),
            )
        )
        for host, n, failing, worst, code in per_host.iter_rows():
            entry = self._host(host)
            entry.findings += n
            entry.failing += failing
            if worst < entry.worst_rank or (worst == entry.worst_rank and str(code) < str(entry.worst_code)):
                entry.worst_rank, entry.worst_code = worst, code

    def add_suppressed(self, suppressed: pl.DataFrame) -> None:
        """Findings a baseline suppressed (counted, never part of the verdict)."""
        for host, n in suppressed.group_by("host").len().iter_rows():
            self._host(host).suppressed += n

    def add_facts(
        self,
        used: pl.DataFrame | None,
        recorded: pl.DataFrame | None,
        given: tuple[str, frozenset[str]] | None,
        recorded_from: str,
    ) -> None:
        """The facts a batch was judged with (``used``), and where they came from: ``given`` is the
        ``--host-facts`` file and its hosts (it wins), ``recorded_from`` names the source of ``recorded``
        (a sosreport's package list, a dataset's facts)."""
        if used is None or used.height == 0:
            return
        import polars as pl

        recorded_hosts = set() if recorded is None else set(recorded["host"].to_list())
        # Where the facts say they came from (a package list member, a --host-facts line) beats a guess
        # from the kind of input: an extracted sosreport is a directory, not a dataset.
        named = pl.col("facts_source") if "facts_source" in used.columns else pl.lit(None, pl.String)
        columns = used.select("host", "libvirt_version", "qemu_version", named.alias("facts_source"))
        for host, libvirt, qemu, source in columns.iter_rows():
            entry = self.hosts.get(host)
            if entry is None:
                continue  # (facts for a host this batch does not hold)
            entry.libvirt, entry.qemu = libvirt, qemu
            if source:
                entry.source = source
            elif given is not None and host in given[1]:
                entry.source = f"--host-facts {given[0]}"
                if host in recorded_hosts:
                    entry.source += f" (over {recorded_from})"
            elif host in recorded_hosts:
                entry.source = recorded_from

    def frame(self) -> pl.DataFrame:
        """One row per host (:data:`HOST_COLUMNS`): the hosts to look at first, then by name."""
        import polars as pl

        rows = []
        for name, h in self.hosts.items():
            verdict = "unknown" if h.unreadable else "at-risk" if h.failing else "restart-safe"
            worst = SEVERITIES[h.worst_rank] if h.worst_rank < len(SEVERITIES) else None
            rows.append(
                (
                    name,
                    verdict,
                    h.guests,
                    h.unreadable,
                    h.findings,
                    h.failing,
                    h.suppressed,
                    worst,
                    h.worst_code if worst else None,
                    h.libvirt,
                    h.qemu,
                    h.source,
                )
            )
        rows.sort(key=lambda r: (VERDICTS.index(str(r[1])), str(r[0])))
        counted = ("guests", "unreadable", "findings", "failing", "suppressed")
        schema: dict[str, Any] = {c: pl.UInt32 if c in counted else pl.String for c in HOST_COLUMNS}
        return pl.DataFrame(rows, schema=schema, orient="row")


def verdicts_of(
    findings: pl.DataFrame, guests: pl.DataFrame, errors: pl.DataFrame, fail_on: str
) -> pl.DataFrame:
    """:meth:`HostBook.frame` for a report made of whole frames (the Python API)."""
    import polars as pl

    book = HostBook(fail_on=fail_on)
    domains = guests.select("host") if "host" in guests.columns else pl.DataFrame(schema={"host": pl.String})
    book.add(domains, findings, errors)
    return book.frame()


def verdict_line(row: dict[str, Any], fail_on: str) -> str:
    """One host's verdict as a sentence (GitHub annotations, CSV rows, JUnit)."""
    parts = [f"{row['host']}: {row['verdict']}", f"{row['guests']} guest(s)"]
    if row["unreadable"]:
        parts.append(f"{row['unreadable']} unreadable input(s)")
    if row["worst_severity"]:
        parts.append(f"worst finding {row['worst_severity']} {row['worst_code']}")
    else:
        parts.append("no finding")
    if row["failing"]:
        parts.append(f"{row['failing']} at or above {fail_on}")
    if row.get("suppressed"):
        parts.append(f"{row['suppressed']} suppressed by the baseline")
    if row["libvirt_version"] or row["qemu_version"]:
        parts.append(
            f"judged with libvirt {row['libvirt_version'] or '(target)'}, QEMU {row['qemu_version'] or '?'} "
            f"from {row['facts_source']}"
        )
    return "; ".join(parts)
