"""Settings of ``virtaudit audit`` from a file, so that a team's gate says once what it judges against.

Found, first match wins: the file ``$VIRTAUDIT_CONFIG`` names; ``virtaudit.toml`` in the current directory;
the ``[tool.virtaudit]`` table of ``pyproject.toml`` in the current directory. Every option given on the
command line wins over the file. Keys (all optional): ``target_libvirt``, ``host_facts``, ``select``,
``ignore`` (lists of codes or families), ``fail_on``, ``min_severity``, ``baseline`` (a file of accepted
findings, :mod:`virtaudit.baseline`). An unknown key, a value of the wrong
type, or a file that is not TOML is a usage error (exit 2) naming the file and the key, never the value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

__all__ = ["ConfigProblem", "default_map", "find_config"]

# key in the file -> whether it holds a list of strings (else one string)
KEYS: Final = {
    "target_libvirt": False,
    "host_facts": False,
    "select": True,
    "ignore": True,
    "fail_on": False,
    "min_severity": False,
    "baseline": False,
}


class ConfigProblem(Exception):
    """The configuration file cannot be used (its message names the file and the key)."""


def find_config(cwd: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The configuration file in force and its ``virtaudit`` table, or None when there is none."""
    here = Path.cwd() if cwd is None else cwd
    named = os.environ.get("VIRTAUDIT_CONFIG")
    if named:
        path = Path(named)
        return path, _table(path, pyproject=path.name == "pyproject.toml", required=True)
    if (here / "virtaudit.toml").is_file():
        return here / "virtaudit.toml", _table(here / "virtaudit.toml", pyproject=False, required=True)
    if (here / "pyproject.toml").is_file():
        table = _table(here / "pyproject.toml", pyproject=True, required=False)
        if table:
            return here / "pyproject.toml", table
    return None


def _table(path: Path, *, pyproject: bool, required: bool) -> dict[str, Any]:
    # (imported here: most runs have no configuration file, and every run's scan waits for these imports)
    import tomllib

    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise ConfigProblem(f"{path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigProblem(f"{path}: not TOML ({exc})") from exc
    if not pyproject:
        return doc
    tool = doc.get("tool")
    table = tool.get("virtaudit") if isinstance(tool, dict) else None
    if table is None:
        if required:
            raise ConfigProblem(f"{path}: no [tool.virtaudit] table")
        return {}
    if not isinstance(table, dict):
        raise ConfigProblem(f"{path}: [tool.virtaudit] is not a table")
    return table


def default_map(cwd: Path | None = None) -> dict[str, Any]:
    """The file's settings as defaults of ``virtaudit audit`` (click's ``default_map``: what the command
    line does not give comes from here), and under ``source`` the file they came from."""
    found = find_config(cwd)
    if found is None:
        return {}
    path, table = found
    audit: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
            known = ", ".join(KEYS)
            raise ConfigProblem(f"{path}: unknown key {key!r} (known: {known})")
        if KEYS[key]:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigProblem(f"{path}: {key} must be a list of strings")
        elif not isinstance(value, str):
            raise ConfigProblem(f"{path}: {key} must be a string")
        audit[key] = value
    return {"audit": audit, "source": str(path)}
