"""The MAML paper's half-cheetah (rllab's, as ``cbfinn/maml_rl`` ran it) on the same MuJoCo model, batched.

Finn et al. (2017) trained on rllab's HalfCheetah; Gymnasium's HalfCheetah-v5 loads the same model (timestep
0.01 s, the same bodies and gears) but steps and scores it differently. Here, against
:class:`~hw14_lib.rl.vector_env.HalfCheetahVectorEnv`:

* **frame skip 1**: dt = 0.01 s, so T = 200 steps are 2 s of motion (Gymnasium's: 10 s);
* **forward velocity**: the x-velocity of the centre of mass of the torso's subtree (the whole cheetah) after
  the step, rllab's ``get_body_comvel("torso")[0]`` (MuJoCo's ``subtree_linvel``), not the root's displacement;
* **control reward** ``-0.1 ||clip(a)||^2`` on the action clipped to its bounds; with the tasks' control weight
  :data:`PAPER_CTRL_WEIGHT` = 0.5 the cost is rllab's ``0.5 * 0.1 ||clip(a)||^2 = 0.05 ||clip(a)||^2``;
* **observation** (20,): ``qpos[1:]``, ``qvel`` and the torso subtree's centre of mass;
* **reset**: ``qpos + 0.01 N(0, 1)``, ``qvel + 0.1 N(0, 1)``.

The engine differs from rllab's MuJoCo 1.31, so numbers will not match the paper's to the digit; an oracle
trained here is the calibration. :class:`PaperHalfCheetahEnv` is one copy as a Gymnasium environment (the reference
the batched env is tested against, and the renderer of its videos).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from mujoco import rollout

from hw14_lib.rl.dynamics import TaskDynamics
from hw14_lib.rl.planar import PlanarTree
from hw14_lib.rl.tasks import Task, task_rewards
from hw14_lib.rl.vector_env import HalfCheetahVectorEnv, half_cheetah_xml_path

PAPER_CTRL_WEIGHT = 0.5
"""Task control weight that turns ``-0.1 ||clip(a)||^2`` into rllab's ``-0.05 ||clip(a)||^2``."""
PAPER_OBS_DIM = 20
PAPER_QPOS_NOISE, PAPER_QVEL_NOISE = 0.01, 0.1


def torso_com_and_velocity(model: mujoco.MjModel, data: mujoco.MjData, torso: int) -> tuple[np.ndarray, float]:
    """The torso subtree's centre of mass ``(3,)`` and its x-velocity for the state in ``data`` (whose qpos and
    qvel are set): kinematics, the subtree centres of mass and their velocities, no dynamics."""
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    mujoco.mj_comVel(model, data)
    mujoco.mj_subtreeVel(model, data)
    return data.subtree_com[torso].copy(), float(data.subtree_linvel[torso, 0])


