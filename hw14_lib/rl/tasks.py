"""The tasks of HalfCheetah meta-RL and the reward each assigns (their families: :mod:`hw14_lib.rl.task_families`).

A direction or velocity task changes only the reward, never the dynamics, so one MuJoCo model serves them all; a
dynamics task scales the model's masses, damping and friction, and a motors task the gears of the six motors
(crippled: one motor disabled, ``g_j = 0``, as in Nagabandi et al. 2019; reversed: one motor reversed, ``g_j = -1``;
signs: each motor reversed with probability 1/2), both in the model (:mod:`hw14_lib.rl.dynamics`) and both reward
running forward. Rewards are recomputed from the quantities
Gymnasium's ``HalfCheetah-v5`` reports in its step ``info`` (``reward_forward = x_velocity`` and
``reward_ctrl = -0.1 * ||a||^2``):

* direction ``d``:      ``r = d * forward_weight * reward_forward + ctrl_weight * reward_ctrl``
* goal velocity ``v``:  ``r = -|x_velocity - v| + ctrl_weight * reward_ctrl``
* dynamics ``(m, b, f)`` and motors ``g``: ``r = forward_weight * reward_forward + ctrl_weight * reward_ctrl``

The course's ``HalfCheetahBackward`` task is the direction task with ``d = -1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

TaskKind = Literal["direction", "velocity", "dynamics", "motors"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)

DEFAULT_FORWARD_WEIGHT = 1.0
DEFAULT_CTRL_WEIGHT = 0.05
JOINTS = ("bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")
"""The half-cheetah's motors, in the model's order (the order of a motors task's gears)."""
INTACT = (1.0,) * len(JOINTS)
"""Every motor's own gear."""


@dataclass(frozen=True)
class Task:
    """One MDP of the family: a running direction, a goal velocity, scaled dynamics, or the motors' gears scaled.

    Attributes:
        kind: ``"direction"``, ``"velocity"``, ``"dynamics"`` or ``"motors"``.
        direction: ``d`` in {-1, +1}; used when ``kind == "direction"``.
        goal_velocity: ``v`` in m/s; used when ``kind == "velocity"``.
        forward_weight: weight of ``reward_forward`` for direction and dynamics tasks.
        ctrl_weight: weight of ``reward_ctrl`` (which is <= 0) for every task.
        mass, damping, friction: factors of the model's masses and inertias, joint damping and friction
            (``kind == "dynamics"``; 1 for the others).
        gears: the factors of the six motors' gears, in the order of :data:`JOINTS` (``kind == "motors"``; all 1
            for the others).
    """

    kind: TaskKind = "direction"
    direction: float = -1.0
    goal_velocity: float = 0.0
    forward_weight: float = DEFAULT_FORWARD_WEIGHT
    ctrl_weight: float = DEFAULT_CTRL_WEIGHT
    mass: float = 1.0
    damping: float = 1.0
    friction: float = 1.0
    gears: tuple[float, ...] = INTACT

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"Task.kind={self.kind!r} is not allowed; use one of {', '.join(TASK_KINDS)}")
        if self.kind == "direction" and self.direction not in (-1.0, 1.0):
            raise ValueError(f"Task.direction={self.direction!r} is not allowed; use -1 or +1")
        for name in ("goal_velocity", "forward_weight", "ctrl_weight"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"Task.{name}={getattr(self, name)!r} must be a finite number")
        for name in ("mass", "damping", "friction"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"Task.{name}={value!r} must be a positive finite factor")
        if self.kind != "dynamics" and self.dynamics != (1.0, 1.0, 1.0):
            raise ValueError(f"Task.kind={self.kind!r} keeps the model's dynamics; factors need kind 'dynamics'")
        if len(self.gears) != len(JOINTS) or not np.isfinite(self.gears).all():
            raise ValueError(f"Task.gears={self.gears!r} must be {len(JOINTS)} finite factors ({', '.join(JOINTS)})")
        if self.kind != "motors" and tuple(self.gears) != INTACT:
            raise ValueError(f"Task.kind={self.kind!r} keeps every motor; gears need kind 'motors'")

    @classmethod
    def backward(cls, *, ctrl_weight: float = DEFAULT_CTRL_WEIGHT) -> Task:
        """The starter code's task: run backward, ``r = -reward_forward + 0.05 * reward_ctrl``."""
        return cls.of_direction(-1.0, ctrl_weight=ctrl_weight)

    @classmethod
    def of_direction(
        cls,
        direction: float,
        *,
        ctrl_weight: float = DEFAULT_CTRL_WEIGHT,
        forward_weight: float = DEFAULT_FORWARD_WEIGHT,
    ) -> Task:
        """Run in direction ``d`` (-1 or +1): ``r = d * w_f * reward_forward + w_c * reward_ctrl``."""
        return cls("direction", direction=float(direction), forward_weight=forward_weight, ctrl_weight=ctrl_weight)

    @classmethod
    def of_velocity(cls, goal_velocity: float, *, ctrl_weight: float = DEFAULT_CTRL_WEIGHT) -> Task:
        """Run at ``v`` m/s: ``r = -|x_velocity - v| + w_c * reward_ctrl``."""
        return cls("velocity", goal_velocity=float(goal_velocity), ctrl_weight=ctrl_weight)

    def label(self) -> str:
        """Short name: ``'backward'`` or ``'forward'`` for a direction, ``'v=1.25'`` for a goal velocity,
        ``'m=1.20,b=0.80,f=1.50'`` for dynamics, ``'bthigh x-1'`` (the changed motors) for a motors task."""
        if self.kind == "motors":
            return " ".join(f"{name} x{g:g}" for name, g in zip(JOINTS, self.gears, strict=True) if g != 1) or "intact"
        if self.kind == "direction":
            return "backward" if self.direction < 0 else "forward"
        if self.kind == "dynamics":
            return f"m={self.mass:.2f},b={self.damping:.2f},f={self.friction:.2f}"
        return f"v={self.goal_velocity:.2f}"

    @property
    def dynamics(self) -> tuple[float, float, float]:
        """The factors ``(mass, damping, friction)`` of the model (all 1 unless ``kind == "dynamics"``)."""
        return (self.mass, self.damping, self.friction)

    @property
    def model_factors(self) -> tuple[float, ...]:
        """Everything the task changes in the model, ``(m, b, f, g_1..g_6)`` (:mod:`hw14_lib.rl.dynamics`)."""
        return self.dynamics + tuple(float(g) for g in self.gears)

    @property
    def parameters(self) -> tuple[float, ...]:
        """What an oracle is told: ``(d,)``, ``(v,)``, the log-factors ``(log m, log b, log f)``, or a motors
        task's gears (6,)."""
        if self.kind == "motors":
            return tuple(float(g) for g in self.gears)
        if self.kind == "dynamics":
            return tuple(float(np.log(x)) for x in self.dynamics)
        return (self.direction if self.kind == "direction" else self.goal_velocity,)

    def reward(self, x_velocity: float, reward_forward: float, reward_ctrl: float) -> float:
        """Scalar task reward from one step's ``info`` values (see the module docstring)."""
        return float(
            task_rewards(
                [self],
                np.asarray([x_velocity]),
                np.asarray([reward_forward]),
                np.asarray([reward_ctrl]),
            )[0]
        )


