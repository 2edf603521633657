"""The Cloud Functions' requirements cover every third-party package their code can import.

The function's source archive ships functions/main.py and the zygarde package; the runtime
installs terraform/functions-requirements.txt. This walks the import graph from functions/main.py
(imports inside functions included, since the core imports some lazily) and maps each
third-party module to the distribution that installed it, so a package that is used on GCP but
missing from the requirements fails here instead of in a deployed function.
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "terraform" / "functions-requirements.txt"


def _lazy_exports(tree: ast.Module) -> list[ast.FunctionDef]:
    """A module's `__getattr__` (PEP 562): what `zygarde.Client` and the package's other lazy exports import,
    on first access of those names only (zygarde/__init__.py)."""
    return [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"]


def _imported_names(path: Path) -> set[str]:
    """Dotted module names a file imports, anywhere in it, except under `if TYPE_CHECKING:` and in a
    module's `__getattr__` (its lazy exports: test_the_functions_use_no_lazy_export checks they are not used)."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    skip |= {id(n) for node in _lazy_exports(tree) for n in ast.walk(node)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _zygarde_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _reachable_imports(files: set[Path] | None = None) -> set[str]:
    """Third-party module names imported by the code reachable from functions/main.py (its files added to
    `files` when given)."""
    todo, seen, external = [ROOT / "functions" / "main.py"], set() if files is None else files, set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_names(path):
            top = name.split(".")[0]
            if top == "zygarde":
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # the package __init__s on the way run too
                    found = _zygarde_file(".".join(parts[:i]))
                    if found:
                        todo.append(found)
            elif top not in sys.stdlib_module_names and top != "__future__":
                # the package that names the distribution: google.cloud.storage, google.auth, optuna
                depth = 3 if name.startswith("google.cloud.") else 2 if top == "google" else 1
                external.add(".".join(name.split(".")[:depth]))
    return external


def _distribution_of(module: str, by_top: dict[str, list[str]]) -> str | None:
    """The distribution that installed `module` (for a namespace like google: the one whose files hold it)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    origin = Path(spec.origin).resolve()
    candidates = by_top.get(module.split(".")[0], [])
    for name in candidates:
        dist = md.distribution(name)
        if len(candidates) == 1 or any(Path(dist.locate_file(f)).resolve() == origin for f in dist.files or ()):
            return _normalise(dist.metadata["Name"])
    return None


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def test_every_package_the_functions_import_is_in_their_requirements():
    by_top = md.packages_distributions()
    pinned = {_normalise(line.split("==")[0].strip()) for line in REQUIREMENTS.read_text().splitlines()
              if line.split("#")[0].strip()}
    needed: dict[str, str] = {}
    for module in sorted(_reachable_imports()):
        dist = _distribution_of(module, by_top)
        if dist is not None:
            needed.setdefault(dist, module)
    assert "functions-framework" in needed and "google-cloud-firestore" in needed  # the walk works
    missing = {dist: module for dist, module in needed.items() if dist not in pinned}
    assert not missing, f"imported by the functions' code but not in {REQUIREMENTS.name}: {missing}"


def test_the_functions_use_no_lazy_export():
    """The walk above leaves out zygarde/__init__.py's lazy exports (the Python client: pandas, tqdm, the
    local cloud's tools); that holds only while no code the functions reach names them."""
    import zygarde

    files: set[Path] = set()
    _reachable_imports(files)
    assert ROOT / "zygarde" / "__init__.py" in files and ROOT / "zygarde" / "service_layer" / "edge.py" in files
    assert not any(path.is_relative_to(ROOT / "zygarde" / "client") for path in files)
    lazy = set(zygarde.__all__)
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "zygarde":
                assert not lazy & {a.name for a in node.names}, f"{path} imports a lazy export of zygarde"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "zygarde":
                assert node.attr not in lazy, f"{path} uses zygarde.{node.attr}"
