"""Gymnasium environments: HalfCheetah-v5 with a task-defined reward, and their registration.

``HalfCheetahTaskEnv`` wraps ``HalfCheetah-v5`` and replaces its reward by the task's reward,
recomputed from the step ``info`` (see :mod:`hw14_lib.rl.tasks`). ``HalfCheetahBackward`` is the
course's environment, ``r = -1.0 * reward_forward + 0.05 * reward_ctrl``.

Importing :mod:`hw14_lib` registers:

* ``hw14/HalfCheetahBackward-v0``
* ``hw14/HalfCheetahDir-v0``  (``direction=-1|+1``)
* ``hw14/HalfCheetahVel-v0``  (``goal_velocity=v``)
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from hw14_lib.rl.dynamics import TaskDynamics
from hw14_lib.rl.tasks import DEFAULT_CTRL_WEIGHT, DEFAULT_FORWARD_WEIGHT, Task

BASE_ENV_ID = "HalfCheetah-v5"
MAX_EPISODE_STEPS = 1000
OBS_DIM, ACT_DIM = 17, 6
"""HalfCheetah-v5's observation and action sizes (checked against the environment when sampling)."""


class HalfCheetahTaskEnv(gym.Wrapper):
    """``HalfCheetah-v5`` whose reward is the reward of :attr:`task`.

    The original reward is kept in ``info["original_reward"]`` and the task reward in
    ``info["task_reward"]``; the 5-tuple API is unchanged, the dynamics too unless the task scales them (a dynamics
    or joint task rescales the model in place, :mod:`hw14_lib.rl.dynamics`), and so are observations unless
    ``task_in_observation`` appends the task's :attr:`~hw14_lib.rl.tasks.Task.parameters` (``task_parameters`` of
    them: an oracle's input).
    """

    def __init__(
        self,
        env: gym.Env | None = None,
        task: Task | None = None,
        *,
        task_in_observation: bool = False,
        task_parameters: int = 1,
        **make_kwargs: Any,
    ):
        if env is None:
            env = gym.make(BASE_ENV_ID, **make_kwargs)
        elif make_kwargs:
            raise TypeError(f"keyword arguments {sorted(make_kwargs)} need env=None")
        super().__init__(env)
        self._dynamics = TaskDynamics(env.unwrapped.model, env.unwrapped.data)  # type: ignore[attr-defined]
        self.task = task if task is not None else Task.backward()
        self.task_in_observation = task_in_observation
        if task_in_observation:
            (size,) = env.observation_space.shape
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size + task_parameters,), np.float64)

    @property
    def task(self) -> Task:
        """The task whose reward this environment returns; may be changed between episodes."""
        return self._task

    @task.setter
    def task(self, task: Task) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"task must be a hw14_lib.Task, got {type(task).__name__}")
        self._dynamics.set(task.model_factors)
        self._task = task

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._observation(obs), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, original_reward, terminated, truncated, info = self.env.step(action)
        reward = self._task.reward(info["x_velocity"], info["reward_forward"], info["reward_ctrl"])
        info["original_reward"] = float(original_reward)
        info["task_reward"] = reward
        return self._observation(obs), reward, terminated, truncated, info

    def _observation(self, obs: np.ndarray) -> np.ndarray:
        return np.append(obs, self._task.parameters) if self.task_in_observation else obs


class HalfCheetahBackward(HalfCheetahTaskEnv):
    """The course's environment: ``r = -w_f * reward_forward + w_c * reward_ctrl``, ``w_f=1, w_c=0.05``."""

    def __init__(
        self,
        *,
        forward_weight: float = DEFAULT_FORWARD_WEIGHT,
        ctrl_weight: float = DEFAULT_CTRL_WEIGHT,
        **make_kwargs: Any,
    ):
        task = Task.of_direction(-1.0, forward_weight=forward_weight, ctrl_weight=ctrl_weight)
        super().__init__(None, task, **make_kwargs)


def make_direction_env(
    *, direction: float = 1.0, ctrl_weight: float = DEFAULT_CTRL_WEIGHT, **make_kwargs: Any
) -> HalfCheetahTaskEnv:
    """Entry point of ``hw14/HalfCheetahDir-v0``: ``r = d * reward_forward + w_c * reward_ctrl``."""
    task = Task.of_direction(direction, ctrl_weight=ctrl_weight)
    return HalfCheetahTaskEnv(None, task, **make_kwargs)


def make_velocity_env(
    *, goal_velocity: float = 1.0, ctrl_weight: float = DEFAULT_CTRL_WEIGHT, **make_kwargs: Any
) -> HalfCheetahTaskEnv:
    """Entry point of ``hw14/HalfCheetahVel-v0``: ``r = -|x_velocity - v| + w_c * reward_ctrl``."""
    task = Task.of_velocity(goal_velocity, ctrl_weight=ctrl_weight)
    return HalfCheetahTaskEnv(None, task, **make_kwargs)


ENV_IDS: dict[str, str] = {
    "hw14/HalfCheetahBackward-v0": "hw14_lib.rl.envs:HalfCheetahBackward",
    "hw14/HalfCheetahDir-v0": "hw14_lib.rl.envs:make_direction_env",
    "hw14/HalfCheetahVel-v0": "hw14_lib.rl.envs:make_velocity_env",
}


def register_envs() -> None:
    """Register the three ids with Gymnasium; calling it again is harmless."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gym.registry:
            # The inner HalfCheetah-v5 already has a TimeLimit of 1000 steps.
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=True)


def observation_action_sizes() -> tuple[int, int]:
    """``(obs_dim, act_dim)`` of HalfCheetah-v5 (17, 6), read from the environment itself."""
    env = gym.make(BASE_ENV_ID)
    try:
        obs_dim = int(np.prod(env.observation_space.shape))
        act_dim = int(np.prod(env.action_space.shape))
    finally:
        env.close()
    return obs_dim, act_dim
