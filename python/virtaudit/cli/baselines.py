"""``virtaudit audit --baseline FILE`` and ``--write-baseline FILE``: the options, their checks (before any
input is read), and what the run says about the baseline on stderr.

The file format and the matching are :mod:`virtaudit.baseline`; writing is
:mod:`virtaudit.baseline_writer`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeAlias

import typer

from virtaudit.baseline import Baseline, BaselineProblem, Entry, load_baseline
from virtaudit.cli import console
from virtaudit.cli.options import usage_error

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.baseline_writer import BaselineWriter

__all__ = [
    "BaselineOpt",
    "BaselineRun",
    "NoBaselineOpt",
    "ReasonOpt",
    "WriteBaselineOpt",
    "chosen_baseline",
    "prepare_baseline",
]

STALE_SHOWN: Final = 5
"""Stale entries named on stderr (the count of the others follows)."""

BaselineOpt: TypeAlias = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        metavar="FILE",
        dir_okay=False,
        help="Accepted findings (TOML, written by --write-baseline, each with a reason): the findings they "
        "match are left out of the report, the exit code and the host verdicts, and counted as suppressed.",
    ),
]
WriteBaselineOpt: TypeAlias = Annotated[
    Path | None,
    typer.Option(
        "--write-baseline",
        metavar="FILE",
        dir_okay=False,
        help="Write every finding of the run (at or above --min-severity) as a baseline, to be reviewed: "
        "each new entry's reason is empty (or --reason) and must be filled in before --baseline takes it. "
        "Over an existing baseline, entries that still match keep their reason and expiry.",
    ),
]
NoBaselineOpt: TypeAlias = Annotated[
    bool,
    typer.Option(
        "--no-baseline",
        help="Use no baseline, not even the one the configuration file names (every finding counts).",
    ),
]
ReasonOpt: TypeAlias = Annotated[
    str | None,
    typer.Option(
        "--reason",
        metavar="TEXT",
        help="With --write-baseline: the reason of every entry it adds (default: empty, to be written per "
        "entry).",
    ),
]


@dataclass
class BaselineRun:
    """The baseline a run applies and the one it writes (either may be None)."""

    baseline: Baseline | None = None
    writer: BaselineWriter | None = None
    codes_run: frozenset[str] = frozenset()
    """The rules the run checks (an entry of another rule cannot be judged stale)."""
    unreadable_hosts: frozenset[str] = frozenset()
    """Hosts with an input that could not be read (their entries cannot be judged either)."""

    def split(self, findings: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """(kept, suppressed) of one batch; every finding is also noted for the baseline to write."""
        if self.writer is not None:
            self.writer.add(findings)
        if self.baseline is None:
            return findings, None
        return self.baseline.split(findings)

    def outcome(self, suppressed: dict[str, int], hosts: dict[str, Any]) -> dict[str, Any] | None:
        """The report's ``baseline`` (None without one), once every batch was checked (``hosts``: the
        run's :class:`~virtaudit.reports.hosts.HostBook` entries); warns of the stale entries."""
        self.unreadable_hosts = frozenset(name for name, h in hosts.items() if h.unreadable)
        if self.baseline is None:
            return None
        from virtaudit.schema import SEVERITIES

        stale = self.baseline.stale(
            unreadable_hosts=set(self.unreadable_hosts), codes_run=set(self.codes_run)
        )
        if stale:
            named = "; ".join(f"{e.where()}: {e.label()}" for e in stale[:STALE_SHOWN])
            more = f"; and {len(stale) - STALE_SHOWN} more" if len(stale) > STALE_SHOWN else ""
            console.warn(
                f"warning: baseline {self.baseline.path}: {_entries(len(stale))} matched no finding "
                f"(stale): {named}{more}. Remove them, or re-write the baseline with --write-baseline."
            )
        return {
            "file": str(self.baseline.path),
            "entries": len(self.baseline.entries),
            "suppressed": sum(suppressed.values()),
            "by_severity": {s: suppressed.get(s, 0) for s in SEVERITIES},
            "expired": len(self.baseline.expired()),
            "stale": len(stale),
        }

    def write(self, *, quiet: bool) -> None:
        if self.writer is None:
            return
        path = self.writer.path
        try:
            stats = self.writer.write(
                unreadable_hosts=set(self.unreadable_hosts), codes_run=set(self.codes_run)
            )
        except OSError as exc:
            raise usage_error(f"cannot write {path}: {exc.strerror or exc}", "--write-baseline") from exc
        parts = [f"wrote baseline {path}: {_entries(stats.entries)}"]
        if stats.carried:
            parts.append(f"{stats.carried} kept their reason and expiry")
        if stats.new:
            parts.append(f"{stats.new} new" + ("" if self.writer.reason else " with an empty reason"))
        if stats.dropped:
            parts.append(f"{stats.dropped} stale left out")
        if stats.unjudged:
            parts.append(f"{stats.unjudged} kept as they were (host unreadable or rule not run)")
        console.note(quiet, ", ".join(parts))
        if stats.new and not self.writer.reason:
            console.warn(
                f"{path}: write the reason of each new entry (why it is accepted) before --baseline "
                "takes the file; an empty reason is refused"
            )
        if self.unreadable_hosts:
            console.warn(
                f"warning: {path}: some inputs could not be read; their findings are not in the baseline"
            )


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


