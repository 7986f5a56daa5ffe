"""The meta-learner registry: each outer optimizer is one entry with its settings dataclass, built from any
committed configuration, and each finishes its own update (both projections inside the step)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from hw14_lib.rl.maml import InnerLoop
from hw14_lib.rl.meta_learners import META_LEARNERS, meta_learner, settings_from
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy
from hw14_lib.rl.step_sizes import LOG_ALPHA_BOUNDS
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.training import make_outer_optimizer, make_policy

from conftest import REPO
from helpers import ACT_DIM, OBS_DIM, make_meta_batch

INNER = InnerLoop(alpha=0.05)


def test_the_registry_and_the_configuration_name_the_same_meta_learners() -> None:
    fields = TrainConfig().to_dict()
    for learner in META_LEARNERS.values():
        keys = learner.settings.CONFIG_KEYS
        assert set(keys) == {f.name for f in dataclasses.fields(learner.settings)}, learner.name
        assert set(keys.values()) <= set(fields), learner.name
        # the configuration's defaults give the settings the configuration documents
        assert settings_from(learner, fields) == learner.settings(**{s: fields[k] for s, k in keys.items()})
    with pytest.raises(ValueError, match="unknown outer optimizer 'sgd'; registered: adam, trpo, promp"):
        meta_learner("sgd")


@pytest.mark.parametrize("path", sorted((REPO / "results").glob("*/config.yaml")), ids=lambda p: p.parent.name)
def test_every_committed_configuration_builds_its_meta_learner(path: Path) -> None:
    """Every committed run's config.yaml loads, keeps its digest, and its fields fill its meta-learner's settings."""
    cfg = TrainConfig.from_yaml(path)
    settings = cfg.meta_learner_settings
    assert isinstance(settings, meta_learner(cfg.outer_optimizer).settings)
    for setting, key in type(settings).CONFIG_KEYS.items():
        assert getattr(settings, setting) == getattr(cfg, key)
    optimizer = make_outer_optimizer(dataclasses.replace(cfg, hidden_sizes=(4,)), make_policy(cfg))
    assert type(optimizer).__name__.lower().startswith(cfg.outer_optimizer)


@pytest.mark.parametrize("name", list(META_LEARNERS))
def test_every_meta_learner_projects_log_std_and_learned_step_sizes(name: str) -> None:
    """A step that starts (or ends) outside the bounds leaves ``log_std`` and ``log alpha`` on them: the
    projections belong to the step, whichever meta-learner takes it."""
    torch.manual_seed(0)
    step_sizes = {"steps": 1, "init": 0.05, "granularity": "per_tensor"}
    policy = GaussianMLPPolicy(OBS_DIM, ACT_DIM, hidden_sizes=(5,), step_sizes=step_sizes).double()
    batch = make_meta_batch(policy, INNER, inner_steps=1)
    with torch.no_grad():
        policy.log_std.fill_(-100.0)
        for log_alpha in policy.inner_step_sizes.log_alpha:
            log_alpha.fill_(100.0)
    learner = meta_learner(name)
    learner.build(policy, learner.settings(), 1).step(batch, INNER)
    assert torch.equal(policy.log_std.detach(), torch.full((ACT_DIM,), LOG_STD_BOUNDS[0], dtype=torch.float64))
    for log_alpha in policy.inner_step_sizes.log_alpha:
        assert float(log_alpha.detach().max()) == LOG_ALPHA_BOUNDS[1]
