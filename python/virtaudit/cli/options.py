"""The command line's options: their types (shared by the commands), their checks, and the root command.

Imported only when a command runs (never for ``virtaudit --version``). Every check here turns a bad value
into a usage error (exit 2) before any input is read.
"""

from __future__ import annotations

import enum
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, TypeAlias

import typer

from virtaudit.pipeline import DEFAULT_BATCH_FILES, limits_of

if TYPE_CHECKING:
    import polars as pl

    from virtaudit.hostnames import HostFrom

__all__ = ["DEFAULT_BATCH_FILES"]

DEFAULT_STATUS_DIR: Final = "/run/libvirt/qemu"
OLDEST_MODELLED: Final = "1.2.16"
"""The first libvirt release the bus-name model covers (virtaudit.busnames)."""
# Bounds of the numeric options: past them a value is a mistake (and past 2**64 the core cannot take it).
MAX_FILE_SIZE_LIMIT: Final = 1 << 40
MAX_DEPTH_LIMIT: Final = 1 << 16
MAX_ELEMENTS_LIMIT: Final = (1 << 32) - 1
MAX_JOBS: Final = 1024
MAX_BATCH_FILES: Final = 10_000_000

SEVERITY_NAMES: Final = ("critical", "high", "medium", "low", "info")


class Severity(enum.StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class FailOn(enum.StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"
    none = "none"


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"
    junit = "junit"
    sarif = "sarif"
    html = "html"
    github = "github"
    gitlab = "gitlab"


class DiffFormat(enum.StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class RulesFormat(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


SUFFIX_FORMATS: Final = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".xml": "junit",
    ".junit": "junit",
    ".sarif": "sarif",
    ".html": "html",
    ".htm": "html",
    ".txt": "table",
}


# --------------------------------------------------------------------------------------------------
# option types (the command signatures name them; Typer resolves them in each command's module)

PathsArg: TypeAlias = Annotated[
    list[str] | None,
    typer.Argument(
        help="Status XML files, directories (searched for *.xml), glob patterns, archives (.tar, "
        ".tar.gz, .tar.xz, .zip, sosreports) or datasets written by `virtaudit scan --out`. `-` reads "
        "paths from standard input, one a line. Default: /run/libvirt/qemu, named after this host.",
        show_default=False,
        metavar="PATHS...",
    ),
]
TargetOpt: TypeAlias = Annotated[
    str | None,
    typer.Option(
        "--target-libvirt",
        metavar="X.Y.Z",
        help="The libvirt release that will read the files after the restart or upgrade "
        "(default: the newest behaviour known). A host's own version in --host-facts wins.",
    ),
]
HostFactsOpt: TypeAlias = Annotated[
    Path | None,
    typer.Option(
        "--host-facts",
        metavar="FILE",
        exists=True,
        dir_okay=False,
        readable=True,
        help="CSV or JSON of host, libvirt_version, qemu_version. Overrides the versions a "
        "sosreport or dataset recorded.",
    ),
]
HostFromOpt: TypeAlias = Annotated[
    str | None,
    typer.Option(
        "--host-from",
        metavar="parent|grandparent|REGEX|NAME",
        help="How to name each file's host: its parent directory (default), the directory above, "
        "the one capture group of a regular expression applied to the path, or a fixed name "
        "(kept for compatibility: --host-from-dir, --host-regex and --host-name say which).",
    ),
]


class HostDir(enum.StrEnum):
    parent = "parent"
    grandparent = "grandparent"


HostFromDirOpt: TypeAlias = Annotated[
    HostDir | None,
    typer.Option(
        "--host-from-dir",
        help="Name each file's host after the directory holding it (parent, the default) or the one above.",
    ),
]
HostNameOpt: TypeAlias = Annotated[
    str | None,
    typer.Option("--host-name", metavar="NAME", help="One fixed host name for every input."),
]
HostRegexOpt: TypeAlias = Annotated[
    str | None,
    typer.Option(
        "--host-regex",
        metavar="RE",
        help="A regular expression with exactly one capture group, searched in each path: the group is "
        "the host (the parent directory where it does not match).",
    ),
]
MaxAgeOpt: TypeAlias = Annotated[
    str | None,
    typer.Option(
        "--max-age",
        metavar="AGE",
        help="Refuse dataset hosts scanned longer ago than AGE (90m, 24h, 7d; an error row each, exit 3), "
        "and those whose scan time the dataset does not record.",
    ),
]
DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
HOST_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
"""What a fixed host name may be (a value with '/', spaces or brackets is a mistyped pattern)."""
JobsOpt: TypeAlias = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        max=MAX_JOBS,
        help="Threads of the scan, and of polars for the rules (default: one per core). "
        "-j 1 keeps an audit on one core: it scans and checks in turn.",
    ),
]
QuietOpt: TypeAlias = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress bar or notes on stderr; the table "
        "format prints only findings and unreadable inputs.",
    ),
]
MaxFileSizeOpt: TypeAlias = Annotated[
    int | None,
    typer.Option(
        "--max-file-size",
        min=1,
        max=MAX_FILE_SIZE_LIMIT,
        metavar="BYTES",
        help="Larger files are not read (an error row). Default 64 MiB.",
    ),
]
MaxDepthOpt: TypeAlias = Annotated[
    int | None,
    typer.Option(
        "--max-depth", min=1, max=MAX_DEPTH_LIMIT, help="Deepest XML nesting accepted. Default 256."
    ),
]
MaxElementsOpt: TypeAlias = Annotated[
    int | None,
    typer.Option(
        "--max-elements", min=1, max=MAX_ELEMENTS_LIMIT, help="Most XML elements per file. Default 1,000,000."
    ),
]
BatchOpt: TypeAlias = Annotated[
    int,
    typer.Option(
        "--batch-files",
        min=1,
        max=MAX_BATCH_FILES,
        hidden=True,
        help="Files scanned per batch (bounds memory).",
    ),
]


