"""A toy method, as a user would add one: an outer step (gradient descent with momentum on the meta-objective) with
its settings, its meta-learner entry and its catalogue entry. Nothing of it is in ``hw14_lib``; :func:`register` adds
both entries for one test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import torch

from hw14_lib.common import catalogue
from hw14_lib.rl import meta_learners
from hw14_lib.rl.maml import InnerLoop, MetaBatch, meta_objective
from hw14_lib.rl.outer import finish_step
from hw14_lib.rl.policy import GaussianMLPPolicy, policy_params

NAME = "sgd"
"""The meta-learner's name (``outer_optimizer``) and the method's."""


@dataclass(frozen=True)
class SGDSettings:
    """The toy outer step's settings: ``lr`` from the configuration's ``outer_lr``, ``momentum`` (a setting no
    configuration field has) from its ``outer_settings``."""

    lr: float = 0.01
    momentum: float = 0.0
    CONFIG_KEYS: ClassVar[dict[str, str]] = {"lr": "outer_lr"}


class SGDMetaOptimizer:
    """``m <- momentum * m + grad L_meta``, ``theta <- theta - lr * m``: about the smallest outer step there is."""

    def __init__(self, policy: GaussianMLPPolicy, settings: SGDSettings):
        self.policy, self.settings, self.steps = policy, settings, 0
        self.velocity: list[torch.Tensor] | None = None

    def step(self, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        theta = policy_params(self.policy)
        loss, _ = meta_objective(self.policy, theta, batch, inner)
        grads = torch.autograd.grad(loss, list(theta.values()))
        momentum = self.settings.momentum
        self.velocity = [
            g if self.velocity is None else momentum * m + g for g, m in zip(grads, self.velocity or grads, strict=True)
        ]
        with torch.no_grad():
            for p, m in zip(theta.values(), self.velocity, strict=True):
                p -= self.settings.lr * m
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


LEARNER = meta_learners.MetaLearner(
    NAME, SGDSettings, lambda policy, settings, workers: SGDMetaOptimizer(policy, settings)
)
METHOD = catalogue.Method(
    NAME,
    "SGD",
    "black",
    "alpha",
    overrides={"outer_optimizer": NAME, "outer_lr": 0.05, "outer_settings": {"momentum": 0.5}},
)
"""The method: trained with the toy outer step, evaluated with the run's alpha (nothing to validate)."""


def register(monkeypatch: pytest.MonkeyPatch, *, method: bool = True) -> None:
    """Add the meta-learner (and, with ``method``, the catalogue's method) for the test that calls it."""
    monkeypatch.setitem(meta_learners.META_LEARNERS, NAME, LEARNER)
    if method:
        monkeypatch.setattr(catalogue, "METHODS", (*catalogue.METHODS, METHOD))
