"""The package stays readable: no module over 800 lines, no function over 80 (ruff bounds complexity
and statements per function as well: C901, PLR0915 in pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "virtaudit"
MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 80

# Generated data, not code: the polars-free copy of the rule catalog (`make catalog`) and libvirt's
# capability flag tables (tools/derive_caps_flags.py).
GENERATED = {"_catalog_data.py", "capsflags_data.py"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name not in GENERATED)


def test_no_module_over_800_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert not long, long


def test_no_function_over_80_lines() -> None:
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                # The body, from its first statement after the docstring: a command's signature is its
                # declarative list of options, however long.
                body = (
                    node.body[1:] if ast.get_docstring(node) is not None and len(node.body) > 1 else node.body
                )
                assert node.end_lineno is not None
                lines = node.end_lineno - body[0].lineno + 1
                name = f"{path.relative_to(PACKAGE)}:{node.name}"
                if lines > MAX_FUNCTION_LINES:
                    long[name] = lines
    assert not long, long
