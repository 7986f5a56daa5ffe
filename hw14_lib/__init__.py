"""hw14 MAML: Model-Agnostic Meta-Learning (Finn et al. 2017) for MuJoCo HalfCheetah in PyTorch.

Importing the package sets ``MUJOCO_GL=egl`` when unset or empty on Linux (headless rendering) and registers
the Gymnasium ids ``hw14/HalfCheetahBackward-v0``, ``hw14/HalfCheetahDir-v0`` and
``hw14/HalfCheetahVel-v0``.

``mujoco`` is imported with its OpenGL back end disabled: ``import mujoco`` otherwise loads the back
end named by ``MUJOCO_GL`` at once and fails outright on a machine without a working OpenGL (no
libEGL, a wrong ``MUJOCO_GL``, ``egl`` on macOS), which would stop training, not only the video.
Rendering loads the back end lazily (:func:`hw14_lib.run.video.record_video`), and skips the video
with a warning when it cannot.
"""

import os
import sys

if sys.platform.startswith("linux") and not os.environ.get("MUJOCO_GL"):
    os.environ["MUJOCO_GL"] = "egl"
if "mujoco" not in sys.modules:
    _requested_gl = os.environ.get("MUJOCO_GL")
    os.environ["MUJOCO_GL"] = "disable"
    try:
        import mujoco  # noqa: F401
    finally:
        if _requested_gl is None:
            del os.environ["MUJOCO_GL"]
        else:
            os.environ["MUJOCO_GL"] = _requested_gl

from hw14_lib.rl.envs import HalfCheetahBackward, HalfCheetahTaskEnv, register_envs
from hw14_lib.rl.make_env import make_task_vector_env
from hw14_lib.rl.maml import InnerLoop, MetaBatch, adapt, adapt_all, meta_objective
from hw14_lib.rl.policy import GaussianMLPPolicy, load_policy, policy_params, save_policy
from hw14_lib.rl.sampling import TrajectoryBatch, sample_trajectories
from hw14_lib.rl.task_families import sample_tasks
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.vector_env import HalfCheetahVectorEnv
from hw14_lib.run.config import TrainConfig

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
