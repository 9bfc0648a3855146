"""The import graph of storfs: every module imports on its own, and its arrows form a DAG.

Every `import storfs.x` / `from storfs.x import y` / relative import counts, at any depth (an
import inside a function or under TYPE_CHECKING hides a cycle from Python, not from this test).
`from package import module` is an arrow to the module only (a package's own `__init__` runs
first for any of its modules; that implicit arrow is not counted)."""

from __future__ import annotations

import ast
import importlib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import storfs

ROOT = Path(storfs.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # a module imported from its package, else a name from base
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {target for target in found if target in MODULES and target != name}


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    assert sum(map(len, graph.values())) > len(MODULES), "the graph should have arrows"
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")
    assert set(order) == set(MODULES)


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"storfs.__main__"}))
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_a_cycle_is_found() -> None:
    """The checker itself: an arrow back from a bottom module closes a cycle."""
    graph = {name: imports_of(name) for name in MODULES}
    assert "storfs.errors" in graph["storfs.transport"]
    graph["storfs.errors"] = graph["storfs.errors"] | {"storfs.transport"}
    with pytest.raises(CycleError):
        list(TopologicalSorter(graph).static_order())
