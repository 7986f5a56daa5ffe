"""Batched HalfCheetah: a Gymnasium vector environment that steps every copy in MuJoCo's C rollout.

``HalfCheetahVectorEnv`` simulates M copies of ``HalfCheetah-v5`` (one task each) with a single
``mujoco.rollout`` call per time step, which runs the M physics states on a pool of C++ threads
without the GIL. It reproduces HalfCheetah-v5's observation, reset noise, control cost and
``x_velocity`` exactly (tests compare it step by step with ``gymnasium.vector.SyncVectorEnv`` of
:class:`~hw14_lib.rl.envs.HalfCheetahTaskEnv`), and skips the Python wrapper stack that dominates the
cost of a Gymnasium step. :meth:`HalfCheetahVectorEnv.step_rows` steps one block of copies instead, so that
several Python threads can step disjoint blocks at once (the sampler's parallel path). The MAML paper's
variant of the environment (frame skip 1, centre-of-mass reward, 20-d observation) is
:class:`~hw14_lib.rl.paper_env.PaperHalfCheetahVectorEnv`, which overrides the step's parts.

:func:`hw14_lib.rl.make_env.make_task_vector_env` builds it, the paper's variant or the reference backend.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal, get_args

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.vector import AutoresetMode
from mujoco import rollout

from hw14_lib.rl.dynamics import ModelCache
from hw14_lib.rl.envs import MAX_EPISODE_STEPS
from hw14_lib.rl.tasks import RewardWeights, Task

Backend = Literal["mujoco", "gymnasium"]
BACKENDS: tuple[str, ...] = get_args(Backend)

FRAME_SKIP = 5
CTRL_COST_WEIGHT = 0.1  # HalfCheetah-v5's own weight inside reward_ctrl
RESET_NOISE_SCALE = 0.1
STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS


def half_cheetah_xml_path() -> str:
    """Path of the ``half_cheetah.xml`` that Gymnasium's HalfCheetah-v5 loads."""
    import gymnasium.envs.mujoco as gym_mujoco

    return os.path.join(os.path.dirname(gym_mujoco.__file__), "assets", "half_cheetah.xml")


