"""A new task family and a new meta-learner are each one registry entry: a toy family (two goal velocities) and a
toy outer step (plain gradient descent with its own settings) train and evaluate end to end through the library's
ordinary entry points, added here in the test and nowhere in ``hw14_lib``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from hw14_lib.rl import meta_learners, task_families
from hw14_lib.rl.maml import InnerLoop, MetaBatch, meta_objective
from hw14_lib.rl.outer import finish_step
from hw14_lib.rl.policy import GaussianMLPPolicy, policy_params
from hw14_lib.rl.task_families import TaskDistribution, TaskFamily
from hw14_lib.rl.tasks import Task
from hw14_lib.run.config import TrainConfig

from conftest import SMOKE

GOALS = (0.5, 1.5)


def _two_speeds(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
    return [Task("velocity", goal_velocity=float(v), ctrl_weight=dist.ctrl_weight) for v in rng.choice(GOALS, n)]


@dataclass(frozen=True)
class SGDSettings:
    """The toy outer step's settings, filled from the configuration's ``outer_lr``."""

    lr: float = 0.01
    CONFIG_KEYS: ClassVar[dict[str, str]] = {"lr": "outer_lr"}


class SGDMetaOptimizer:
    """``theta <- theta - lr * grad L_meta``: the smallest outer step there is."""

    def __init__(self, policy: GaussianMLPPolicy, settings: SGDSettings):
        self.policy, self.lr, self.steps = policy, settings.lr, 0

    def step(self, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        theta = policy_params(self.policy)
        loss, _ = meta_objective(self.policy, theta, batch, inner)
        grads = torch.autograd.grad(loss, list(theta.values()))
        with torch.no_grad():
            for p, g in zip(theta.values(), grads, strict=True):
                p -= self.lr * g
        finish_step(self.policy)
        self.steps += 1
        return {
            "meta_loss": loss.item(),
            "grad_norm": float(torch.linalg.vector_norm(torch.cat([g.ravel() for g in grads]))),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])


@pytest.fixture
def toy_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(task_families.TASK_FAMILIES, "two_speeds", TaskFamily("two_speeds", 1, _two_speeds))
    learner = meta_learners.MetaLearner(
        "sgd", SGDSettings, lambda policy, settings, workers: SGDMetaOptimizer(policy, settings)
    )
    monkeypatch.setitem(meta_learners.META_LEARNERS, "sgd", learner)


@pytest.mark.slow
@pytest.mark.usefixtures("toy_registries")
def test_a_toy_family_and_a_toy_meta_learner_train_and_evaluate(tmp_path) -> None:
    from hw14_lib.run.training import train

    cfg = TrainConfig.from_yaml(SMOKE, task="two_speeds", outer_optimizer="sgd", outer_lr=0.05, eval_tasks=3)
    assert cfg.meta_learner_settings == SGDSettings(lr=0.05)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary is not None and np.isfinite(summary["adaptation_curve"]["mean_stochastic"]).all()
    assert {label for label in summary["adaptation_curve"]["tasks"]} <= {f"v={g:.2f}" for g in GOALS}
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["optimizer"] == {"steps": cfg.iterations}


def test_without_their_entries_the_configuration_refuses_them() -> None:
    with pytest.raises(ValueError, match=r"config field 'task' has value 'two_speeds'"):
        TrainConfig(task="two_speeds")
    with pytest.raises(ValueError, match=r"config field 'outer_optimizer' has value 'sgd'; allowed: one of 'adam'"):
        TrainConfig(outer_optimizer="sgd")
