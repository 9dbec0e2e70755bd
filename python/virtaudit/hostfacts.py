"""``--host-facts FILE``: read and checked line by line, nothing silently ignored.

A CSV file needs its header (``host`` and at least one of ``libvirt_version``, ``qemu_version``); a
column of another name, a row of another width, an empty host, a version that does not parse: each is a
:class:`FactsProblem` naming the line and column. A host given twice is a warning naming both lines
(the later line wins, as before). JSON (a list of records, or ``{"HOST": {...}}``, optionally under
``"hosts"``) is checked the same way, naming the record. No message quotes a value from the file: a
facts file written by hand may hold anything, so the line and column are named instead.

Each host's facts record where they came from, ``facts_source`` = ``--host-facts FILE:LINE`` (a JSON
record: ``FILE#RECORD``), so that reports can state it; :func:`unseen_hosts` names the lines of hosts
that the scan never saw.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import polars as pl

__all__ = ["COLUMNS", "FactsProblem", "HostFactsFile", "read_host_facts"]

COLUMNS: Final = ("host", "libvirt_version", "qemu_version")
MAX_BYTES: Final = 64 * 1024 * 1024
MAX_PROBLEMS: Final = 20
"""Problems listed at most (the count of the rest is given)."""


class FactsProblem(ValueError):
    """The file cannot be used: every problem found, each naming its line and column."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more" if more else ""))
        self.problems = problems


@dataclass
class HostFactsFile:
    """The facts of one file: rows, where each host was given, and the warnings to show."""

    path: Path
    rows: list[tuple[str, str | None, str | None, str]] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)
    """host -> its place in the file (``line 3``, ``record 2``): the last one given."""
    warnings: list[str] = field(default_factory=list)

    def frame(self) -> pl.DataFrame:
        """host, libvirt_version, qemu_version, facts_source (one row per host, the last one given)."""
        import polars as pl

        last = {row[0]: row for row in self.rows}
        return pl.DataFrame(
            list(last.values()),
            schema={c: pl.String for c in (*COLUMNS, "facts_source")},
            orient="row",
        )

    def unseen_hosts(self, seen: Iterable[str]) -> list[str]:
        """A warning for each host of the file that no input had (named by its place, not its name)."""
        missing = sorted(set(self.where) - set(seen), key=lambda h: _order(self.where[h]))
        return [
            f"--host-facts {self.path}, {self.where[h]}: no input had this host; its facts were not used"
            for h in missing
        ]


def _order(where: str) -> int:
    return int(where.split()[-1])


def read_host_facts(path: Path) -> HostFactsFile:
    """Read and check ``path`` (CSV, or JSON by its ``.json`` suffix); raises :class:`FactsProblem`
    (or OSError) when it cannot be used."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise FactsProblem([f"{size} bytes is above the {MAX_BYTES}-byte limit for a facts file"])
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FactsProblem([f"line {line}: not UTF-8"]) from exc
    out = HostFactsFile(path)
    problems: list[str] = []
    if path.suffix.lower() == ".json":
        records = _json_records(text, problems)
        places = [f"record {i}" for i in range(1, len(records) + 1)]
        sources = [f"--host-facts {path}#{i}" for i in range(1, len(records) + 1)]
    else:
        records, lines = _csv_records(text, problems)
        places = [f"line {n}" for n in lines]
        sources = [f"--host-facts {path}:{n}" for n in lines]
    for record, place, source in zip(records, places, sources, strict=True):
        _check_record(record, place, source, out, problems)
    if problems:
        raise FactsProblem(problems)
    return out


def _csv_records(text: str, problems: list[str]) -> tuple[list[dict[str, str]], list[int]]:
    lines = text.splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    if not numbered:
        problems.append("the file is empty: no header, no host")
        return [], []
    head_line, head = numbered[0]
    header = [h.strip() for h in next(csv.reader([head]))]
    if "host" not in header:
        problems.append(
            f"line {head_line}: no header: the first line must name the columns "
            f"({', '.join(COLUMNS)}); it has no 'host' column"
        )
        return [], []
    for col, name in enumerate(header, 1):
        if name not in COLUMNS:
            problems.append(f"line {head_line}, column {col}: unknown column (expected {', '.join(COLUMNS)})")
        elif header.index(name) != col - 1:
            problems.append(f"line {head_line}, column {col}: column given twice")
    records: list[dict[str, str]] = []
    numbers: list[int] = []
    for n, line in numbered[1:]:
        fields = [f.strip() for f in next(csv.reader([line]))]
        if len(fields) != len(header):
            problems.append(f"line {n}: {len(fields)} fields, the header has {len(header)}")
            continue
        records.append(dict(zip(header, fields, strict=True)))
        numbers.append(n)
    return records, numbers


def _json_records(text: str, problems: list[str]) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        problems.append(f"line {line}: not valid JSON")
        return []
    if isinstance(data, dict) and "hosts" in data:
        data = data["hosts"]
    if isinstance(data, dict):
        data = [{"host": h, **v} if isinstance(v, dict) else {"host": h, "": v} for h, v in data.items()]
    if not isinstance(data, list):
        problems.append("expected a list of host records or a mapping of host to facts")
        return []
    records: list[dict[str, Any]] = []
    for i, record in enumerate(data, 1):
        if not isinstance(record, dict):
            problems.append(f"record {i}: not an object")
            record = {}
        for key in record:
            if key not in COLUMNS:
                problems.append(f"record {i}: unknown key (expected {', '.join(COLUMNS)})")
        records.append(record)
    return records


def _check_record(
    record: dict[str, Any], place: str, source: str, out: HostFactsFile, problems: list[str]
) -> None:
    from virtaudit.versions import libvirt_key, qemu_number

    host = record.get("host")
    if not isinstance(host, str) or not host.strip():
        problems.append(f"{place}, column host: empty or not a string")
        return
    host = host.strip()
    versions: list[str | None] = []
    for column, parse in (("libvirt_version", libvirt_key), ("qemu_version", qemu_number)):
        value = record.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            versions.append(None)
            continue
        try:
            if not isinstance(value, str):
                raise ValueError("not a string")
            if value.strip() == "newest":
                raise ValueError("a host runs a release, not 'newest'")
            parse(value.strip())
        except ValueError:
            problems.append(f"{place}, column {column}: not a version (X.Y.Z)")
            versions.append(None)
            continue
        versions.append(value.strip())
    if versions == [None, None]:
        out.warnings.append(f"--host-facts {out.path}, {place}: no version given for this host")
    if host in out.where:
        out.warnings.append(
            f"--host-facts {out.path}, {place}: this host was given before ({out.where[host]}); "
            "the later line is used"
        )
    out.where[host] = place
    out.rows.append((host, versions[0], versions[1], source))
