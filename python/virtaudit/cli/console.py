"""What the command line writes: standard output and error for people, report files, the progress bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from virtaudit.reports._common import printable

PROGRESS_MIN_FILES: Final = 2000
"""A scan of fewer inputs than this shows no progress bar."""


def stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def stdout_console() -> Any:
    """Standard output for people: the terminal's width (``COLUMNS``), or 140 columns when piped."""
    import shutil

    from rich.console import Console

    width = shutil.get_terminal_size((140, 24)).columns
    return Console(width=width, highlight=False, markup=False, emoji=False, no_color="NO_COLOR" in os.environ)


def note(quiet: bool, message: str) -> None:
    if not quiet:
        stderr().print(printable(message, 10_000), style="dim", soft_wrap=True)


def warn(message: str) -> None:
    stderr().print(printable(message, 10_000), style="yellow", soft_wrap=True)


@dataclass
class Progress:
    """A rich progress bar on stderr, only on a terminal and for large scans."""

    enabled: bool
    total: int = 0
    _bar: Any = None
    _task: Any = None

    def start(self, total: int) -> None:
        self.total = total
        if not self.enabled or total < PROGRESS_MIN_FILES:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=stderr(),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("scan", total=total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def open_output(output: Path | None) -> IO[bytes]:
    if output is None:
        return sys.stdout.buffer
    try:
        return output.open("wb")
    except OSError as exc:
        import typer

        # (the options module uses this one for its warnings: built here, not imported from there)
        message = f"cannot write {output}: {exc.strerror or exc}"
        raise typer.BadParameter(message, param_hint="--output") from exc


def emit(write: Callable[[IO[bytes]], None], output: Path | None) -> None:
    stream = open_output(output)
    try:
        write(stream)
        stream.flush()
    finally:
        if output is not None:
            stream.close()


def color(output: Path | None) -> bool:
    return output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


class Sanitised:
    """A rich renderable shown with every control character of its text escaped (see
    :func:`~virtaudit.reports._common.printable`), its styles and line breaks kept: for renderables
    built from input values (``show``'s tree of guest and alias names)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment

        for segment in console.render(self.inner, options):
            if segment.control or segment.text == "\n":
                yield segment
            else:
                text = "\n".join(printable(part, 1 << 30) for part in segment.text.split("\n"))
                yield Segment(text, segment.style)
