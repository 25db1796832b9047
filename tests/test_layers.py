"""Imports flow one way: the layer rule in the README's "Where things live", checked.

`core/` (with `settings.py` and `warehouse.py`) is the bottom; `ingestion/` (dlt) and
`transform/` (dbt) build on it side by side, each with its Dagster assets; `orchestration/`
assembles them; `commands/` runs them (make dev, serve, backfill). The example's pieces
(`example/`, `jaffle_api/`) sit beside, imported by nothing of the platform. No folder imports
a folder above it or beside it, and no two modules import each other, directly or in a circle.
"""

import ast
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Each layer and the layers it may import (besides itself).
ALLOWED = {
    "settings": set(),
    "warehouse": {"settings"},
    "core": {"settings", "warehouse"},
    "ingestion": {"settings", "warehouse", "core"},
    "transform": {"settings", "warehouse", "core"},
    "orchestration": {"settings", "warehouse", "core", "ingestion", "transform"},
    # How it is run (make dev, serve, backfill): above what runs, never imported by it.
    "commands": {"settings", "warehouse", "core", "ingestion", "transform", "orchestration"},
    # The example (its checks and chart, and its API stand-in) builds on the platform; the
    # platform never imports it, so a fork deletes both folders and nothing else breaks.
    "example": {"settings", "warehouse", "core", "transform"},
    "jaffle_api": set(),
}


def project_modules() -> dict[str, Path]:
    modules = {}
    for layer in ALLOWED:
        folder = PROJECT_ROOT / layer
        files = folder.rglob("*.py") if folder.is_dir() else [PROJECT_ROOT / f"{layer}.py"]
        for path in files:
            if not path.exists():
                continue
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports, at any depth of its code (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def test_no_layer_imports_a_layer_above_or_beside_it():
    modules = project_modules()
    wrong = sorted(
        f"{module} imports {imported}"
        for module, path in modules.items()
        for imported in imports_of(path, modules)
        if (layer := module.split(".")[0]) != (other := imported.split(".")[0])
        and other not in ALLOWED[layer]
    )
    assert wrong == []


def test_no_two_modules_import_each_other_even_through_others():
    modules = project_modules()
    graph = {
        module: {m for m in imports_of(path, modules) if m != module and m in modules}
        for module, path in modules.items()
    }
    # A package's __init__ importing its own submodules is how packages expose names.
    for module in graph:
        graph[module] = {m for m in graph[module] if not m.startswith(module + ".")}
    cycles = []
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                cycles.append(" -> ".join(trail[trail.index(imported) :] + [imported]))
            elif imported not in state:
                visit(imported, trail + [imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