class HalfCheetahVectorEnv(gym.vector.VectorEnv):
    """M copies of HalfCheetah-v5 with per-copy tasks, stepped together by ``mujoco.rollout``.

    Args:
        tasks: one :class:`Task` per copy (M = ``len(tasks)``); change them with
            ``set_attr("task", tasks)`` between episodes.
        num_threads: C++ threads for the physics (1 runs inline).
        max_episode_steps: truncation length, as HalfCheetah-v5's ``TimeLimit`` (1000).
        task_in_observation: append each copy's :attr:`Task.parameters` to its observation (an oracle's input).
        task_parameters: how many values that is (:attr:`~hw14_lib.rl.task_families.TaskFamily.parameter_count`).

    A dynamics or joint task's copy steps a model of its own (:class:`~hw14_lib.rl.dynamics.ModelCache`).

    Observations have shape (M, 17) (plus an oracle's task parameters) and actions (M, 6) in [-1, 1] (MuJoCo clamps
    values outside; the control cost, as in HalfCheetah-v5, uses the action as given). Autoreset follows
    Gymnasium's ``NEXT_STEP`` mode.

    ``mujoco.rollout`` starts each call from a zero solver warm-start, whereas a Gymnasium env
    keeps it between steps; trajectories agree to ~1e-12 for tens of steps and then drift apart at
    the solver's tolerance (the dynamics are chaotic), with identical statistics.
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.NEXT_STEP}
    frame_skip: ClassVar[int] = FRAME_SKIP
    """Physics substeps per env step (HalfCheetah-v5's 5: dt = 0.05 s)."""

    def __init__(
        self,
        tasks: list[Task],
        *,
        num_threads: int = 1,
        max_episode_steps: int = MAX_EPISODE_STEPS,
        task_in_observation: bool = False,
        task_parameters: int = 1,
    ):
        if len(tasks) < 1:
            raise ValueError("HalfCheetahVectorEnv needs at least one task")
        if num_threads < 1:
            raise ValueError(f"num_threads={num_threads!r} must be >= 1")
        self.model = self.build_model()
        self.num_envs = len(tasks)
        self.num_threads = num_threads
        self.max_episode_steps = max_episode_steps
        self.task_in_observation = task_in_observation
        self.task_parameters = task_parameters
        self._datas = [mujoco.MjData(self.model) for _ in range(num_threads)]
        # One persistent pool (nthread=0 runs inline); rollout.rollout() would build a new one per call.
        self._rollout: rollout.Rollout | None = rollout.Rollout(nthread=num_threads if num_threads > 1 else 0)
        # For step_rows: one inline rollout per calling thread, so blocks of copies advance in parallel
        # Python threads (the physics releases the GIL) without the pool's hand-off at every call.
        self._inline = [rollout.Rollout(nthread=0) for _ in range(num_threads)]
        self._model_cache = ModelCache(self.model)
        self.dt = self.model.opt.timestep * self.frame_skip
        nq, nv, nu = self.model.nq, self.model.nv, self.model.nu
        self._nstate = mujoco.mj_stateSize(self.model, STATE_SPEC)
        # FULLPHYSICS layout: [time, qpos (nq), qvel (nv), act (na), ...]; HalfCheetah has na = 0.
        self._qpos = slice(1, 1 + nq)
        self._qvel = slice(1 + nq, 1 + nq + nv)
        scratch = mujoco.MjData(self.model)
        self._init_state = np.empty(self._nstate)
        mujoco.mj_getState(self.model, scratch, self._init_state, STATE_SPEC)
        self._init_qpos = scratch.qpos.copy()
        self._init_qvel = scratch.qvel.copy()

        obs_dim = self.observation_size() + (task_parameters if task_in_observation else 0)
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float64)
        low, high = self.model.actuator_ctrlrange.T.astype(np.float32)
        self.single_action_space = gym.spaces.Box(low, high, (nu,), np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)

        self._set_tasks(list(tasks))
        self._state = np.tile(self._init_state, (self.num_envs, 1))
        self._out = np.empty((self.num_envs, self.frame_skip, self._nstate))
        self._control = np.empty((self.num_envs, self.frame_skip, nu))
        self._ctrl_low, self._ctrl_high = self.model.actuator_ctrlrange.T.copy()
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._rngs: list[np.random.Generator] | None = None

    @classmethod
    def build_model(cls) -> mujoco.MjModel:
        """The model every copy steps (before a dynamics task rescales it): Gymnasium's ``half_cheetah.xml``."""
        return mujoco.MjModel.from_xml_path(half_cheetah_xml_path())

    # -- tasks ---------------------------------------------------------------------------------
    @property
    def tasks(self) -> list[Task]:
        """The task of each copy, shape (M,)."""
        return list(self._tasks)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        """Set ``task`` of every copy (a list of M tasks, or one task for all), like ``SyncVectorEnv``."""
        if name != "task":
            raise AttributeError(f"HalfCheetahVectorEnv only supports set_attr('task', ...), not {name!r}")
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} tasks, got {len(values)}")
        for task in values:
            if not isinstance(task, Task):
                raise TypeError(f"task must be a hw14_lib.Task, got {type(task).__name__}")
        self._set_tasks(list(values))

    def _set_tasks(self, tasks: list[Task]) -> None:
        if self.task_in_observation and any(len(t.parameters) != self.task_parameters for t in tasks):
            raise ValueError(
                f"an oracle environment built for {self.task_parameters} task parameters got tasks with "
                f"{sorted({len(t.parameters) for t in tasks})}"
            )
        self._tasks = tasks
        self._reward_weights = RewardWeights.of(tasks)
        self._parameters = np.array([t.parameters for t in tasks]) if self.task_in_observation else None
        self._models = self._model_cache.models([t.model_factors for t in tasks])

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``get_attr('task')`` returns the M tasks, as ``SyncVectorEnv`` does."""
        if name != "task":
            raise AttributeError(f"HalfCheetahVectorEnv only supports get_attr('task'), not {name!r}")
        return tuple(self._tasks)

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every copy with HalfCheetah-v5's noise: ``qpos += U(-0.1, 0.1)``, ``qvel += 0.1 N(0, 1)``."""
        if self._rollout is None:
            raise RuntimeError("reset() called on a closed HalfCheetahVectorEnv")
        if seed is not None:
            # Copy i gets seed + i, exactly as SyncVectorEnv seeds its sub-environments.
            self._rngs = [gym.utils.seeding.np_random(seed + i)[0] for i in range(self.num_envs)]
        elif self._rngs is None:
            self._rngs = [gym.utils.seeding.np_random()[0] for _ in range(self.num_envs)]
        self._reset_rows(np.arange(self.num_envs), self._rollout, self._datas)
        return self._observations(), {}

    def observation_size(self) -> int:
        """17: ``qpos[1:]`` and ``qvel`` (HalfCheetah-v5's observation)."""
        return self.model.nq - 1 + self.model.nv

    def reset_noise(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A start state: HalfCheetah-v5's ``qpos + U(-0.1, 0.1)``, ``qvel + 0.1 N(0, 1)``."""
        qpos = self._init_qpos + rng.uniform(-RESET_NOISE_SCALE, RESET_NOISE_SCALE, self.model.nq)
        return qpos, self._init_qvel + RESET_NOISE_SCALE * rng.standard_normal(self.model.nv)

    def forward_velocity(
        self, rows: slice, x_before: np.ndarray, runner: rollout.Rollout, datas: list[mujoco.MjData]
    ) -> np.ndarray:
        """HalfCheetah-v5's ``x_velocity`` of the copies ``rows`` after their step: the root's x displacement over
        the step divided by ``dt`` (``x_before``: the root's x before it), ``(rows,)``. ``runner`` and ``datas``
        (the calling thread's physics) serve subclasses that evaluate the new states."""
        state = self._state[rows]
        return (state[:, self._qpos.start] - x_before) / self.dt

    def control_reward(self, actions: np.ndarray) -> np.ndarray:
        """HalfCheetah-v5's ``reward_ctrl = -0.1 ||a||^2`` on the action as given, ``(rows,)``."""
        return -CTRL_COST_WEIGHT * np.sum(actions**2, axis=1)

    def _reset_rows(self, rows: np.ndarray, runner: rollout.Rollout, datas: list[mujoco.MjData]) -> None:
        """Start the copies ``rows`` afresh (``runner``, ``datas``: the calling thread's physics, for subclasses)."""
        for i in rows:
            qpos, qvel = self.reset_noise(self._rngs[i])
            self._state[i] = self._init_state
            self._state[i, self._qpos] = qpos
            self._state[i, self._qvel] = qvel
        self._elapsed[rows] = 0
        self._needs_reset[rows] = False

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every copy by ``frame_skip = 5`` physics steps under its action (one ``mujoco.rollout``
        call, its M copies split over ``num_threads`` C++ threads).

        Returns:
            ``(obs (M, 17), rewards (M,), terminated (M,), truncated (M,), info)`` where ``info``
            holds arrays ``x_velocity``, ``reward_forward`` and ``reward_ctrl`` of shape (M,).
        """
        if self._rollout is None:
            raise RuntimeError("step() called on a closed HalfCheetahVectorEnv")
        return self._advance(slice(0, self.num_envs), actions, self._rollout, self._datas)

    def step_rows(
        self, rows: slice, actions: np.ndarray, *, worker: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """:meth:`step` for the copies ``rows`` only (a contiguous block), with the physics of the calling thread.

        Threads that step disjoint blocks, each with its own ``worker`` in ``[0, num_threads)``, run their physics
        in parallel (``mujoco.rollout`` releases the GIL) while the others compute their policies. A copy's
        trajectory does not depend on how the copies are grouped: stepping every block gives :meth:`step`'s
        numbers exactly. Returns :meth:`step`'s arrays for the rows of the block.
        """
        if self._rollout is None:
            raise RuntimeError("step_rows() called on a closed HalfCheetahVectorEnv")
        if not 0 <= worker < self.num_threads:
            raise ValueError(f"worker={worker!r}; allowed: an integer in [0, {self.num_threads})")
        start, stop, stride = rows.indices(self.num_envs)
        if stride != 1 or start >= stop:
            raise ValueError(f"rows={rows!r} must be a non-empty contiguous block of the {self.num_envs} copies")
        return self._advance(slice(start, stop), actions, self._inline[worker], self._datas[worker : worker + 1])

    def _advance(
        self, rows: slice, actions: np.ndarray, runner: rollout.Rollout, datas: list[mujoco.MjData]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        count = rows.stop - rows.start
        actions = np.asarray(actions, dtype=np.float64).reshape(count, self.model.nu)
        state, out, control = self._state[rows], self._out[rows], self._control[rows]  # contiguous views
        x_before = state[:, self._qpos.start].copy()
        # MuJoCo clamps ctrl to ctrlrange; HalfCheetah-v5 charges control cost on the action as given.
        np.clip(actions[:, None, :], self._ctrl_low, self._ctrl_high, out=control)
        # Every array is preallocated with the shapes rollout expects, so its Python-side checks,
        # tiling and allocations (a third of the call for 100 copies) are skipped.
        runner.rollout(self._models[rows], datas, state, control, nstep=self.frame_skip, state=out, skip_checks=True)
        state[:] = out[:, -1]
        resetting = self._needs_reset[rows].copy()

        x_velocity = self.forward_velocity(rows, x_before, runner, datas)
        reward_forward = x_velocity
        reward_ctrl = self.control_reward(actions)
        rewards = self._reward_weights.rewards(x_velocity, reward_forward, reward_ctrl, rows)
        self._elapsed[rows] += 1
        truncated = self._elapsed[rows] >= self.max_episode_steps
        terminated = np.zeros(count, dtype=bool)

        if resetting.any():
            # NEXT_STEP autoreset: a copy that ended last step is reset now and reports zeros.
            local = np.flatnonzero(resetting)
            self._reset_rows(local + rows.start, runner, datas)
            rewards[local] = 0.0
            truncated[local] = False
            x_velocity[local] = reward_forward[local] = reward_ctrl[local] = 0.0
        self._needs_reset[rows] = truncated
        info = {"x_velocity": x_velocity, "reward_forward": reward_forward, "reward_ctrl": reward_ctrl}
        return self._observations(rows), rewards, terminated, truncated, info

    def _observations(self, rows: slice = slice(None)) -> np.ndarray:
        observations = self.state_observations(rows)
        if not self.task_in_observation:
            return observations
        return np.concatenate([observations, self._parameters[rows]], axis=1)

    def state_observations(self, rows: slice = slice(None)) -> np.ndarray:
        """The copies' observations of their states, ``(rows, observation_size())``: ``qpos[1:]`` and ``qvel``."""
        qpos = self._state[rows, self._qpos]
        qvel = self._state[rows, self._qvel]
        return np.concatenate([qpos[:, 1:], qvel], axis=1)

    def close_extras(self, **kwargs: Any) -> None:
        if self._rollout is not None:
            self._rollout.close()
            for runner in self._inline:
                runner.close()
            self._rollout = None
