"""The paper's half-cheetah (``hw14_lib.rl.paper_env``) against a naive step-by-step reference of rllab's formulas:
frame skip 1, the torso subtree's centre-of-mass velocity (computed here another way, through its Jacobian),
the clipped control cost, the 20-d observation and the reset noise."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from hw14_lib.rl.make_env import make_task_vector_env
from hw14_lib.rl.paper_env import (
    PAPER_CTRL_WEIGHT,
    PAPER_OBS_DIM,
    PaperHalfCheetahEnv,
    PaperHalfCheetahVectorEnv,
    torso_com_and_velocity,
)
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.vector_env import half_cheetah_xml_path


def reference_episode(task: Task, seed: int, actions: np.ndarray) -> tuple[np.ndarray, list[float], list[np.ndarray]]:
    """One copy stepped with plain ``mj_step``: (first observation, rewards, observations after each step)."""
    model = mujoco.MjModel.from_xml_path(half_cheetah_xml_path())
    data = mujoco.MjData(model)
    rng = gym.utils.seeding.np_random(seed)[0]  # as the vector env seeds copy 0
    data.qpos[:] = data.qpos + 0.01 * rng.standard_normal(model.nq)
    data.qvel[:] = data.qvel + 0.1 * rng.standard_normal(model.nv)
    torso = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "torso")
    jacobian = np.zeros((3, model.nv))

    def observe() -> tuple[np.ndarray, float]:
        mujoco.mj_forward(model, data)
        mujoco.mj_jacSubtreeCom(model, data, jacobian, torso)
        com_velocity = float((jacobian @ data.qvel)[0])
        return np.concatenate([data.qpos[1:], data.qvel, data.subtree_com[torso]]), com_velocity

    first, _ = observe()
    rewards, observations = [], []
    low, high = model.actuator_ctrlrange.T
    for action in actions:
        data.ctrl[:] = action
        mujoco.mj_step(model, data)  # frame skip 1
        obs, com_velocity = observe()
        tracking = (
            task.direction * com_velocity if task.kind == "direction" else -abs(com_velocity - task.goal_velocity)
        )
        rewards.append(tracking - 0.05 * float(np.sum(np.clip(action, low, high) ** 2)))
        observations.append(obs)
    return first, rewards, observations


@pytest.mark.parametrize(
    "task",
    [Task("direction", direction=1.0, ctrl_weight=PAPER_CTRL_WEIGHT),
     Task("velocity", goal_velocity=1.3, ctrl_weight=PAPER_CTRL_WEIGHT)],
)  # fmt: skip
def test_paper_env_is_rllabs_formulas_step_by_step(task: Task) -> None:
    actions = np.random.default_rng(1).uniform(-1.5, 1.5, (25, 6))  # beyond the bounds: the cost clips
    first, rewards, observations = reference_episode(task, 7, actions)
    env = PaperHalfCheetahVectorEnv([task])
    assert env.dt == pytest.approx(0.01) and env.single_observation_space.shape == (PAPER_OBS_DIM,)
    obs, _ = env.reset(seed=7)
    np.testing.assert_allclose(obs[0], first, rtol=0, atol=1e-12)
    for t, action in enumerate(actions):
        obs, reward, terminated, truncated, info = env.step(action[None])
        # mujoco.rollout starts each call from a zero solver warm-start: agreement to ~1e-9, not to the bit
        np.testing.assert_allclose(reward[0], rewards[t], rtol=0, atol=1e-7, err_msg=f"step {t}")
        np.testing.assert_allclose(obs[0], observations[t], rtol=0, atol=1e-7, err_msg=f"step {t}")
        assert info["x_velocity"][0] == info["reward_forward"][0] and not terminated[0] and not truncated[0]
    env.close()


@pytest.mark.parametrize(
    "task",
    [Task("direction", direction=-1.0, ctrl_weight=PAPER_CTRL_WEIGHT),
     Task("velocity", goal_velocity=0.4, ctrl_weight=PAPER_CTRL_WEIGHT)],
)  # fmt: skip
def test_gymnasium_paper_env_is_rllabs_formulas_step_by_step(task: Task) -> None:
    actions = np.random.default_rng(4).uniform(-1.5, 1.5, (25, 6))
    first, rewards, observations = reference_episode(task, 5, actions)
    env = PaperHalfCheetahEnv(task)
    assert env.dt == pytest.approx(0.01) and env.observation_space.shape == (PAPER_OBS_DIM,)
    obs, _ = env.reset(seed=5)
    np.testing.assert_allclose(obs, first, rtol=0, atol=1e-12)
    for t, action in enumerate(actions):
        obs, reward, terminated, truncated, info = env.step(action)
        # the same engine and warm start as the reference: equal to rounding
        np.testing.assert_allclose(reward, rewards[t], rtol=0, atol=1e-10, err_msg=f"step {t}")
        np.testing.assert_allclose(obs, observations[t], rtol=0, atol=1e-10, err_msg=f"step {t}")
        assert info["x_velocity"] == info["reward_forward"] and not terminated and not truncated
    env.close()


def test_batched_paper_env_matches_the_gymnasium_one_through_an_autoreset() -> None:
    tasks = [Task("direction", direction=1.0, ctrl_weight=PAPER_CTRL_WEIGHT),
             Task("velocity", goal_velocity=1.7, ctrl_weight=PAPER_CTRL_WEIGHT)] * 2  # fmt: skip
    fast = PaperHalfCheetahVectorEnv(tasks, max_episode_steps=8)
    reference = gym.vector.SyncVectorEnv(
        [lambda t=t: gym.wrappers.TimeLimit(PaperHalfCheetahEnv(t), 8) for t in tasks],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    np.testing.assert_allclose(fast.reset(seed=2)[0], reference.reset(seed=2)[0], rtol=0, atol=1e-12)
    for t, action in enumerate(np.random.default_rng(3).uniform(-1, 1, (12, 4, 6))):  # an episode ends at 8
        got, want = fast.step(action), reference.step(action)
        for name, a, b in zip(("obs", "reward", "terminated", "truncated"), got[:4], want[:4], strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-7, err_msg=f"{name} at step {t}")
    built = make_task_vector_env(tasks, env="paper", backend="gymnasium")  # the reference backend of a config
    assert isinstance(built.envs[0].unwrapped, PaperHalfCheetahEnv) and built.envs[0]._max_episode_steps == 1000
    np.testing.assert_allclose(built.reset(seed=2)[0], fast.reset(seed=2)[0], rtol=0, atol=1e-12)
    fast.close(), reference.close(), built.close()
    with pytest.raises(RuntimeError, match="closed"):
        fast.reset(seed=2)


def test_paper_env_blocks_in_threads_equal_one_step() -> None:
    tasks = [Task("direction", direction=(-1.0) ** i, ctrl_weight=PAPER_CTRL_WEIGHT) for i in range(4)]
    copies = [t for t in tasks for _ in range(5)]
    whole, parts = PaperHalfCheetahVectorEnv(copies, num_threads=2), PaperHalfCheetahVectorEnv(copies, num_threads=2)
    first = whole.reset(seed=3)[0]
    np.testing.assert_array_equal(first, parts.reset(seed=3)[0])
    actions = np.random.default_rng(0).uniform(-1, 1, (10, 20, 6))
    for t in range(10):
        expected = whole.step(actions[t])
        left = parts.step_rows(slice(0, 10), actions[t, :10], worker=0)
        right = parts.step_rows(slice(10, 20), actions[t, 10:], worker=1)
        for a, b1, b2 in zip(expected[:2], left[:2], right[:2], strict=True):
            np.testing.assert_array_equal(a, np.concatenate([b1, b2]))
    whole.close(), parts.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_centre_of_mass_from_the_planar_kinematics_equals_mujocos_to_1e_12(threads: int) -> None:
    """The batched env computes the torso's centre of mass and its velocity from qpos and qvel over all copies at
    once (rl/planar.py); :func:`torso_com_and_velocity` (the single env's, MuJoCo's functions called one by one) is
    the reference, on default and rescaled (dynamics) models, after resets and steps, in one call and in blocks."""
    tasks = [Task("dynamics", mass=m, damping=b, friction=f, ctrl_weight=PAPER_CTRL_WEIGHT)
             for m, b, f in [(1.0, 1.0, 1.0), (1.6, 0.5, 1.2), (0.6, 1.8, 0.7)]] * 4  # fmt: skip
    env = PaperHalfCheetahVectorEnv(tasks, num_threads=threads)
    torso = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_BODY, "torso")
    reference = {t.dynamics: PaperHalfCheetahEnv(t) for t in tasks}
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(5)
    for t in range(6):
        velocity = None
        if t:
            if threads == 1:
                info = env.step(rng.uniform(-1, 1, (12, 6)))[4]
            else:
                info = {k: np.concatenate([a[4][k], b[4][k]]) for a, b in [(
                    env.step_rows(slice(0, 6), rng.uniform(-1, 1, (6, 6)), worker=0),
                    env.step_rows(slice(6, 12), rng.uniform(-1, 1, (6, 6)), worker=1))] for k in a[4]}  # fmt: skip
            velocity = info["x_velocity"]
            obs = env._observations()
        for i, task in enumerate(tasks):
            single = reference[task.dynamics]
            mujoco.mj_setState(single.model, single.data, env._state[i], mujoco.mjtState.mjSTATE_FULLPHYSICS)
            com, vx = torso_com_and_velocity(single.model, single.data, torso)
            np.testing.assert_allclose(obs[i, -3:], com, rtol=0, atol=1e-12)
            if velocity is not None:
                assert abs(velocity[i] - vx) < 1e-12, (t, i)
    env.close()
    for single in reference.values():
        single.close()


def test_paper_reset_noise_has_rllabs_scales() -> None:
    env = PaperHalfCheetahVectorEnv([Task(ctrl_weight=PAPER_CTRL_WEIGHT)] * 400)
    obs, _ = env.reset(seed=0)
    env.close()
    init = mujoco.MjData(env.model)
    qpos_noise = obs[:, : env.model.nq - 1] - init.qpos[1:]
    qvel_noise = obs[:, env.model.nq - 1 : env.model.nq - 1 + env.model.nv] - init.qvel
    assert qpos_noise.std() == pytest.approx(0.01, rel=0.05) and qvel_noise.std() == pytest.approx(0.1, rel=0.05)
    assert abs(qpos_noise).max() > 0.02  # Gaussian tails: a uniform noise of std 0.01 stays below 0.0174


def test_a_config_trains_and_evaluates_on_the_paper_environment(tmp_path) -> None:
    from hw14_lib.run.config import TrainConfig
    from hw14_lib.run.training import train
    from hw14_lib.run.video import read_video, rendering_problem

    from conftest import SMOKE

    cfg = TrainConfig.from_yaml(SMOKE, env="paper", task="direction", ctrl_weight=PAPER_CTRL_WEIGHT, video=True)
    assert cfg.observation_dim == PAPER_OBS_DIM
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary is not None and np.isfinite(summary["post_adaptation_return"])
    if rendering_problem() is None:  # the video of the paper's environment: T + 1 frames at 1 / dt = 100 fps
        frames, fps = read_video(tmp_path / "run" / "video.mp4")
        assert len(frames) == cfg.horizon + 1 and fps == 100.0 and summary["video"] == "video.mp4"
    from hw14_lib.rl.policy import load_policy

    assert load_policy(tmp_path / "run" / "policy.pt").obs_dim == PAPER_OBS_DIM
    with pytest.raises(ValueError, match="config field 'env' has value 'rllab'"):
        TrainConfig(env="rllab")


def test_the_planar_tree_refuses_a_model_that_is_not_planar() -> None:
    from hw14_lib.rl.paper_env import paper_model
    from hw14_lib.rl.planar import PlanarTree

    model = paper_model()
    model.jnt_axis[model.joint("bshin").id] = (1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="body 'bshin' needs exactly one hinge about y"):
        PlanarTree.of(model)
    model = paper_model()
    model.body_pos[model.body("ffoot").id, 1] = 0.1
    with pytest.raises(ValueError, match="body 'ffoot' is not a planar body"):
        PlanarTree.of(model)
