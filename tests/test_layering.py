"""The package's layers, read from its source: every ``import`` of ``hw14_lib`` (module level and inside
functions alike) must go down or sideways, never up, and no chain of imports may come back to where it
started.

Layers, lowest first (``../shared/STYLE.md``):

0. ``io_utils`` (atomic file output), the leaf;
1. ``rl/``, the algorithm: it imports only ``rl.*`` and the leaf;
2. the application: ``catalogue``, ``config`` (and ``config_checks``, ``config_digest``, ``seeds``), ``run_folder``
   (and ``run_identity``), ``folder_lock``, ``progress``, ``training``, ``evaluation``, ``video``, ``palette``,
   ``plots``, ``study_plots``, ``experiments`` (and ``jobs``), ``diagnostics``, ``protocol``, ``cluster``;
3. ``report/``: reads ``results/``, never trains;
4. the entry points: ``cli``, ``commands/``, ``notebook/``, and the package's ``__init__``/``__main__``.

A module missing from this map fails the test, so a new module has to be given its layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "hw14_lib"
APPLICATION = {
    "catalogue", "config", "config_checks", "config_digest", "seeds", "run_folder", "run_identity", "folder_lock",
    "progress", "training", "evaluation",
    "video", "plots", "palette", "study_plots", "experiments", "jobs", "diagnostics", "protocol", "cluster",
}  # fmt: skip
LAYER_NAMES = ("leaf", "rl", "application", "report", "entry points")


def module_name(path: Path) -> str:
    """``hw14_lib/rl/maml.py`` -> ``rl.maml``; ``hw14_lib/rl/__init__.py`` -> ``rl``; the package's own
    ``__init__`` -> ``__init__``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    """The layer of a module (see the module docstring)."""
    top = module.split(".")[0]
    if module == "io_utils":
        return 0
    if top == "rl":
        return 1
    if module in APPLICATION:
        return 2
    if top == "report":
        return 3
    if top in ("cli", "commands", "notebook", "__init__", "__main__"):
        return 4
    raise AssertionError(f"hw14_lib.{module} has no layer: add it to tests/test_layering.py")


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


def test_the_algorithm_imports_only_itself_and_the_leaf() -> None:
    for name, deps in GRAPH.items():
        if layer(name) == 1:
            foreign = sorted(d for d in deps if layer(d) not in (0, 1))
            assert not foreign, f"hw14_lib.{name} imports {foreign} from outside rl/"


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
    source = "import os\n\ndef f():\n    from hw14_lib.training import train\n    return train\n"
    (tmp_path / "plots.py").write_text(source, encoding="utf-8")
    assert imports_of(tmp_path / "plots.py") == {"training"}
    graph = {name: set(deps) for name, deps in GRAPH.items()}
    graph["plots"] |= imports_of(tmp_path / "plots.py")
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and {"plots", "training"} <= set(cycle), cycle
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_is_over_350_lines() -> None:
    lines = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    long = {name: n for name, n in lines.items() if n > 350}
    assert not long, f"split these modules (one job each): {long}"
