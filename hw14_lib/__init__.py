"""hw14 MAML: Model-Agnostic Meta-Learning (Finn et al. 2017) for MuJoCo HalfCheetah in PyTorch.

Importing the package sets ``MUJOCO_GL=egl`` when unset (headless rendering) and registers the
Gymnasium ids ``hw14/HalfCheetahBackward-v0``, ``hw14/HalfCheetahDir-v0`` and
``hw14/HalfCheetahVel-v0``.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from hw14_lib.config import TrainConfig
from hw14_lib.envs import HalfCheetahBackward, HalfCheetahTaskEnv, register_envs
from hw14_lib.maml import InnerLoop, MetaBatch, adapt, adapt_all, meta_objective
from hw14_lib.policy import GaussianMLPPolicy, load_policy, policy_params, save_policy
from hw14_lib.sampling import TrajectoryBatch, sample_trajectories
from hw14_lib.tasks import Task, sample_tasks
from hw14_lib.vector_env import HalfCheetahVectorEnv, make_task_vector_env

register_envs()

__all__ = [
    "GaussianMLPPolicy",
    "HalfCheetahBackward",
    "HalfCheetahTaskEnv",
    "HalfCheetahVectorEnv",
    "InnerLoop",
    "MetaBatch",
    "Task",
    "TrainConfig",
    "TrajectoryBatch",
    "adapt",
    "adapt_all",
    "load_policy",
    "make_task_vector_env",
    "meta_objective",
    "policy_params",
    "register_envs",
    "sample_tasks",
    "sample_trajectories",
    "save_policy",
]
