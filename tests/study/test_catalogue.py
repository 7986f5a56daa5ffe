"""The catalogue is the one place that names the methods: no other library module quotes a method's name (apart
from the experiment registry, which names the runs that train them), and every consumer's list follows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hw14_lib.common import catalogue
from hw14_lib.common.palette import METHOD_STYLES
from hw14_lib.report.comparison import LABELS, PAPER_BUDGET_M
from hw14_lib.report.data import PAPER_CURVES, PAPER_ORACLE
from hw14_lib.run.config import TrainConfig
from hw14_lib.study.experiments import EXPERIMENTS
from hw14_lib.study.protocol import TABLE_METHODS

PACKAGE = Path(__file__).resolve().parents[2] / "hw14_lib"
ALLOWED = {"common/catalogue.py", "study/experiments.py"}
"""The catalogue, and the registry of experiments, whose entries name the runs of each method."""


def _config_values() -> set[str]:
    """Names that are also configuration fields (``oracle: true``) or their values (``objective: maml``,
    ``outer_optimizer: promp``): the configuration's vocabulary, not the catalogue's."""
    import dataclasses
    from typing import get_args

    from hw14_lib.rl.meta_learners import META_LEARNERS
    from hw14_lib.run.config import Objective

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return set(get_args(Objective)) | set(META_LEARNERS) | fields


@pytest.mark.parametrize("name", [m.name for m in catalogue.METHODS if m.name not in _config_values()])
def test_a_method_name_is_quoted_only_in_the_catalogue(name: str) -> None:
    quoted = re.compile(rf"[\"']{re.escape(name)}[\"']")
    modules = {
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if quoted.search(p.read_text(encoding="utf-8"))
    }
    assert modules <= ALLOWED, f"{name!r} is quoted outside the catalogue: {sorted(modules - ALLOWED)}"


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