def prepare_baseline(
    baseline: Path | None,
    write_baseline: Path | None,
    reason: str | None,
    *,
    min_severity: str | None,
    named: list[str],
    codes: tuple[list[str] | None, list[str] | None],
) -> BaselineRun:
    """Check and load both files before any input is read (a problem is a usage error, exit 2);
    ``named``: every file the run reads or writes otherwise (inputs, --host-facts, --output); ``codes``:
    the run's --select and --ignore."""
    if reason is not None and write_baseline is None:
        raise usage_error(
            "--reason is the reason of the entries --write-baseline writes; give both", "--reason"
        )
    if reason is not None and not reason.strip():
        raise usage_error("an empty reason accepts nothing: say why the findings are accepted", "--reason")
    from virtaudit.catalog import select_codes

    run = BaselineRun(codes_run=frozenset(select_codes(*codes)))
    if baseline is not None:
        _not_named(baseline, named, "--baseline")
        run.baseline = _load(baseline)
        for entry in run.baseline.expired():
            console.warn(_expired(run.baseline.path, entry))
    if write_baseline is not None:
        from virtaudit.baseline_writer import BaselineWriter

        previous = _write_target(write_baseline, named)
        run.writer = BaselineWriter(write_baseline, min_severity, previous, (reason or "").strip())
    return run


def _expired(path: Path, entry: Entry) -> str:
    return (
        f"warning: baseline {path}: {entry.where()}: {entry.label()} expired on {entry.expires}; it "
        "suppresses nothing (renew its expires, or remove it)"
    )


def _regular_file(path: Path, option: str) -> bool:
    """Whether ``path`` exists (a usage error when it is not a regular file: a FIFO would block)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise usage_error(f"{path}: {exc.strerror or exc}", option) from exc
    if not stat.S_ISREG(mode):
        raise usage_error(f"{path}: not a regular file", option)
    return True


def _load(path: Path) -> Baseline:
    if not _regular_file(path, "--baseline"):
        raise usage_error(f"{path}: no such file", "--baseline")
    try:
        return load_baseline(path)
    except BaselineProblem as exc:
        raise usage_error(str(exc), "--baseline") from exc


def _not_named(path: Path, named: list[str], option: str) -> None:
    """A usage error when ``path`` is also an input or an output of the run (``-o`` would overwrite the
    baseline it reads; ``--write-baseline`` would overwrite an input)."""
    real = os.path.realpath(path)
    if any(other and os.path.realpath(other) == real for other in named):
        raise usage_error(f"{path} is also an input or output of this run", option)


def _write_target(path: Path, named: list[str]) -> Baseline | None:
    """The baseline already at ``path`` (its reasons are kept), or None. Refused: a file the run reads or
    writes otherwise, and any existing file that is not a baseline (nothing else is ever overwritten)."""
    _not_named(path, named, "--write-baseline")
    if not path.parent.is_dir():
        raise usage_error(f"{path}: no such directory {path.parent}", "--write-baseline")
    if not os.access(path.parent, os.W_OK):
        raise usage_error(f"{path}: cannot write in {path.parent}", "--write-baseline")
    if not _regular_file(path, "--write-baseline"):
        return None
    try:
        return load_baseline(path, require_reasons=False)
    except BaselineProblem as exc:
        raise usage_error(
            f"{path} exists and is not a virtaudit baseline, so it is not overwritten ({exc})",
            "--write-baseline",
        ) from exc


def chosen_baseline(baseline: Path | None, no_baseline: bool, ctx: typer.Context) -> Path | None:
    """The baseline the run uses: none with ``--no-baseline`` (which overrides a configuration file's
    ``baseline``), and a usage error when the command line gives both."""
    if not no_baseline:
        return baseline
    source = ctx.get_parameter_source("baseline")
    if baseline is not None and source is not None and source.name == "COMMANDLINE":
        raise usage_error("--baseline and --no-baseline exclude each other", "--no-baseline")
    return None
