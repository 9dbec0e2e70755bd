"""The ``virtaudit`` command line (Typer).

Start-up stays quick: this module imports nothing heavy. ``virtaudit --version`` answers before Typer is
loaded; the commands (one module each: :mod:`~virtaudit.cli.audit`, :mod:`~virtaudit.cli.scan`,
:mod:`~virtaudit.cli.show`, :mod:`~virtaudit.cli.catalog` for ``rules`` and ``explain``,
:mod:`~virtaudit.cli.diff`; their options in :mod:`~virtaudit.cli.options`) are registered on first use of
:func:`get_app` (``virtaudit.cli.app`` for Typer's test runner). Each command is thin: it checks its
options, then calls the API (:mod:`virtaudit.pipeline`, :mod:`virtaudit.reports`), which imports polars
only once the scan has started.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage error; 3 some inputs
could not be read (takes precedence over 0 and 1; the findings are still all reported).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any, Final, NoReturn

if TYPE_CHECKING:
    import typer

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "get_app",
    "main",
    "script",
    "tune_polars_allocator",
]

EXIT_OK: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREADABLE: Final = 3
EXIT_INTERNAL: Final = 4
"""A failure outside any input (a bug, the disk full while writing the report): one line on stderr."""

EXIT_CODES_HELP: Final = """\
**Exit codes**: 0 nothing at or above --fail-on; 1 findings at or above --fail-on; 2 usage error;
3 some inputs could not be read (takes precedence over 0 and 1; the findings are still all reported);
4 an internal failure outside any input (one line on stderr, no report to trust)."""

# --------------------------------------------------------------------------------------------------
# the app

_APP: typer.Typer | None = None


def get_app() -> typer.Typer:
    """The Typer application (built on first use: importing Typer costs more than --version may)."""
    global _APP
    if _APP is not None:
        return _APP
    import typer

    from virtaudit.cli import audit, catalog, diff, options, scan, show

    app = typer.Typer(
        name="virtaudit",
        help=options.root.__doc__,
        epilog=EXIT_CODES_HELP,
        no_args_is_help=True,
        add_completion=True,
        rich_markup_mode="markdown",
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_enable=False,
    )
    app.callback()(options.root)
    app.command("audit", epilog=EXIT_CODES_HELP)(audit.audit_command)
    app.command("scan")(scan.scan_command)
    app.command("show")(show.show_command)
    app.command("rules")(catalog.rules_command)
    app.command("explain")(catalog.explain_command)
    app.command("diff")(diff.diff_command)
    _APP = app
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return get_app()
    raise AttributeError(f"module 'virtaudit.cli' has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``virtaudit`` script."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from virtaudit import __version__

        sys.stdout.write(f"virtaudit {__version__}\n")
        return EXIT_OK
    tune_polars_allocator()
    from virtaudit.cli.config import ConfigProblem, default_map

    try:
        defaults = default_map()
    except ConfigProblem as exc:
        sys.stderr.write(f"virtaudit: configuration: {_printable(str(exc))}\n")
        return EXIT_USAGE
    if defaults.get("audit") and args[:1] == ["audit"]:
        # (a gate's settings must never come from a file nobody noticed: say which one)
        keys = ", ".join(sorted(defaults["audit"]))
        sys.stderr.write(f"virtaudit: settings from {_printable(str(defaults['source']))}: {keys}\n")
    defaults.pop("source", None)
    try:
        get_app()(args=args, prog_name="virtaudit", default_map=defaults)
    except Exception as exc:  # a traceback is a bug: say what failed in one line, exit neither 0 nor 1
        first = (str(exc).splitlines() or [""])[0][:300]
        sys.stderr.write(f"virtaudit: internal error ({type(exc).__name__}): {_printable(first)}\n")
        return EXIT_INTERNAL
    return EXIT_OK  # pragma: no cover - Typer exits


def script() -> NoReturn:
    """The ``virtaudit`` script (and ``python -m virtaudit.cli``): :func:`main`, then a quick exit.

    Once the report is written, Python's own shutdown (every module torn down, polars' among them) took
    another 45-50 ms of every audit (27 for an interpreter that merely imported polars); this exit takes
    15-18, measured from the last line of the command to the process's end. What the shutdown would still
    do that matters is done first: the exit handlers run (they remove temporary directories) and the
    standard streams are flushed; a stream that cannot be flushed ends the process with 120, as Python's
    own shutdown does. :func:`main` itself returns, for callers that stay in Python.
    """
    try:
        code = main()
    except SystemExit as exc:  # (how Typer ends a command)
        code = _exit_status(exc)
    except OSError as exc:  # (the standard output cannot be written: a full disk, a closed pipe)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"virtaudit: cannot write the output: {exc.strerror or exc}\n")
        code = 120
    import atexit

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # pragma: no cover - (an interpreter without it: the usual shutdown)
        sys.exit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120
    os._exit(code)


def _exit_status(exc: SystemExit) -> int:
    """The status Python would exit with for ``exc`` (a message is written to stderr, status 1)."""
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(f"{exc.code}\n")
    return 1


POLARS_ALLOCATOR_ENV: Final = "_RJEM_MALLOC_CONF"
"""The options of the jemalloc polars' Linux wheels allocate with, read once, when polars loads."""
POLARS_ALLOCATOR_OPTIONS: Final = "narenas:1"


def tune_polars_allocator() -> None:
    """One jemalloc arena for polars instead of several per core (set unless the user set their own).

    polars allocates a batch's rule results from whichever of its threads runs a query, and jemalloc keeps
    what one thread's arena frees for that arena: over an audit's batches each arena holds its own high-water
    mark. With one arena, what a batch frees serves the next: a million-file audit in batches of 4,000
    peaked at 234-236 MB in five runs (279 once) instead of 277-292, and a 20,000-file audit at 218-221 MB
    instead of 238-258, in no more time (0.83 s against 0.88, median of 6 side by side). Process-wide, so
    the command line's decision, not the library's; it must be made before polars is imported (the
    commands import it only after the scan has started). Where polars allocates otherwise (another
    platform, a future wheel), it does nothing. (benches/run.py makes the same choice for the rules it
    times in its own process.)
    """
    # (polars adds what the variable holds to its own options when it loads: they compose)
    if "polars" not in sys.modules:
        os.environ.setdefault(POLARS_ALLOCATOR_ENV, POLARS_ALLOCATOR_OPTIONS)


def _printable(text: str) -> str:
    # (no control character from an input reaches the terminal, even in an error message)
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