# --------------------------------------------------------------------------------------------------
# checks


def usage_error(message: str, param: str | None = None) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=param)


def limits(max_file_size: int | None, max_depth: int | None, max_elements: int | None) -> dict[str, int]:
    return limits_of(max_file_size, max_depth, max_elements)


def expand_paths(paths: list[str] | None, host_from: HostFrom) -> tuple[list[str], HostFrom, bool]:
    """Paths to scan (``-`` replaced by the lines of stdin), the host naming, and whether the default
    (the local host's status directory) was used."""
    if not paths:
        import socket

        return [DEFAULT_STATUS_DIR], host_from or socket.gethostname(), True
    out: list[str] = []
    for i, p in enumerate(paths, 1):
        if p == "-":
            out.extend(line.rstrip("\r\n") for line in sys.stdin if line.strip())
        elif not p:
            # (an empty argument is a mistake in the calling script, as in `audit "$DIR"` with DIR unset)
            raise usage_error(f"path argument {i} is an empty string", "PATHS")
        else:
            out.append(p)
    if not out:
        raise usage_error("no paths on standard input", "PATHS")
    return out, host_from, False


def check_target(target_libvirt: str | None) -> str | None:
    if target_libvirt is None:
        return None
    from virtaudit.versions import libvirt_key, libvirt_label

    try:
        label = libvirt_label(target_libvirt)
    except ValueError as exc:
        raise usage_error(str(exc), "--target-libvirt") from exc
    if label != "newest" and libvirt_key(label) < libvirt_key(OLDEST_MODELLED):
        raise usage_error(
            f"libvirt {label} is older than the model covers (from {OLDEST_MODELLED} on)", "--target-libvirt"
        )
    return None if label == "newest" else label


