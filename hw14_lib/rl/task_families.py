"""Task families ``p(T)``: each one :class:`TaskFamily` in one registry, drawn through a :class:`TaskDistribution`.

A family says how it draws ``n`` tasks, which tasks it holds out for the training-time evaluation, how many
numbers tell an oracle the task, and which task an environment starts with. Training, evaluation, the protocol and
the diagnostics reach a family only through ``TrainConfig.task_distribution``; a new family is one entry of
:data:`TASK_FAMILIES` (a test adds a toy one and trains on it without any other change).

* ``backward``: always ``d = -1`` (a single-task "distribution", the starter code's setting);
* ``direction``: ``d ~ Uniform{-1, +1}``; held out: both directions;
* ``velocity``: ``v ~ U[low, high]``;
* ``signed_velocity``: a direction and a speed, ``v = d * u`` with ``d ~ Uniform{-1, +1}`` and ``u ~ U[low, high]``
  (with ``[0, 2]``, ``v ~ U[-2, 2]``): the task decides both which way and how fast;
* ``dynamics``: each of ``(m, b, f)`` log-uniform in ``[low, high]``;
* ``crippled``, ``reversed``: the motor ``j ~ Uniform{0..5}``, its gear times 0 or -1 (:data:`ONE_MOTOR_GEARS`);
* ``signs``: each motor's gear times ``s_j ~ Uniform{-1, +1}``, independently (64 tasks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hw14_lib.rl.tasks import DEFAULT_CTRL_WEIGHT, INTACT, JOINTS, Task

DEFAULT_DYNAMICS_RANGE = (0.5, 2.0)
ONE_MOTOR_GEARS: dict[str, float] = {"crippled": 0.0, "reversed": -1.0}
"""The families that change one motor, drawn uniformly, and the factor its gear gets."""


@dataclass(frozen=True)
class TaskDistribution:
    """A task family ``p(T)`` with its parameters, as one object: what training, evaluation, the protocol and the
    diagnostics draw their tasks from (:attr:`hw14_lib.run.config.TrainConfig.task_distribution`), so that no call
    site can drop a parameter (the control cost's weight, a range).

    Raises:
        ValueError: ``name`` is not a registered family.
    """

    name: str
    velocity_range: tuple[float, float] = (0.0, 2.0)
    dynamics_range: tuple[float, float] = DEFAULT_DYNAMICS_RANGE
    ctrl_weight: float = DEFAULT_CTRL_WEIGHT

    def __post_init__(self) -> None:
        task_family(self.name)

    @property
    def family(self) -> TaskFamily:
        """The registered family of :attr:`name`."""
        return task_family(self.name)

    @property
    def parameter_count(self) -> int:
        """How many numbers describe one task (what an oracle's observation appends)."""
        return self.family.parameter_count

    @property
    def placeholder(self) -> Task:
        """A task to build an environment with before the real tasks are set (an oracle's environment needs the
        family's number of parameters)."""
        return self.family.placeholder

    def sample(self, n: int, rng: np.random.Generator) -> list[Task]:
        """``n`` i.i.d. tasks.

        Raises:
            ValueError: ``n < 1`` or a range with ``low > high``.
        """
        if n < 1:
            raise ValueError(f"n={n!r} tasks requested; it must be a positive integer")
        return self.family.draw(self, n, rng)

    def evaluation(self, n: int, *, seed: int) -> list[Task]:
        """The held-out tasks of the training-time evaluation: the family's fixed ones (both directions, the single
        backward task), or ``n`` fresh tasks from their own seed."""
        if self.family.held_out is not None:
            return self.family.held_out(self)
        return self.sample(n, np.random.default_rng(seed))


Draw = Callable[[TaskDistribution, int, np.random.Generator], list[Task]]
"""How a family draws ``n >= 1`` tasks with the distribution's parameters."""


@dataclass(frozen=True)
class TaskFamily:
    """One task family.

    Attributes:
        name: ``TrainConfig.task``.
        parameter_count: the length of its tasks' :attr:`~hw14_lib.rl.tasks.Task.parameters`.
        draw: how it draws tasks (:data:`Draw`).
        placeholder: a task of its kind, for an environment built before the real tasks are set.
        held_out: its fixed held-out tasks, or ``None`` for fresh draws.
        of_value: its task with parameter ``value`` (``d`` or ``v``), for a family of one-number tasks (the
            notebook's "try it"); ``None`` for the others.
    """

    name: str
    parameter_count: int
    draw: Draw
    placeholder: Task = field(default_factory=Task.backward)
    held_out: Callable[[TaskDistribution], list[Task]] | None = None
    of_value: Callable[[float], Task] | None = None


def task_family(name: str) -> TaskFamily:
    """The registered family ``name`` (:data:`TASK_FAMILIES`).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if name not in TASK_FAMILIES:
        raise ValueError(f"task distribution {name!r} is unknown; use one of {', '.join(TASK_FAMILIES)}")
    return TASK_FAMILIES[name]


def _backward(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
    return [Task.backward(ctrl_weight=dist.ctrl_weight) for _ in range(n)]


def _direction(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
    signs = rng.choice(np.array([-1.0, 1.0]), size=n)
    return [Task.of_direction(d, ctrl_weight=dist.ctrl_weight) for d in signs]


def _velocity(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
    low, high = dist.velocity_range
    if low > high:
        raise ValueError(f"velocity_range={dist.velocity_range!r} has low > high")
    goals = rng.uniform(low, high, size=n)
    return [Task.of_velocity(v, ctrl_weight=dist.ctrl_weight) for v in goals]


def _signed_velocity(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
    low, high = dist.velocity_range
    if low > high:
        raise ValueError(f"velocity_range={dist.velocity_range!r} has low > high")
    goals = rng.choice(np.array([-1.0, 1.0]), size=n) * rng.uniform(low, high, size=n)
    return [Task.of_velocity(v, ctrl_weight=dist.ctrl_weight) for v in goals]


def _dynamics(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
    low, high = dist.dynamics_range
    if not 0 < low <= high:
        raise ValueError(f"dynamics_range={dist.dynamics_range!r}; allowed: 0 < low <= high")
    factors = np.exp(rng.uniform(np.log(low), np.log(high), size=(n, 3)))
    return [
        Task("dynamics", mass=float(m), damping=float(b), friction=float(f), ctrl_weight=dist.ctrl_weight)
        for m, b, f in factors
    ]


def _motors(gears: np.ndarray, ctrl_weight: float) -> list[Task]:
    return [Task("motors", gears=tuple(float(g) for g in row), ctrl_weight=ctrl_weight) for row in gears]


def _one_motor(gear: float) -> Draw:
    def draw(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
        gears = np.ones((n, len(JOINTS)))
        gears[np.arange(n), rng.integers(0, len(JOINTS), size=n)] = gear
        return _motors(gears, dist.ctrl_weight)

    return draw


def _signs(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
    return _motors(rng.choice(np.array([-1.0, 1.0]), size=(n, len(JOINTS))), dist.ctrl_weight)


INTACT_MOTORS = Task("motors", gears=INTACT)
BACKWARD = "backward"
"""The course's family: its single task, run backward (the configuration's default)."""
TASK_FAMILIES: dict[str, TaskFamily] = {
    family.name: family
    for family in (
        TaskFamily(BACKWARD, 1, _backward, held_out=lambda d: [Task.backward(ctrl_weight=d.ctrl_weight)]),
        TaskFamily(
            "direction",
            1,
            _direction,
            held_out=lambda d: [Task.of_direction(s, ctrl_weight=d.ctrl_weight) for s in (-1.0, 1.0)],
            of_value=Task.of_direction,
        ),
        TaskFamily("velocity", 1, _velocity, of_value=Task.of_velocity),
        TaskFamily("signed_velocity", 1, _signed_velocity, of_value=Task.of_velocity),
        TaskFamily("dynamics", 3, _dynamics, placeholder=Task("dynamics")),
        *(
            TaskFamily(name, len(JOINTS), _one_motor(gear), placeholder=INTACT_MOTORS)
            for name, gear in ONE_MOTOR_GEARS.items()
        ),
        TaskFamily("signs", len(JOINTS), _signs, placeholder=INTACT_MOTORS),
    )
}
"""Every task family, by name: the values of ``TrainConfig.task``. A new family is one entry."""


def sample_tasks(
    n: int,
    rng: np.random.Generator,
    *,
    distribution: str = "direction",
    velocity_range: tuple[float, float] = (0.0, 2.0),
    ctrl_weight: float = DEFAULT_CTRL_WEIGHT,
    dynamics_range: tuple[float, float] = DEFAULT_DYNAMICS_RANGE,
) -> list[Task]:
    """``n`` i.i.d. tasks of family ``distribution`` (:meth:`TaskDistribution.sample`; see the module docstring).

    Raises:
        ValueError: an unknown family, ``n < 1`` or a range with ``low > high``.
    """
    family = TaskDistribution(
        distribution, velocity_range=velocity_range, dynamics_range=dynamics_range, ctrl_weight=ctrl_weight
    )
    return family.sample(n, rng)
