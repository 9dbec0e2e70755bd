"""The package's imports point one way (inputs -> scan -> model -> rules -> auditing/reports -> CLI): no
module imports, directly or through others, a module that imports it, counting imports inside functions
(which hide a cycle from Python at import time but not from a reader). And the paths of the command line
that must stay fast import the catalog without polars."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "virtaudit"

# Edges of known cycles, ignored; each with its reason (delete the entry with the reason).
KNOWN_EDGES: frozenset[tuple[str, str]] = frozenset(
    {
        # sources still answers to the dataset readers' old names (they moved to datasets, which builds
        # on sources' Source and error rows).
        ("virtaudit.sources", "virtaudit.datasets"),
        # Archives nest: reading an archive inside an archive is reading an archive (the inner one goes
        # through sources' reader again, depth-limited), so the two call each other by design.
        ("virtaudit.nested_archives", "virtaudit.sources"),
    }
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere in its body (``from a import b`` counts as ``a.b``
    where that is a module, else ``a``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (imports for type hints only, which
    never run)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    # (the native module has a stub only: a module, but one that imports nothing of the package)
    modules = set(paths) | {_module_name(p) for p in PACKAGE.rglob("*.pyi")}
    return {name: _imports(path, name, modules) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle() -> None:
    graph = import_graph()
    for source, target in KNOWN_EDGES:
        graph[source].discard(target)
    # A submodule may take shared names from its own package's __init__ (reports/json.py from
    # virtaudit.reports): one layer, loaded in order by Python. Every other cycle counts.
    for source, targets in graph.items():
        targets.discard(source.rpartition(".")[0])
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_sees_function_level_imports(tmp_path: Path) -> None:
    # The finder itself: a cycle made only of imports inside functions is found.
    modules = {"p.a", "p.b"}
    (tmp_path / "a.py").write_text("def f():\n    from p import b\n")
    (tmp_path / "b.py").write_text("def g():\n    import p.a\n")
    graph = {
        "p.a": _imports(tmp_path / "a.py", "p.a", modules),
        "p.b": _imports(tmp_path / "b.py", "p.b", modules),
    }
    assert find_cycle(graph) == ["p.a", "p.b", "p.a"]


def test_model_and_rules_do_not_import_upwards() -> None:
    # The model (busnames, versions, targets) and the rules never import auditing, reports or the CLI.
    graph = import_graph()
    upper = ("virtaudit.auditing", "virtaudit.reports", "virtaudit.cli", "virtaudit.pipeline")
    lower = [m for m in graph if m.startswith(("virtaudit.rules", "virtaudit.busnames", "virtaudit.targets"))]
    lower += ["virtaudit.versions", "virtaudit.catalog", "virtaudit.schema"]
    for module in lower:
        bad = sorted(t for t in graph[module] if t.startswith(upper))
        assert not bad, f"{module} imports {bad}"


def test_catalog_paths_do_not_import_polars() -> None:
    code = (
        "import sys\n"
        "import virtaudit.catalog as c, virtaudit.schema, virtaudit.rules\n"
        "c.select_codes('PCI', 'PCI009'); c.markdown(); c.CAPS_FLAGS_USED\n"
        "print(sorted(m for m in sys.modules if m == 'polars' or m.startswith('virtaudit.rules.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
