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

import copy
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from mujoco import rollout

from hw14_lib.rl.dynamics import ModelCache, TaskDynamics
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


TORSO_SENSORS = (mujoco.mjtSensor.mjSENS_SUBTREECOM, mujoco.mjtSensor.mjSENS_SUBTREELINVEL)
"""The sensors :func:`paper_model` adds: the torso subtree's centre of mass (3) and its linear velocity (3)."""
KINEMATICS_ONLY = (
    mujoco.mjtDisableBit.mjDSBL_CONSTRAINT
    | mujoco.mjtDisableBit.mjDSBL_CONTACT
    | mujoco.mjtDisableBit.mjDSBL_SPRING
    | mujoco.mjtDisableBit.mjDSBL_DAMPER
    | mujoco.mjtDisableBit.mjDSBL_GRAVITY
    | mujoco.mjtDisableBit.mjDSBL_ACTUATION
    | mujoco.mjtDisableBit.mjDSBL_WARMSTART
)
"""Disable flags of :func:`kinematics_model`: no contacts, constraints, forces or solver, only what the position
and velocity sensors read (MuJoCo's ``mjDisableBit``)."""


def paper_model() -> mujoco.MjModel:
    """Gymnasium's ``half_cheetah.xml`` with :data:`TORSO_SENSORS` on the torso, switched off: the physics steps
    as before and :func:`kinematics_model` switches them on."""
    spec = mujoco.MjSpec.from_file(half_cheetah_xml_path())
    for kind in TORSO_SENSORS:
        spec.add_sensor(type=kind, objtype=mujoco.mjtObj.mjOBJ_BODY, objname="torso")
    model = spec.compile()
    model.opt.disableflags = int(model.opt.disableflags) | int(mujoco.mjtDisableBit.mjDSBL_SENSOR)
    return model


def kinematics_model(model: mujoco.MjModel) -> mujoco.MjModel:
    """A copy of ``model`` whose step only evaluates its sensors: a step computes the sensors of the state it
    starts from (before integrating), and here nothing else that costs (:data:`KINEMATICS_ONLY`) and a timestep 0,
    so the state it writes back is the one given. A ``mujoco.rollout`` of one such step computes, in C and without
    the GIL, exactly what :func:`torso_com_and_velocity` computes (tested bit for bit)."""
    kinematic = copy.deepcopy(model)
    kinematic.opt.timestep = 0.0
    flags = int(kinematic.opt.disableflags) & ~int(mujoco.mjtDisableBit.mjDSBL_SENSOR)
    kinematic.opt.disableflags = flags | int(KINEMATICS_ONLY)
    return kinematic


class PaperHalfCheetahVectorEnv(HalfCheetahVectorEnv):
    """M copies of the paper's half-cheetah (see the module docstring), stepped like the Gymnasium version.

    The torso subtree's centre of mass and its velocity after a step are read from MuJoCo sensors: a second
    ``mujoco.rollout`` call of one zero-length step on each copy's :func:`kinematics_model` (a Python loop over the
    copies cost more than the physics itself and held the GIL).
    """

    frame_skip: ClassVar[int] = 1

    def __init__(self, tasks: list[Task], **options: Any):
        """``options``: those of :class:`HalfCheetahVectorEnv` (threads, time limit, an oracle's observation)."""
        self._kinematics = ModelCache(kinematics_model(self.build_model()))
        super().__init__(tasks, **options)
        self._com = np.zeros((self.num_envs, 3))
        self._sensors = np.empty((self.num_envs, 1, self.model.nsensordata))
        self._after = np.empty((self.num_envs, 1, self._nstate))
        self._no_control = np.zeros((self.num_envs, 1, self.model.nu))

    @classmethod
    def build_model(cls) -> mujoco.MjModel:
        """:func:`paper_model`: Gymnasium's model with the torso's centre-of-mass sensors."""
        return paper_model()

    def _set_tasks(self, tasks: list[Task]) -> None:
        super()._set_tasks(tasks)
        self._kinematic_models = self._kinematics.models([t.model_factors for t in tasks])

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
        sensors = self._sensors[rows]
        runner.rollout(
            self._kinematic_models[rows],
            datas,
            self._state[rows],
            self._no_control[rows],
            nstep=1,
            state=self._after[rows],
            sensordata=sensors,
            skip_checks=True,
        )
        self._com[rows] = sensors[:, 0, :3]
        return sensors[:, 0, 3].copy()

    def _reset_rows(self, rows: np.ndarray, runner: rollout.Rollout, datas: list[mujoco.MjData]) -> None:
        super()._reset_rows(rows, runner, datas)
        rows = np.asarray(rows)
        if rows.size:
            sensors = np.empty((rows.size, 1, self.model.nsensordata))
            models = [self._kinematic_models[i] for i in rows]
            runner.rollout(models, datas, self._state[rows], nstep=1, sensordata=sensors)
            self._com[rows] = sensors[:, 0, :3]

    def state_observations(self, rows: slice = slice(None)) -> np.ndarray:
        """``qpos[1:]``, ``qvel`` and the torso subtree's centre of mass, ``(rows, 20)``."""
        return np.concatenate([super().state_observations(rows), self._com[rows]], axis=1)
