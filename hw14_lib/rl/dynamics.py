"""Tasks that change the cheetah's model: the dynamics family (scaled physics) and the motors families (the six
motors' gears scaled), both rewarding running forward.

A task's model factors are ``(m, b, f, g_1, ..., g_6)``. ``(m, b, f)`` multiply every body's mass and inertia
(``m``: a uniform change of density, so the shapes stay those of the model), every joint's damping (``b``) and
every geom's friction coefficients (``f``; a contact takes the larger friction of its two geoms, so contacts scale
by ``f`` too). The derived constants
(subtree masses, inverse weights) are recomputed with ``mj_setConst``. The batched environments hold one model per
copy (``mujoco.rollout`` takes a list of models of equal sizes); the Gymnasium environment rescales its own model
in place when its task changes. ``g_j`` multiplies actuator ``j``'s gear (the torque per unit of control): 0
disables the motor, -1 reverses it; the policy still chooses, and pays the control cost for, all six controls.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import mujoco
import numpy as np

Factors = tuple[float, ...]
"""A task's model factors ``(m, b, f, g_1..g_6)`` (:attr:`hw14_lib.rl.tasks.Task.model_factors`)."""

ACTUATORS = 6
"""The half-cheetah's motors (``bthigh, bshin, bfoot, fthigh, fshin, ffoot``), one gear factor each."""
DEFAULT_FACTORS = (1.0,) * (3 + ACTUATORS)
"""The model's own factors ``(m, b, f, g_1..g_6)``: nothing changed."""


@dataclass(frozen=True)
class BaseDynamics:
    """The unscaled values a task's factors multiply (copied from a model before any change)."""

    body_mass: np.ndarray
    body_inertia: np.ndarray
    dof_damping: np.ndarray
    geom_friction: np.ndarray
    actuator_gear: np.ndarray

    @classmethod
    def of(cls, model: mujoco.MjModel) -> BaseDynamics:
        """The current values of ``model``."""
        return cls(
            model.body_mass.copy(),
            model.body_inertia.copy(),
            model.dof_damping.copy(),
            model.geom_friction.copy(),
            model.actuator_gear.copy(),
        )


def apply_dynamics(model: mujoco.MjModel, data: mujoco.MjData, base: BaseDynamics, factors: Factors) -> None:
    """Set ``model``'s masses, inertias, damping, friction and gears to ``base`` times ``factors = (m, b, f, g_1..g_6)``
    in place, then recompute its derived constants (``mj_setConst``, with ``data`` as scratch).

    Raises:
        ValueError: ``factors`` is not one factor each for mass, damping, friction and every actuator.
    """
    if len(factors) != 3 + model.nu:
        raise ValueError(f"{len(factors)} model factors given; the model takes {3 + model.nu} (m, b, f, one per motor)")
    mass, damping, friction = factors[:3]
    model.body_mass[:] = base.body_mass * mass
    model.body_inertia[:] = base.body_inertia * mass
    model.dof_damping[:] = base.dof_damping * damping
    model.geom_friction[:] = base.geom_friction * friction
    model.actuator_gear[:, 0] = base.actuator_gear[:, 0] * np.asarray(factors[3:])
    mujoco.mj_setConst(model, data)


class TaskDynamics:
    """The factors a single environment's model has now; :meth:`set` rescales it in place when they change (the
    Gymnasium environments, one copy each)."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData):
        self.model, self.data, self.base = model, data, BaseDynamics.of(model)
        self.factors: Factors = DEFAULT_FACTORS

    def set(self, factors: Factors) -> None:
        """Give the model ``factors`` (nothing is recomputed when they are the current ones)."""
        if tuple(factors) != self.factors:
            apply_dynamics(self.model, self.data, self.base, factors)
            self.factors = _key(factors)


class ModelCache:
    """One model per distinct factors, made from ``base_model`` (the default factors, all 1, give
    ``base_model`` itself); :meth:`models` maps the copies' factors to their models and keeps only those (a
    meta-batch draws new tasks every iteration)."""

    def __init__(self, base_model: mujoco.MjModel):
        self.base_model = base_model
        self.base = BaseDynamics.of(base_model)
        self._models: dict[tuple[float, ...], mujoco.MjModel] = {DEFAULT_FACTORS: base_model}

    def model(self, factors: Factors) -> mujoco.MjModel:
        """The model of ``factors`` (made once while it is in use)."""
        key = _key(factors)
        if key not in self._models:
            model = copy.deepcopy(self.base_model)
            apply_dynamics(model, mujoco.MjData(model), self.base, factors)
            self._models[key] = model
        return self._models[key]

    def models(self, factors: list[Factors]) -> list[mujoco.MjModel]:
        """The model of each copy; the models of factors no longer in use are dropped."""
        models = [self.model(f) for f in factors]
        keep = {_key(f) for f in factors} | {DEFAULT_FACTORS}
        self._models = {k: m for k, m in self._models.items() if k in keep}
        return models


def _key(factors: Factors) -> tuple[float, ...]:
    return tuple(float(x) for x in factors)