@dataclass(frozen=True)
class RewardWeights:
    """The reward coefficients of M tasks as arrays of shape (M,), read from the tasks once (a batched environment
    keeps them from one task change to the next instead of reading M tasks at every step).

    Attributes:
        is_velocity: a goal-velocity task (its reward tracks ``goal``) or not (it runs in ``direction``).
        direction, goal, forward_weight, ctrl_weight: ``d`` (1 for tasks without one), ``v``, ``w_f``, ``w_c``.
    """

    is_velocity: np.ndarray
    direction: np.ndarray
    goal: np.ndarray
    forward_weight: np.ndarray
    ctrl_weight: np.ndarray

    @classmethod
    def of(cls, tasks: Sequence[Task]) -> RewardWeights:
        """The coefficients of ``tasks``, in order."""
        return cls(
            np.array([t.kind == "velocity" for t in tasks]),
            np.array([t.direction if t.kind == "direction" else 1.0 for t in tasks]),
            np.array([t.goal_velocity for t in tasks]),
            np.array([t.forward_weight for t in tasks]),
            np.array([t.ctrl_weight for t in tasks]),
        )

    def rewards(
        self, x_velocity: np.ndarray, reward_forward: np.ndarray, reward_ctrl: np.ndarray, rows: slice = slice(None)
    ) -> np.ndarray:
        """The rewards of the tasks ``rows`` from one step's ``info`` arrays of those rows, ``(rows,)``."""
        tracking = np.where(
            self.is_velocity[rows],
            -np.abs(x_velocity - self.goal[rows]),
            self.direction[rows] * self.forward_weight[rows] * reward_forward,
        )
        return tracking + self.ctrl_weight[rows] * reward_ctrl


def task_rewards(
    tasks: Sequence[Task],
    x_velocity: np.ndarray,
    reward_forward: np.ndarray,
    reward_ctrl: np.ndarray,
) -> np.ndarray:
    """Vectorized task rewards for M environments, one task each (:class:`RewardWeights`).

    Args:
        tasks: M tasks.
        x_velocity, reward_forward, reward_ctrl: arrays of shape (M,), as in HalfCheetah's ``info``.

    Returns:
        Rewards of shape (M,).
    """
    return RewardWeights.of(tasks).rewards(x_velocity, reward_forward, reward_ctrl)