def check_host_from(
    host_from: str | None,
    host_from_dir: HostDir | None = None,
    host_name: str | None = None,
    host_regex: str | None = None,
) -> HostFrom:
    """The host naming of at most one of the four options, checked: a typo is a usage error, never a
    host name."""
    given = [
        (name, value)
        for name, value in (
            ("--host-from", host_from),
            ("--host-from-dir", host_from_dir),
            ("--host-name", host_name),
            ("--host-regex", host_regex),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise usage_error("give one of them: " + ", ".join(n for n, _v in given), given[1][0])
    if host_from_dir is not None:
        return host_from_dir.value
    if host_name is not None:
        return _fixed_name(host_name, "--host-name")
    if host_regex is not None:
        return _host_pattern(host_regex, "--host-regex")
    if host_from is None or host_from in ("parent", "grandparent"):
        return host_from
    if any(c in host_from for c in "()[]\\*+?{}|^$"):
        return _host_pattern(host_from, "--host-from")
    import difflib

    close = difflib.get_close_matches(host_from.lower(), ["parent", "grandparent"], n=1, cutoff=0.6)
    if close:
        raise usage_error(
            f"{host_from!r} is not a naming mode: did you mean {close[0]!r}? "
            "(a fixed host name: --host-name NAME)",
            "--host-from",
        )
    return _fixed_name(host_from, "--host-from")


def check_max_age(value: str | None) -> float | None:
    """``--max-age``: a number and a unit (s, m, h, d, w), in seconds."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", value)
    if not match or float(match[1]) <= 0:
        raise usage_error("give a positive number and a unit: 90m, 24h, 7d (s, m, h, d, w)", "--max-age")
    return float(match[1]) * DURATION_UNITS[match[2]]


def _fixed_name(name: str, option: str) -> str:
    if name in ("parent", "grandparent") or not HOST_NAME.fullmatch(name):
        raise usage_error(
            "a host name is letters, digits, '.', '_' and '-' (at most 253), and not 'parent' or "
            "'grandparent'",
            option,
        )
    return name


def _host_pattern(pattern: str, option: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise usage_error(f"not a regular expression: {exc}", option) from exc
    if compiled.groups != 1:
        raise usage_error(
            f"the regular expression has {compiled.groups} capture groups; it needs exactly one "
            "(the host name); write others as (?:...)",
            option,
        )
    return compiled


def split_codes(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part for v in values for part in v.replace(",", " ").split() if part]


def load_facts(path: Path | None) -> pl.DataFrame | None:
    """The facts of ``--host-facts`` (host, versions, facts_source), checked line by line: a problem is a
    usage error naming every line and column at fault, a doubt is a warning (:mod:`virtaudit.hostfacts`);
    no message quotes the file's values."""
    if path is None:
        return None
    import stat

    from virtaudit.cli import console
    from virtaudit.hostfacts import FactsProblem, read_host_facts

    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise usage_error(f"{path}: {exc.strerror}", "--host-facts") from exc
    if not stat.S_ISREG(mode):
        # (a FIFO would block the run forever; a device is never a facts file)
        raise usage_error(f"{path}: not a regular file", "--host-facts")
    try:
        facts = read_host_facts(path)
    except OSError as exc:
        raise usage_error(f"{path}: {exc.strerror}", "--host-facts") from exc
    except FactsProblem as exc:
        raise usage_error(f"{path}: {exc}", "--host-facts") from exc
    for warning in facts.warnings:
        console.warn(warning)
    return facts.frame()


def warn_unseen_facts(facts: pl.DataFrame | None, seen: Iterable[str]) -> None:
    """A warning for each host of ``--host-facts`` that no input had, naming its line (the host name is
    not repeated: the file is the operator's to look at)."""
    if facts is None or "facts_source" not in facts.columns:
        return
    from virtaudit.cli import console

    known = set(seen)
    for host, source in facts.select("host", "facts_source").iter_rows():
        if host not in known:
            console.warn(f"{source}: no input had this host; its facts were not used")


def limit_threads(jobs: int | None) -> None:
    """``--jobs`` caps polars' thread pool too (the rules' queries), not only the scan's: an operator
    who asks for one thread on a busy hypervisor means the whole command. polars sizes its pool once,
    from ``POLARS_MAX_THREADS``, when it is first imported, so every command that takes ``--jobs`` calls
    this before anything imports polars. (In a process that has imported polars already, such as a test
    runner's, it cannot take effect and changes nothing.)"""
    if jobs is not None and "polars" not in sys.modules:
        os.environ["POLARS_MAX_THREADS"] = str(jobs)


def resolve_format(output_format: str | None, output: Path | None, choices: tuple[str, ...]) -> str:
    if output_format is not None:
        return output_format
    if output is not None:
        guessed = SUFFIX_FORMATS.get(output.suffix.lower())
        if guessed in choices:
            return guessed
    return "table"


def resolve_outputs(output_format: str | None, outputs: list[Path]) -> list[tuple[str, Path | None]]:
    """(format, file) of each report ``audit`` writes: standard output alone, one ``-o`` (``-f`` wins
    over its suffix), or several ``-o``, each in the format of its suffix (``-f`` then only where it is
    the format of every suffix)."""
    choices = tuple(OutputFormat)
    if len(outputs) <= 1:
        path = outputs[0] if outputs else None
        fmt = resolve_format(output_format, path, choices)
        if fmt == "parquet" and path is None and sys.stdout.isatty():
            raise usage_error("Parquet is binary: give --output FILE or redirect standard output", "--output")
        return [(fmt, path)]
    resolved: list[tuple[str, Path | None]] = []
    for path in outputs:
        guessed = SUFFIX_FORMATS.get(path.suffix.lower())
        if guessed is None:
            raise usage_error(
                f"{path}: with several --output files each format follows the suffix "
                f"({', '.join(sorted(SUFFIX_FORMATS))}), and {path.suffix or 'no suffix'} is none of them",
                "--output",
            )
        if output_format is not None and guessed != output_format:
            raise usage_error(
                f"--output-format {output_format} with several --output files: {path} is {guessed}; "
                "leave out -f, each file's suffix names its format",
                "--output-format",
            )
        resolved.append((guessed, path))
    seen = [os.path.abspath(p) for p in outputs]
    if len(set(seen)) < len(seen):
        raise usage_error("the same file is named twice in --output", "--output")
    return resolved


def validate_codes(select: list[str] | None, ignore: list[str] | None) -> None:
    from virtaudit.catalog import select_codes

    try:
        select_codes(select, ignore)
    except ValueError as exc:
        raise usage_error(str(exc), "--select/--ignore") from exc


def now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def version_callback(value: bool) -> None:
    if value:
        from virtaudit import __version__

        typer.echo(f"virtaudit {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="Print the version and exit.", callback=version_callback, is_eager=True
        ),
    ] = False,
) -> None:
    """Find the running libvirt guests that a libvirtd restart or upgrade would break.

    virtaudit reads libvirt's status XML (/run/libvirt/qemu/GUEST.xml), directly, from archives
    (sosreports, tarballs, zips) or from Parquet datasets written by `virtaudit scan --out`, and runs a
    catalog of rules over it.
    """
