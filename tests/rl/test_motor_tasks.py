"""The motors task families (``crippled``, ``reversed``, ``signs``): a task changes exactly the motors' gears, so a
reversed motor under control ``a`` moves the cheetah as the intact motor under ``-a`` (bit for bit) and a crippled
motor does not move it at all; the batched environments equal per-task Gymnasium environments; an oracle reads the
gears; a configuration trains on every family."""

from __future__ import annotations

import numpy as np
import pytest

from hw14_lib.rl.dynamics import ModelCache
from hw14_lib.rl.make_env import EnvSpec, make_task_vector_env
from hw14_lib.rl.paper_env import PAPER_CTRL_WEIGHT, PaperHalfCheetahVectorEnv, paper_model
from hw14_lib.rl.task_families import ONE_MOTOR_GEARS, TaskDistribution, sample_tasks
from hw14_lib.rl.tasks import INTACT, JOINTS, Task
from hw14_lib.run.config import TrainConfig

from helpers import assert_steps_alike

MOTOR_FAMILIES = (*ONE_MOTOR_GEARS, "signs")
MOTOR = 3  # fthigh


def one_motor(gear: float, motor: int = MOTOR) -> Task:
    """The task whose motor ``motor`` has its gear times ``gear``."""
    return Task("motors", gears=tuple(gear if j == motor else 1.0 for j in range(len(JOINTS))))


def _roll(tasks: list[Task], actions: np.ndarray) -> np.ndarray:
    """The states of M copies of the paper's cheetah from one start state under ``actions`` (steps, M, 6)."""
    envs = PaperHalfCheetahVectorEnv(tasks)
    envs.reset(seed=0)
    envs._state[:] = envs._state[0]
    for action in actions:
        obs, *_ = envs.step(action)
    envs.close()
    return obs


def test_a_motors_task_changes_exactly_its_gears() -> None:
    for family, gain in ONE_MOTOR_GEARS.items():
        task = one_motor(gain)
        model = ModelCache(paper_model()).model(task.model_factors)
        expected = paper_model().actuator_gear.copy()
        expected[MOTOR, 0] *= gain
        np.testing.assert_array_equal(model.actuator_gear, expected, err_msg=family)


def test_a_reversed_motor_moves_the_cheetah_as_the_negated_control_bit_for_bit() -> None:
    actions = np.random.default_rng(1).uniform(-1, 1, (30, 1, 6))
    negated = actions.copy()
    negated[..., MOTOR] *= -1
    reversed_motor = _roll([one_motor(-1.0)], actions)
    intact = _roll([Task("motors")], negated)
    np.testing.assert_array_equal(reversed_motor, intact)
    assert np.abs(_roll([Task("motors")], actions) - intact).max() > 0.05
    signs = np.array([1.0, -1.0, -1.0, 1.0, -1.0, 1.0])
    np.testing.assert_array_equal(
        _roll([Task("motors", gears=tuple(signs))], actions), _roll([Task()], actions * signs)
    )


def test_a_crippled_motor_does_not_move_the_cheetah() -> None:
    actions = np.random.default_rng(2).uniform(-1, 1, (30, 1, 6))
    silent = actions.copy()
    silent[..., MOTOR] = 0.0
    np.testing.assert_array_equal(_roll([one_motor(0.0)], actions), _roll([Task("motors")], silent))


@pytest.mark.parametrize("family", MOTOR_FAMILIES)
def test_motor_families_draw_every_motor_and_tell_the_oracle_the_gears(family: str) -> None:
    tasks = sample_tasks(600, np.random.default_rng(0), distribution=family, ctrl_weight=PAPER_CTRL_WEIGHT)
    gears = np.array([t.gears for t in tasks])
    changed = gears != 1.0
    if family in ONE_MOTOR_GEARS:  # one motor each, every motor about as often, at the family's gear
        assert (changed.sum(axis=1) == 1).all() and changed.sum(axis=0).min() > 70
        assert set(gears[changed]) == {ONE_MOTOR_GEARS[family]}
    else:  # each motor reversed with probability 1/2, independently
        assert set(gears.ravel()) == {-1.0, 1.0} and np.abs(changed.mean(axis=0) - 0.5).max() < 0.07
        assert len({t.gears for t in tasks}) > 55
    assert tasks[0].parameters == tasks[0].gears
    distribution = TaskDistribution(family)
    assert distribution.parameter_count == len(JOINTS) == len(distribution.placeholder.parameters)
    assert one_motor(-1.0, 0).label() == "bthigh x-1" and Task("motors").label() == "intact"
    cfg = TrainConfig(task=family, env="paper", oracle=True, objective="pretrain")
    assert cfg.observation_dim == 20 + len(JOINTS)


def test_bad_motors_tasks_are_refused_with_one_line() -> None:
    with pytest.raises(ValueError, match=r"must be 6 finite factors \(bthigh, "):
        Task("motors", gears=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"must be 6 finite factors"):
        Task("motors", gears=(*INTACT[:5], float("nan")))
    with pytest.raises(ValueError, match=r"keeps every motor; gears need kind 'motors'"):
        Task("direction", gears=(0.0, *INTACT[1:]))


@pytest.mark.parametrize("env", ["gymnasium", "paper"])
def test_batched_motors_env_equals_per_task_gymnasium_envs_step_by_step(env: str) -> None:
    tasks = sample_tasks(3, np.random.default_rng(4), distribution="signs", ctrl_weight=0.5)
    spec = EnvSpec(env, task_in_observation=True, task_parameters=len(JOINTS))
    fast = make_task_vector_env([Task("motors")] * 3, env=spec)
    reference = make_task_vector_env([Task("motors")] * 3, env=spec, backend="gymnasium")
    fast.set_attr("task", tasks)
    reference.set_attr("task", tasks)
    actions = np.random.default_rng(3).uniform(-1, 1, (15, 3, 6))
    obs_fast = assert_steps_alike(fast, reference, actions, seed=5, atol=1e-7)
    np.testing.assert_array_equal(obs_fast[:, -len(JOINTS) :], [t.parameters for t in tasks])
    fast.close(), reference.close()


@pytest.mark.slow
@pytest.mark.parametrize("family", MOTOR_FAMILIES)
def test_a_config_trains_and_evaluates_on_a_motors_family(tmp_path, family: str) -> None:
    from hw14_lib.run.training import train

    from conftest import SMOKE

    cfg = TrainConfig.from_yaml(SMOKE, task=family, env="paper", ctrl_weight=0.5)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary is not None and np.isfinite(summary["adaptation_curve"]["mean_stochastic"]).all()
    labels = summary["adaptation_curve"]["tasks"]
    assert all(label == "intact" or label.split()[0] in JOINTS for label in labels)
