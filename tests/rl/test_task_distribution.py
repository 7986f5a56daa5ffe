"""A task family is one object (``TaskDistribution``) reached through ``TrainConfig.task_distribution``: every
call site draws tasks with all of the family's parameters, the control cost's weight included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hw14_lib.cli import main
from hw14_lib.rl.task_families import TaskDistribution
from hw14_lib.rl.tasks import Task
from hw14_lib.run.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["backward", "direction", "velocity", "signed_velocity", "dynamics"])
def test_each_family_draws_what_its_definition_says(name: str) -> None:
    family = TaskDistribution(name, velocity_range=(0.5, 1.5), dynamics_range=(0.8, 1.25), ctrl_weight=0.5)
    tasks = family.sample(6, np.random.default_rng(3))
    rng = np.random.default_rng(3)  # the naive draws, from the same generator
    if name == "backward":
        assert tasks == [Task.backward(ctrl_weight=0.5)] * 6
    elif name == "direction":
        assert [t.direction for t in tasks] == list(rng.choice([-1.0, 1.0], size=6))
    elif name == "velocity":
        assert [t.goal_velocity for t in tasks] == list(rng.uniform(0.5, 1.5, size=6))
    elif name == "signed_velocity":  # a direction, then a speed
        signs = rng.choice([-1.0, 1.0], size=6)
        assert [t.goal_velocity for t in tasks] == list(signs * rng.uniform(0.5, 1.5, size=6))
        assert {np.sign(t.goal_velocity) for t in family.sample(200, rng)} == {-1.0, 1.0}
    else:
        expected = np.exp(rng.uniform(np.log(0.8), np.log(1.25), size=(6, 3)))
        np.testing.assert_array_equal([t.dynamics for t in tasks], expected)
    assert {t.ctrl_weight for t in tasks} == {0.5}
    assert family.parameter_count == (3 if name == "dynamics" else 1)
    held_out = family.evaluation(4, seed=9)
    if name in ("backward", "direction"):  # a family's fixed held-out tasks
        assert [t.label() for t in held_out] == (["backward"] if name == "backward" else ["backward", "forward"])
    else:  # fresh draws from their own seed
        assert held_out == family.sample(4, np.random.default_rng(9))


def test_an_unknown_family_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"task distribution 'uphill' is unknown; use one of backward, direction"):
        TaskDistribution("uphill")
    with pytest.raises(ValueError, match=r"config field 'task' has value 'uphill'; allowed: one of 'backward'"):
        TrainConfig(task="uphill")


def test_the_paper_configs_give_the_papers_control_cost() -> None:
    for name in ("paper_dir", "paper_vel", "paper_dyn", "paper_crippled", "paper_reversed", "paper_signs"):
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
