"""The package's layers, read from its source: every ``import`` of ``hw14_lib`` (module level and inside
functions alike) must go down or sideways, never up, and no chain of imports may come back to where it
started.

A module's layer is its folder's (``../shared/STYLE.md``), lowest first:

0. ``common/``: the vocabulary (methods, families, colours, seed offsets) and atomic file output;
1. ``rl/``, the algorithm: it imports only ``rl.*`` and ``common/``;
2. ``run/``: one training run (configuration, folder, training, evaluation, video, plots);
3. ``study/``: many runs (experiments, jobs, cluster, protocol, diagnostics, comparison plots);
4. ``report/``: reads ``results/``, never trains;
5. the entry points: ``commands/``, ``notebook/`` and the package's own modules (``cli``, ``__init__``,
   ``__main__``).

A new folder fails the test until it is given its layer here; a new module takes its folder's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "hw14_lib"
FOLDER_LAYERS = {"common": 0, "rl": 1, "run": 2, "study": 3, "report": 4, "commands": 5, "notebook": 5}
ENTRY_POINTS = 5
LAYER_NAMES = ("common", "rl", "run", "study", "report", "entry points")


def module_name(path: Path) -> str:
    """``hw14_lib/rl/maml.py`` -> ``rl.maml``; ``hw14_lib/rl/__init__.py`` -> ``rl``; the package's own
    ``__init__`` -> ``__init__``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    """The layer of a module: its folder's, or the entry points' for a module at the package's top."""
    path = MODULES[module]
    if path.parent == PACKAGE:
        return ENTRY_POINTS
    folder = path.relative_to(PACKAGE).parts[0]
    assert folder in FOLDER_LAYERS, f"hw14_lib/{folder}/ has no layer: add it to tests/entry/test_layering.py"
    return FOLDER_LAYERS[folder]


def imports_of(path: Path) -> set[str]:
    """The ``hw14_lib`` modules that ``path`` imports anywhere in its body (``from hw14_lib import plots`` counts
    as ``plots``; ``from hw14_lib.rl.maml import adapt`` as ``rl.maml``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; write hw14_lib.… in full")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hw14_lib":
            base = node.module.removeprefix("hw14_lib").lstrip(".")
            for alias in node.names:
                candidate = f"{base}.{alias.name}".lstrip(".")
                found.add(candidate if candidate in MODULES else base or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "hw14_lib":
                    found.add(alias.name.removeprefix("hw14_lib").lstrip(".") or "__init__")
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_module_has_a_layer_and_every_import_exists() -> None:
    for name, deps in GRAPH.items():
        layer(name)
        missing = deps - MODULES.keys()
        assert not missing, f"hw14_lib.{name} imports {sorted(missing)}, which do not exist"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_never_go_up_a_layer(name: str) -> None:
    upward = {d: LAYER_NAMES[layer(d)] for d in GRAPH[name] if layer(d) > layer(name)}
    assert not upward, f"hw14_lib.{name} ({LAYER_NAMES[layer(name)]}) imports from a higher layer: {upward}"


def test_the_algorithm_imports_only_itself_and_common() -> None:
    for name, deps in GRAPH.items():
        if layer(name) == 1:
            foreign = sorted(d for d in deps if layer(d) not in (0, 1))
            assert not foreign, f"hw14_lib.{name} imports {foreign} from outside rl/ and common/"


def test_the_package_top_holds_only_entry_points() -> None:
    """The application lives in its rooms: only the command line and the package's own files at the top."""
    top = sorted(name for name, path in MODULES.items() if path.parent == PACKAGE)
    assert top == ["__init__", "__main__", "cli"], top


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle ``[a, b, ..., a]`` of ``graph``, or ``None`` (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_there_is_no_import_cycle() -> None:
    # the package's __init__ imports its public names from below and nothing imports it back: leave it out
    # (Python runs it first whatever is imported, which is not an edge of the design)
    graph = {name: deps - {"__init__"} for name, deps in GRAPH.items() if name != "__init__"}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(f"hw14_lib.{m}" for m in cycle)


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    """The checks above can fail: a function-level import that closes a loop is read and reported."""
    source = "import os\n\ndef f():\n    from hw14_lib.run.training import train\n    return train\n"
    (tmp_path / "plots.py").write_text(source, encoding="utf-8")
    assert imports_of(tmp_path / "plots.py") == {"run.training"}
    graph = {name: set(deps) for name, deps in GRAPH.items()}
    graph["run.plots"] |= imports_of(tmp_path / "plots.py")
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and {"run.plots", "run.training"} <= set(cycle), cycle
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_is_over_350_lines() -> None:
    lines = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    long = {name: n for name, n in lines.items() if n > 350}
    assert not long, f"split these modules (one job each): {long}"


def test_no_function_of_the_algorithm_is_over_60_lines() -> None:
    """``rl/`` reads as small functions: none longer than 60 lines (docstring included)."""
    long = {
        f"{name}.{node.name}": node.end_lineno - node.lineno + 1
        for name, path in MODULES.items()
        if layer(name) == 1
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 60
    }
    assert not long, f"split these functions: {long}"
