"""The golden test: retraining the first iterations of committed runs from their saved configurations gives
their committed metrics, line for line (everything but ``wall_seconds``). A change that fails it changes what
``make results`` produces: regenerate ``results/`` with it, or find the unintended change.

The reference runs were trained by the code their ``summary.json`` names (``code.commit``): ``results/backward``
(Adam, the course's task) and ``results/retrained/paper_dir_maml_s0`` (TRPO on the paper's environment), both
retrained after each change of rounding (the sampler's batched per-task forward; NumPy's tanh and the planar centre
of mass: every trajectory changed, the statistics held, docs/results.md); the other committed runs keep the code
that produced them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hw14_lib import TrainConfig
from hw14_lib.run.training import train

from conftest import REPO

pytestmark = [pytest.mark.regression, pytest.mark.slow]


@pytest.mark.parametrize(("run", "iterations"), [("backward", 2), ("retrained/paper_dir_maml_s0", 1)])
def test_training_reproduces_the_committed_results(run: str, iterations: int, tmp_path: Path) -> None:
    """The first iterations of a committed run, retrained from its saved configuration, give the
    same metrics, exactly (Adam for ``backward``, the TRPO meta-step on the paper's environment)."""
    committed = REPO / "results" / run
    cfg = TrainConfig.from_yaml(committed / "config.yaml", iterations=iterations)
    train(cfg, tmp_path, progress=False, evaluate=False)
    ours = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in (committed / "metrics.jsonl").read_text().splitlines()[:iterations]]
    assert len(ours) == iterations
    for new, old in zip(ours, theirs, strict=True):
        assert new.keys() == old.keys()
        new.pop("wall_seconds"), old.pop("wall_seconds")
        assert new == old, f"iteration {new['iteration']}: every value must be equal, to the last bit"
