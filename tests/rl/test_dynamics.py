"""The dynamics task family (``hw14_lib.rl.dynamics``): a task's model differs from the default exactly by its
factors, the batched environments equal per-task Gymnasium environments step by step (both half-cheetahs, through
a change of tasks), and a configuration trains on it, oracle included."""

from __future__ import annotations

import copy

import mujoco
import numpy as np
import pytest

from hw14_lib.rl.dynamics import DEFAULT_FACTORS, ModelCache
from hw14_lib.rl.make_env import EnvSpec, make_task_vector_env
from hw14_lib.rl.task_families import TaskDistribution, sample_tasks
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.vector_env import half_cheetah_xml_path
from hw14_lib.run.config import TrainConfig

from helpers import assert_steps_alike

FACTORS = (1.5, 0.7, 1.3, *DEFAULT_FACTORS[3:])
SCALED = {"body_mass": 0, "body_inertia": 0, "dof_damping": 1, "geom_friction": 2}
DERIVED = {"body_subtreemass", "dof_M0", "body_invweight0", "dof_invweight0", "tendon_invweight0", "actuator_acc0",
           "stat", "cam_pos0", "cam_poscom0", "cam_mat0", "light_pos0", "light_poscom0", "light_dir0"}  # fmt: skip


def test_a_tasks_model_differs_from_the_default_exactly_by_its_factors() -> None:
    default = mujoco.MjModel.from_xml_path(half_cheetah_xml_path())
    pristine = copy.deepcopy(default)
    scaled = ModelCache(default).model(FACTORS)
    for name, which in SCALED.items():
        np.testing.assert_array_equal(getattr(scaled, name), getattr(pristine, name) * FACTORS[which], err_msg=name)
    np.testing.assert_allclose(scaled.body_subtreemass, pristine.body_subtreemass * FACTORS[0], rtol=1e-12)
    for name in dir(pristine):  # every other numeric field is the default's (the derived constants aside)
        value = getattr(pristine, name)
        if name.startswith("_") or name in SCALED or name in DERIVED or not isinstance(value, np.ndarray):
            continue
        np.testing.assert_array_equal(getattr(scaled, name), value, err_msg=name)
    for name in SCALED:  # the cache's base model is untouched
        np.testing.assert_array_equal(getattr(default, name), getattr(pristine, name), err_msg=name)


def test_the_cache_keeps_only_the_models_in_use() -> None:
    cache = ModelCache(mujoco.MjModel.from_xml_path(half_cheetah_xml_path()))
    first = cache.models([FACTORS, FACTORS, DEFAULT_FACTORS])
    assert first[0] is first[1] and first[2] is cache.base_model  # one model per distinct factors
    heavier = (2.0, 2.0, 2.0, *DEFAULT_FACTORS[3:])
    cache.models([heavier])
    assert set(cache._models) == {heavier, DEFAULT_FACTORS}  # the old tasks' models are dropped


def test_dynamics_tasks_are_log_uniform_and_tell_an_oracle_their_log_factors() -> None:
    tasks = sample_tasks(4000, np.random.default_rng(0), distribution="dynamics", dynamics_range=(0.5, 2.0))
    logs = np.log([t.dynamics for t in tasks])
    assert logs.min() >= np.log(0.5) and logs.max() <= np.log(2.0)
    assert abs(logs.mean()) < 0.02 and logs.std() == pytest.approx(np.log(4.0) / np.sqrt(12), rel=0.05)
    assert tasks[0].parameters == tuple(np.log(tasks[0].dynamics)) and len(tasks[0].parameters) == 3
    dynamics = TaskDistribution("dynamics")
    assert dynamics.parameter_count == 3 and dynamics.placeholder.dynamics == (1.0, 1.0, 1.0)
    assert Task("dynamics", mass=1.2, damping=0.8, friction=1.5).label() == "m=1.20,b=0.80,f=1.50"
    with pytest.raises(ValueError, match="factors need kind 'dynamics'"):
        Task("velocity", mass=2.0)
    with pytest.raises(ValueError, match=r"Task\.friction=0\.0 must be a positive finite factor"):
        Task("dynamics", friction=0.0)


@pytest.mark.parametrize("env", ["gymnasium", "paper"])
@pytest.mark.parametrize("oracle", [False, True], ids=["plain", "oracle"])
def test_batched_dynamics_env_equals_per_task_gymnasium_envs_step_by_step(env: str, oracle: bool) -> None:
    ctrl = 0.5 if env == "paper" else 0.05
    first = sample_tasks(3, np.random.default_rng(1), distribution="dynamics", ctrl_weight=ctrl)
    second = sample_tasks(3, np.random.default_rng(2), distribution="dynamics", ctrl_weight=ctrl)
    spec = EnvSpec(env, task_in_observation=oracle, task_parameters=3)
    fast = make_task_vector_env([Task("dynamics")] * 3, env=spec)
    reference = make_task_vector_env([Task("dynamics")] * 3, env=spec, backend="gymnasium")
    rng = np.random.default_rng(3)
    for tasks, seed in ((first, 5), (second, 6)):  # the models follow set_attr
        fast.set_attr("task", tasks)
        reference.set_attr("task", tasks)
        obs_fast = assert_steps_alike(fast, reference, rng.uniform(-1, 1, (15, 3, 6)), seed=seed, atol=1e-7)
        if oracle:
            np.testing.assert_allclose(obs_fast[:, -3:], np.log([t.dynamics for t in tasks]), rtol=0, atol=1e-15)
    fast.close(), reference.close()


def test_the_factors_change_the_motion() -> None:
    light, heavy = Task("dynamics"), Task("dynamics", mass=2.0, damping=2.0, friction=0.5)
    envs = make_task_vector_env([light, heavy])
    envs.reset(seed=0)
    envs.unwrapped._state[1] = envs.unwrapped._state[0]  # the same start state
    actions = np.tile(np.random.default_rng(0).uniform(-1, 1, (1, 6)), (2, 1))
    for _ in range(10):
        obs, *_ = envs.step(actions)
    assert np.abs(obs[0] - obs[1]).max() > 0.05
    envs.close()


def test_dynamics_config_and_its_oracle_input() -> None:
    cfg = TrainConfig(task="dynamics", oracle=True, objective="pretrain", env="paper")
    assert cfg.observation_dim == 23 and cfg.env_spec.task_parameters == 3
    assert TrainConfig(task="velocity", oracle=True, objective="pretrain").observation_dim == 18
    with pytest.raises(ValueError, match="config field 'dynamics_low/dynamics_high'"):
        TrainConfig(task="dynamics", dynamics_low=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("oracle", [False, True], ids=["maml", "oracle"])
def test_a_config_trains_and_evaluates_on_the_dynamics_family(tmp_path, oracle: bool) -> None:
    from hw14_lib.run.training import train

    from conftest import SMOKE

    overrides = {"objective": "pretrain", "oracle": True} if oracle else {}
    cfg = TrainConfig.from_yaml(SMOKE, task="dynamics", env="paper", ctrl_weight=0.5, **overrides)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary is not None and np.isfinite(summary["adaptation_curve"]["mean_stochastic"]).all()
    assert all(label.startswith("m=") for label in summary["adaptation_curve"]["tasks"])
