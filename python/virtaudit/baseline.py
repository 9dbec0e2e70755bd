"""Accepted findings: a baseline file that people review (``virtaudit audit --baseline FILE``).

A baseline is TOML: ``version = 1`` and one ``[[accepted]]`` table per accepted finding, keyed by
``host``, the guest and ``code``. The guest is its ``uuid``; a finding whose status file has no UUID is
keyed by its ``guest`` name, and one without a name by its ``path`` (the first of the three an entry
gives is its key; with a ``uuid``, ``guest`` is only a label for the reader). Every entry says why in
``reason`` (required, not empty) and may stop counting after ``expires`` (a date, ``YYYY-MM-DD``).
``severity`` and ``rule`` record what the finding was when the entry was written, for the reviewer only.

A finding matching an entry that has not expired is *suppressed*: it leaves the findings, the exit code
and the host verdicts, and is counted instead. An error row (an input that could not be read) is never a
finding, so no baseline can turn it green.

Matching is a join of each batch's findings with the entries on (host, code, key kind, key): the
findings stream through and only the entries are held, with the set of those that matched.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from virtaudit.schema import SEVERITIES

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "BASELINE_VERSION",
    "Baseline",
    "BaselineProblem",
    "Entry",
    "key_columns",
    "load_baseline",
    "parse_baseline",
    "toml_string",
]

BASELINE_VERSION: Final = 1
KEY_KINDS: Final = ("uuid", "guest", "path")
"""What identifies the guest of an entry, in order of preference (the first one given is the key)."""
ENTRY_KEYS: Final = frozenset({"host", "code", "reason", "expires", "severity", "rule", *KEY_KINDS})
TOP_KEYS: Final = frozenset({"version", "accepted"})
CODE: Final = re.compile(r"[A-Z]{3}[0-9]{3}")
_HEADER: Final = re.compile(r"^[ \t]*\[\[[ \t]*accepted[ \t]*\]\]", re.MULTILINE)
MAX_PROBLEMS: Final = 20
"""Problems listed in one error message (the count of the others follows)."""


class BaselineProblem(Exception):
    """The baseline file cannot be used; the message names the file, the entry and its line."""


@dataclass(frozen=True)
class Entry:
    """One accepted finding."""

    index: int
    """1-based position in the file."""
    line: int | None
    """Line of its ``[[accepted]]`` header (None when the file writes its entries another way)."""
    host: str
    code: str
    kind: str
    """Which of :data:`KEY_KINDS` is the key."""
    key: str
    guest: str | None
    reason: str
    expires: dt.date | None = None
    severity: str | None = None
    rule: str | None = None

    def where(self) -> str:
        return f"entry {self.index}" + (f" (line {self.line})" if self.line else "")

    def label(self) -> str:
        """Host, guest and code, for a warning (the operator's own file: naming them helps find it)."""
        guest = self.guest or self.key
        return f"{self.host} {guest} {self.code}" + ("" if self.kind == "uuid" else f" (by {self.kind})")


@dataclass
class Baseline:
    """The entries of a baseline file, and which of them matched a finding so far."""

    path: Path
    entries: list[Entry]
    today: dt.date
    matched: set[int] = field(default_factory=set)
    _frame: pl.DataFrame | None = field(default=None, repr=False)

    def expired(self) -> list[Entry]:
        """Entries past their ``expires`` day: they suppress nothing."""
        return [e for e in self.entries if e.expires is not None and e.expires < self.today]

    def active(self) -> list[Entry]:
        return [e for e in self.entries if e.expires is None or e.expires >= self.today]

    def frame(self) -> pl.DataFrame:
        """The active entries as a frame to join on (host, code, _kind, _key)."""
        import polars as pl

        active = self.active()
        return pl.DataFrame(
            {
                "host": [e.host for e in active],
                "code": [e.code for e in active],
                "_kind": [e.kind for e in active],
                "_key": [e.key for e in active],
                "_entry": [e.index for e in active],
                "baseline_reason": [e.reason for e in active],
                "baseline_expires": [e.expires.isoformat() if e.expires else None for e in active],
                "baseline_entry": [e.where() for e in active],
            },
            schema={
                "host": pl.String,
                "code": pl.String,
                "_kind": pl.String,
                "_key": pl.String,
                "_entry": pl.UInt32,
                "baseline_reason": pl.String,
                "baseline_expires": pl.String,
                "baseline_entry": pl.String,
            },
        )

    def split(self, findings: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(kept, suppressed) of one batch's findings. ``suppressed`` has the findings' columns and
        ``baseline_reason``, ``baseline_expires`` and ``baseline_entry`` (for SARIF's suppressions)."""
        if self._frame is None:
            self._frame = self.frame()
        entries = self._frame
        keyed = findings.with_columns(*key_columns())
        on = ["host", "code", "_kind", "_key"]
        if entries.height == 0 or findings.height == 0:
            return findings, findings.clear().with_columns(*_no_reason())
        kept = keyed.join(entries.select(on), on=on, how="anti").select(findings.columns)
        suppressed = keyed.join(entries, on=on, how="inner")
        self.matched.update(int(i) for i in suppressed["_entry"].unique().to_list())
        return kept, suppressed.drop("_kind", "_key", "_entry")

    def stale(self, *, unreadable_hosts: set[str], codes_run: set[str]) -> list[Entry]:
        """Active entries that matched no finding of the run. An entry whose host had an input that
        could not be read, or whose rule did not run (``--select``/``--ignore``), cannot be judged and is
        not counted."""
        return [
            e
            for e in self.active()
            if e.index not in self.matched and e.host not in unreadable_hosts and e.code in codes_run
        ]


def key_columns() -> list[pl.Expr]:
    """``_kind`` and ``_key`` of each finding: its UUID, else its guest name, else its path."""
    import polars as pl

    uuid, guest = pl.col("uuid").cast(pl.String), pl.col("guest").cast(pl.String)
    return [
        pl.when(uuid.is_not_null() & (uuid != ""))
        .then(pl.lit("uuid"))
        .when(guest.is_not_null() & (guest != ""))
        .then(pl.lit("guest"))
        .otherwise(pl.lit("path"))
        .alias("_kind"),
        pl.when(uuid.is_not_null() & (uuid != ""))
        .then(uuid)
        .when(guest.is_not_null() & (guest != ""))
        .then(guest)
        .otherwise(pl.col("path").cast(pl.String))
        .alias("_key"),
    ]


def _no_reason() -> list[pl.Expr]:
    import polars as pl

    return [
        pl.lit(None, pl.String).alias(c) for c in ("baseline_reason", "baseline_expires", "baseline_entry")
    ]


# --------------------------------------------------------------------------------------------------
# reading


def load_baseline(path: Path, *, require_reasons: bool = True, today: dt.date | None = None) -> Baseline:
    """The baseline at ``path``, checked whole: every problem is named (file, entry, line) in one
    :class:`BaselineProblem`. ``require_reasons`` False accepts entries with an empty reason (a baseline
    just written, being re-written)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise BaselineProblem(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise BaselineProblem(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    return parse_baseline(text, path, require_reasons=require_reasons, today=today)


def parse_baseline(
    text: str, path: Path, *, require_reasons: bool = True, today: dt.date | None = None
) -> Baseline:
    import tomllib  # (only where a baseline is read: the audit's scan starts after the command's imports)

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BaselineProblem(f"{path}: not TOML ({exc})") from exc
    problems = [f"unknown top-level key {k!r} (known: version, accepted)" for k in doc if k not in TOP_KEYS]
    if "version" not in doc:
        problems.append(f"no version (a baseline starts with version = {BASELINE_VERSION})")
    elif doc["version"] != BASELINE_VERSION:
        problems.append(
            f"version must be {BASELINE_VERSION} (this virtaudit reads version {BASELINE_VERSION})"
        )
    raw = doc.get("accepted", [])
    if not isinstance(raw, list):
        problems.append("accepted must be a list of [[accepted]] tables")
        raw = []
    headers = [text.count("\n", 0, m.start()) + 1 for m in _HEADER.finditer(text)]
    lines: list[int | None] = list(headers) if len(headers) == len(raw) else [None] * len(raw)
    entries: list[Entry] = []
    for i, (item, line) in enumerate(zip(raw, lines, strict=True), 1):
        entry, wrong = _entry(item, i, line, require_reasons)
        where = f"entry {i}" + (f" (line {line})" if line else "")
        problems += [f"{where}: {w}" for w in wrong]
        if entry is not None:
            entries.append(entry)
    problems += _duplicates(entries)
    if problems:
        shown = problems[:MAX_PROBLEMS]
        more = f"\n... and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise BaselineProblem(f"{path}: " + "\n".join(shown) + more)
    return Baseline(path, entries, today or dt.datetime.now(dt.UTC).date())


def _entry(item: Any, index: int, line: int | None, require_reasons: bool) -> tuple[Entry | None, list[str]]:
    """An entry and what is wrong with it (no value from the file is quoted, only its keys)."""
    if not isinstance(item, dict):
        return None, ["not a table"]
    wrong = [
        f"unknown key {k!r} (known: {', '.join(sorted(ENTRY_KEYS))})" for k in item if k not in ENTRY_KEYS
    ]
    wrong += [
        f"{k} must be a string"
        for k in ENTRY_KEYS - {"expires"}
        if k in item and not isinstance(item[k], str)
    ]
    if wrong:
        return None, wrong
    for k in ("host", "code"):
        if not item.get(k, "").strip():
            wrong.append(f"{k} is missing or empty")
    if item.get("code") and not CODE.fullmatch(item["code"]):
        wrong.append("code is not a rule code (three capitals and three digits, PCI002)")
    kind = next((k for k in KEY_KINDS if item.get(k)), None)
    if kind is None:
        wrong.append("no uuid, guest or path: say which guest the entry accepts")
    reason = item.get("reason")
    if reason is None:
        wrong.append("no reason: say why the finding is accepted")
    elif require_reasons and not reason.strip():
        wrong.append("reason is empty: say why the finding is accepted")
    if item.get("severity") is not None and item["severity"] not in SEVERITIES:
        wrong.append(f"severity must be one of {', '.join(SEVERITIES)}")
    expires, bad_date = _date(item.get("expires"))
    if bad_date:
        wrong.append(bad_date)
    if wrong or kind is None:
        return None, wrong
    entry = Entry(
        index=index,
        line=line,
        host=item["host"],
        code=item["code"],
        kind=kind,
        key=item[kind],
        guest=item.get("guest"),
        reason=reason or "",
        expires=expires,
        severity=item.get("severity"),
        rule=item.get("rule"),
    )
    return entry, []


def _date(value: Any) -> tuple[dt.date | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, dt.datetime | dt.time):
        return None, "expires must be a date (YYYY-MM-DD), not a time"
    if isinstance(value, dt.date):
        return value, None
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value), None
        except ValueError:
            return None, "expires is not a date of the calendar (YYYY-MM-DD)"
    return None, "expires must be a date, YYYY-MM-DD"


def _duplicates(entries: list[Entry]) -> list[str]:
    seen: dict[tuple[str, str, str, str], Entry] = {}
    problems = []
    for e in entries:
        first = seen.setdefault((e.host, e.code, e.kind, e.key), e)
        if first is not e:
            problems.append(f"{e.where()}: accepts the same finding as {first.where()}")
    return problems


# --------------------------------------------------------------------------------------------------
# writing

_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string: quotes, backslashes and every control character escaped, so
    that any host, guest or path reads back as it was."""
    out = []
    for c in value:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def entry_toml(entry: Entry) -> str:
    """One ``[[accepted]]`` table."""
    lines = ["[[accepted]]", f"host = {toml_string(entry.host)}"]
    if entry.kind == "uuid":
        lines.append(f"uuid = {toml_string(entry.key)}")
    if entry.guest is not None and entry.kind != "path":
        lines.append(f"guest = {toml_string(entry.guest)}")
    elif entry.kind == "path":
        lines.append(f"path = {toml_string(entry.key)}")
    if entry.kind == "guest":
        lines[-1] += "  # no UUID in the status file: matched by guest name"
    elif entry.kind == "path":
        lines[-1] += "  # no UUID or name in the status file: matched by path"
    lines.append(f"code = {toml_string(entry.code)}")
    if entry.rule:
        lines.append(f"rule = {toml_string(entry.rule)}")
    if entry.severity:
        lines.append(f"severity = {toml_string(entry.severity)}")
    lines.append(f"reason = {toml_string(entry.reason)}")
    if entry.expires is not None:
        lines.append(f"expires = {entry.expires.isoformat()}")
    return "\n".join(lines) + "\n"


HEADER_COMMENT: Final = """\
# virtaudit baseline: findings accepted on purpose (virtaudit audit --baseline FILE).
# Each [[accepted]] entry suppresses the findings of one rule (code) on one guest (uuid; guest name
# or path where the status file has no UUID) of one host. Review it like code:
#   reason   why the finding is accepted (required: an entry with an empty reason stops the run)
#   expires  optional, YYYY-MM-DD: after that day the entry suppresses nothing and the run warns
#   guest, rule, severity: what the finding was when this file was written (for the reader only)
"""


def baseline_toml(entries: list[Entry]) -> str:
    """A whole baseline file."""
    body = "\n".join(entry_toml(e) for e in entries)
    return f"{HEADER_COMMENT}\nversion = {BASELINE_VERSION}\n" + (f"\n{body}" if body else "")
