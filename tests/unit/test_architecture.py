"""The package's shape: no import circles (lazy imports inside functions included), and
google.cloud only in the adapters and the code that wires them (bootstrap, the local cloud)."""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "zygarde"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (`from a import b` names a and a.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _imports(path) if m in modules and m != name and not name.startswith(m + ".")}
            for name, path in modules.items()}


def test_no_module_imports_itself_back():
    graph = _graph()
    assert sum(len(edges) for edges in graph.values()) > 200  # the walk sees the package's imports
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_a_circle_would_be_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        return
    raise AssertionError("graphlib found no circle")


def test_google_cloud_is_imported_only_by_adapters_and_their_wiring():
    allowed = ("zygarde.adapters.", "zygarde.local.")
    users = sorted(name for name, path in _modules().items()
                   if any(m == "google.cloud" or m.startswith("google.cloud.") for m in _imports(path)))
    assert "zygarde.adapters.firestore" in users  # the walk sees them
    strays = [name for name in users if not name.startswith(allowed) and name != "zygarde.bootstrap"]
    assert strays == []
