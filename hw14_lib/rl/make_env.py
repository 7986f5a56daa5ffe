"""The batched environment a configuration asks for: Gymnasium's HalfCheetah-v5 or the MAML paper's half-cheetah,
stepped by ``mujoco.rollout`` (or, for HalfCheetah-v5, Gymnasium's ``SyncVectorEnv`` of wrappers, the reference)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal, get_args

import gymnasium as gym
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from hw14_lib.rl.envs import BASE_ENV_ID, MAX_EPISODE_STEPS, OBS_DIM, HalfCheetahTaskEnv
from hw14_lib.rl.paper_env import PAPER_OBS_DIM, PaperHalfCheetahEnv, PaperHalfCheetahVectorEnv
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.vector_env import BACKENDS, Backend, HalfCheetahVectorEnv
from hw14_lib.rl.workers import ProcessVectorEnv

EnvName = Literal["gymnasium", "paper"]
Sampler = Literal["threads", "processes"]
"""Where the sampler's blocks of copies run (:class:`~hw14_lib.rl.workers.ProcessVectorEnv` for processes)."""
ENVS: tuple[str, ...] = get_args(EnvName)
OBS_DIMS: dict[str, int] = {"gymnasium": OBS_DIM, "paper": PAPER_OBS_DIM}
"""Observation size of each environment (the policy's input, without a task parameter)."""


@dataclass(frozen=True)
class EnvSpec:
    """An environment and what its observation holds.

    Attributes:
        name: ``"gymnasium"`` (HalfCheetah-v5) or ``"paper"`` (:mod:`hw14_lib.rl.paper_env`).
        task_in_observation: the task's :attr:`~hw14_lib.rl.tasks.Task.parameters` (``d``, ``v``, a dynamics
            task's log-factors or a joint task's one-hot motor) end every observation: the paper's oracle's input.
        task_parameters: how many (:attr:`~hw14_lib.rl.task_families.TaskFamily.parameter_count`).
    """

    name: EnvName = "gymnasium"
    task_in_observation: bool = False
    task_parameters: int = 1

    def __post_init__(self) -> None:
        if self.name not in ENVS:
            raise ValueError(f"env={self.name!r} is unknown; use one of {', '.join(ENVS)}")

    @property
    def observation_dim(self) -> int:
        """The policy's input size: 17 or 20, plus the task parameters of an oracle."""
        return OBS_DIMS[self.name] + (self.task_parameters if self.task_in_observation else 0)


def make_task_vector_env(
    tasks: list[Task],
    *,
    backend: Backend = "mujoco",
    num_threads: int = 1,
    env: EnvName | EnvSpec = "gymnasium",
    processes: bool = False,
) -> gym.vector.VectorEnv:
    """A vector environment with one copy per task (task-major order is the caller's choice).

    Args:
        tasks: the task of each copy, length M.
        backend: ``"mujoco"`` (:class:`HalfCheetahVectorEnv` or :class:`PaperHalfCheetahVectorEnv`, fast) or
            ``"gymnasium"`` (``SyncVectorEnv`` of :class:`HalfCheetahTaskEnv` or :class:`PaperHalfCheetahEnv`, the
            reference implementations).
        num_threads: physics threads of the ``"mujoco"`` backend.
        env: ``"gymnasium"`` (HalfCheetah-v5), ``"paper"`` (:mod:`hw14_lib.rl.paper_env`), or an :class:`EnvSpec`
            (which may add the task parameter to the observation).
        processes: the ``"mujoco"`` backend with ``num_threads`` worker processes for the sampler
            (:class:`~hw14_lib.rl.workers.ProcessVectorEnv`, the same numbers) instead of threads.
    """
    spec = env if isinstance(env, EnvSpec) else EnvSpec(env)
    if processes:
        if backend != "mujoco":
            raise ValueError(f"worker processes need the 'mujoco' backend, not {backend!r}")
        return ProcessVectorEnv(partial(make_task_vector_env, env=spec), tasks, workers=num_threads)
    oracle = {"task_in_observation": spec.task_in_observation, "task_parameters": spec.task_parameters}
    if backend == "mujoco":
        vector_env = PaperHalfCheetahVectorEnv if spec.name == "paper" else HalfCheetahVectorEnv
        return vector_env(tasks, num_threads=num_threads, **oracle)
    if backend == "gymnasium":

        def make(task: Task) -> gym.Env:
            if spec.name == "paper":
                return gym.wrappers.TimeLimit(PaperHalfCheetahEnv(task, **oracle), MAX_EPISODE_STEPS)
            return HalfCheetahTaskEnv(gym.make(BASE_ENV_ID), task, **oracle)

        return SyncVectorEnv([lambda t=t: make(t) for t in tasks], autoreset_mode=AutoresetMode.NEXT_STEP)
    raise ValueError(f"backend={backend!r} is unknown; use one of {', '.join(BACKENDS)}")
