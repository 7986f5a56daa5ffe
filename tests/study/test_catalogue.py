"""The catalogue is the one place that names the methods and the task families: no other library module quotes
their names (a family's draw is in ``rl/task_families``; a few modules use the same word for another concept, listed
in :data:`HOMONYMS`), and every consumer's list follows the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hw14_lib.common import catalogue
from hw14_lib.common.palette import METHOD_STYLES
from hw14_lib.report.comparison import LABELS, PAPER_BUDGET_M
from hw14_lib.report.data import PAPER_CURVES, PAPER_ORACLE
from hw14_lib.rl import task_families
from hw14_lib.run.config import TrainConfig
from hw14_lib.study.experiments import EXPERIMENTS
from hw14_lib.study.protocol import TABLE_METHODS

PACKAGE = Path(__file__).resolve().parents[2] / "hw14_lib"
OWNERS = {"common/catalogue.py", "rl/task_families.py"}
"""The catalogue (every method and family) and the registry of task distributions (every family's draw)."""
HOMONYMS: dict[str, tuple[set[str], str]] = {
    "rl/tasks.py": ({"direction", "velocity", "dynamics", "backward"}, "a task's kind (its reward) and label"),
    "rl/maml.py": ({"maml"}, "the training objective"),
    "rl/meta_learners.py": ({"promp"}, "ProMP's meta-learner, which the method trains with"),
    "run/config_digest.py": ({"oracle"}, "the configuration field"),
}
"""Modules that quote a method's or family's name as another concept's word, and which names."""
NAMES = sorted(
    {m.name for m in catalogue.METHODS} | {f.name for f in catalogue.FAMILIES} | set(task_families.TASK_FAMILIES)
)


@pytest.mark.parametrize("name", NAMES)
def test_a_name_is_quoted_only_in_its_own_module_and_the_catalogue(name: str) -> None:
    quoted = re.compile(rf"[\"']{re.escape(name)}[\"']")
    modules = {
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if quoted.search(p.read_text(encoding="utf-8"))
    }
    homonyms = {module for module, (names, _) in HOMONYMS.items() if name in names}
    assert modules <= OWNERS | homonyms, f"{name!r} is quoted in {sorted(modules - OWNERS - homonyms)}"
    assert len(modules - homonyms) <= 2


def test_every_consumer_follows_the_catalogue() -> None:
    names = [m.name for m in catalogue.METHODS]
    assert list(TABLE_METHODS) == names and list(METHOD_STYLES) == names and list(LABELS) == names
    for m in catalogue.METHODS:
        assert METHOD_STYLES[m.name].color == m.color and LABELS[m.name] == m.tex_label
    paper = catalogue.paper_families()
    assert set(PAPER_CURVES) == set(PAPER_ORACLE) == set(PAPER_BUDGET_M) == set(paper)
    for short, fam in paper.items():
        assert fam.paper is not None and PAPER_CURVES[short] == dict(fam.paper.curves)
    protocol = [e for e in EXPERIMENTS if e.method is not None]
    assert {e.method for e in protocol} == set(names)  # every method has runs, and each run a catalogue method
    for exp in protocol:  # its family (from its configuration) is the catalogue's
        assert catalogue.family(exp.load_config().task).short in exp.name


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="method='reptile'; allowed: one of maml, maml_lslr"):
        catalogue.method("reptile")
    with pytest.raises(ValueError, match="family='uphill'; allowed: one of dir, vel, dyn"):
        catalogue.family("uphill")
    assert catalogue.family("velocity") is catalogue.family("vel")
    assert TrainConfig(task=catalogue.family("dir").name).task == "direction"
