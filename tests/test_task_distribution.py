"""A task family is one object (``TaskDistribution``) reached through ``TrainConfig.task_distribution``: every
call site draws tasks with all of the family's parameters, the control cost's weight included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hw14_lib.cli import main
from hw14_lib.rl.tasks import TaskDistribution, evaluation_tasks, sample_tasks
from hw14_lib.run.config import TrainConfig

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["backward", "direction", "velocity", "dynamics"])
def test_the_object_draws_what_the_functions_draw(name: str) -> None:
    family = TaskDistribution(name, velocity_range=(0.5, 1.5), dynamics_range=(0.8, 1.25), ctrl_weight=0.5)
    kwargs = {"velocity_range": (0.5, 1.5), "dynamics_range": (0.8, 1.25), "ctrl_weight": 0.5}
    expected = sample_tasks(6, np.random.default_rng(3), distribution=name, **kwargs)
    assert family.sample(6, np.random.default_rng(3)) == expected
    assert family.evaluation(4, seed=9) == evaluation_tasks(name, 4, seed=9, **kwargs)
    assert family.parameter_count == (3 if name == "dynamics" else 1)


def test_the_paper_configs_give_the_papers_control_cost() -> None:
    for name in ("paper_dir", "paper_vel", "paper_dyn"):
        cfg = TrainConfig.from_yaml(REPO / "configs" / f"{name}.yaml")
        tasks = cfg.task_distribution.sample(5, np.random.default_rng(0))
        assert {t.ctrl_weight for t in tasks} == {cfg.ctrl_weight} == {0.5}


def test_diagnose_scores_a_paper_config_with_the_papers_control_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    import hw14_lib.study.diagnostics as diagnostics

    seen: list[float] = []

    def capture(policy, tasks, cfg, **kwargs):
        seen.extend(t.ctrl_weight for t in tasks)
        return []

    monkeypatch.setattr(diagnostics, "inner_step_report", capture)
    status = main(["diagnose", "--config", str(REPO / "configs" / "paper_dir.yaml"), "--tasks", "4"])
    assert status == 0 and seen == [0.5] * 4, seen


@pytest.mark.parametrize("sizes", ["per_tensor", "per_parameter"])
def test_promp_with_learned_step_sizes_is_refused(sizes: str) -> None:
    """ProMP's outer step does not project learned step sizes into their bounds, so the pair is refused."""
    with pytest.raises(ValueError, match=r"'learned_step_sizes' has value .*'none' with outer_optimizer 'promp'"):
        TrainConfig(outer_optimizer="promp", learned_step_sizes=sizes)
    TrainConfig(outer_optimizer="trpo", learned_step_sizes=sizes)  # the pair the report trains