class PaperHalfCheetahEnv(HalfCheetahEnv):
    """One copy of the paper's half-cheetah (see the module docstring) as a Gymnasium environment, scored by
    :attr:`task` (settable between episodes, also through ``SyncVectorEnv.set_attr``).

    Args:
        task: the task whose reward :meth:`step` returns (default: backward).
        task_in_observation: append :attr:`Task.parameters` to the observation (an oracle's input).
        task_parameters: how many values that is (:attr:`~hw14_lib.rl.task_families.TaskFamily.parameter_count`).
        **kwargs: rendering options of Gymnasium's MuJoCo environments (``render_mode``, ``width``, ``height``,
            ``camera_name``).

    ``info`` holds ``x_velocity`` (= ``reward_forward``, the centre of mass's) and ``reward_ctrl``
    (``-0.1 ||clip(a)||^2``); wrap it in ``TimeLimit`` for episodes of ``MAX_EPISODE_STEPS``.
    """

    def __init__(
        self, task: Task | None = None, *, task_in_observation: bool = False, task_parameters: int = 1, **kwargs: Any
    ):
        super().__init__(xml_file=half_cheetah_xml_path(), frame_skip=1, **kwargs)
        self._dynamics = TaskDynamics(self.model, self.data)
        self.task = task if task is not None else Task.backward(ctrl_weight=PAPER_CTRL_WEIGHT)
        self.task_in_observation = task_in_observation
        size = PAPER_OBS_DIM + (task_parameters if task_in_observation else 0)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float64)
        self._torso = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "torso")

    @property
    def task(self) -> Task:
        """The task whose reward :meth:`step` returns (and whose dynamics the model has)."""
        return self._task

    @task.setter
    def task(self, task: Task) -> None:
        self._dynamics.set(task.model_factors)
        self._task = task

    def reset_model(self) -> np.ndarray:
        """rllab's start state (``qpos + 0.01 N(0, 1)``, then ``qvel + 0.1 N(0, 1)``) and its observation."""
        qpos = self.init_qpos + PAPER_QPOS_NOISE * self.np_random.standard_normal(self.model.nq)
        qvel = self.init_qvel + PAPER_QVEL_NOISE * self.np_random.standard_normal(self.model.nv)
        self.set_state(qpos, qvel)
        return self._get_obs()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One physics step under ``action``; the task's reward of the new state's centre-of-mass velocity."""
        self.do_simulation(action, self.frame_skip)
        _, velocity = torso_com_and_velocity(self.model, self.data, self._torso)
        low, high = self.model.actuator_ctrlrange.T
        reward_ctrl = -0.1 * float(np.sum(np.clip(action, low, high) ** 2))
        reward = task_rewards([self.task], np.array([velocity]), np.array([velocity]), np.array([reward_ctrl]))[0]
        if self.render_mode == "human":
            self.render()
        info = {"x_velocity": velocity, "reward_forward": velocity, "reward_ctrl": reward_ctrl}
        return self._get_obs(), float(reward), False, False, info

    def _get_obs(self) -> np.ndarray:
        com, _ = torso_com_and_velocity(self.model, self.data, self._torso)
        parts = [self.data.qpos[1:], self.data.qvel, com]
        return np.concatenate(parts + ([np.array(self.task.parameters)] if self.task_in_observation else []))

    def _get_reset_info(self) -> dict[str, Any]:
        return {}


def paper_model() -> mujoco.MjModel:
    """Gymnasium's ``half_cheetah.xml``, the model the paper's environment steps."""
    return mujoco.MjModel.from_xml_path(half_cheetah_xml_path())


class PaperHalfCheetahVectorEnv(HalfCheetahVectorEnv):
    """M copies of the paper's half-cheetah (see the module docstring), stepped like the Gymnasium version.

    The torso subtree's centre of mass and its velocity after a step come from the copies' new ``qpos`` and ``qvel``
    by the cheetah's planar kinematics (:mod:`hw14_lib.rl.planar`), as array operations over the copies (MuJoCo's
    functions called copy by copy cost more than the physics itself and held the GIL).
    """

    frame_skip: ClassVar[int] = 1

    def __init__(self, tasks: list[Task], **options: Any):
        """``options``: those of :class:`HalfCheetahVectorEnv` (threads, time limit, an oracle's observation)."""
        super().__init__(tasks, **options)
        self._tree = PlanarTree.of(self.model)
        self._com = np.zeros((self.num_envs, 3))

    @classmethod
    def build_model(cls) -> mujoco.MjModel:
        """:func:`paper_model`."""
        return paper_model()

    def _set_tasks(self, tasks: list[Task]) -> None:
        super()._set_tasks(tasks)
        self._body_mass = np.stack([model.body_mass[1:] for model in self._models])

    def observation_size(self) -> int:
        """20: ``qpos[1:]``, ``qvel`` and the torso subtree's centre of mass (x, y, z)."""
        return self.model.nq - 1 + self.model.nv + 3

    def reset_noise(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """rllab's start state: ``qpos + 0.01 N(0, 1)``, then ``qvel + 0.1 N(0, 1)``."""
        qpos = self._init_qpos + PAPER_QPOS_NOISE * rng.standard_normal(self.model.nq)
        return qpos, self._init_qvel + PAPER_QVEL_NOISE * rng.standard_normal(self.model.nv)

    def control_reward(self, actions: np.ndarray) -> np.ndarray:
        """``-0.1 ||clip(a)||^2``, the action clipped to the actuators' range, ``(rows,)``."""
        clipped = np.clip(actions, self._ctrl_low, self._ctrl_high)
        return -0.1 * np.sum(clipped**2, axis=1)

    def forward_velocity(
        self, rows: slice, x_before: np.ndarray, runner: rollout.Rollout, datas: list[mujoco.MjData]
    ) -> np.ndarray:
        """The x-velocity of the torso subtree's centre of mass in the copies' new states ``(rows,)``; the
        centres of mass are kept for the observations."""
        return self._centre_of_mass(rows)

    def _reset_rows(self, rows: np.ndarray, runner: rollout.Rollout, datas: list[mujoco.MjData]) -> None:
        super()._reset_rows(rows, runner, datas)
        if len(rows):
            self._centre_of_mass(np.asarray(rows))

    def _centre_of_mass(self, rows: slice | np.ndarray) -> np.ndarray:
        state = self._state[rows]
        com, velocity = self._tree.centre_of_mass(state[:, self._qpos], state[:, self._qvel], self._body_mass[rows])
        self._com[rows] = com
        return velocity

    def state_observations(self, rows: slice = slice(None)) -> np.ndarray:
        """``qpos[1:]``, ``qvel`` and the torso subtree's centre of mass, ``(rows, 20)``."""
        return np.concatenate([super().state_observations(rows), self._com[rows]], axis=1)
