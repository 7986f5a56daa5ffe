"""Validation helpers of :class:`hw14_lib.run.config.TrainConfig`: one ``ValueError`` (or ``TypeError``) naming
the field, the value and what is allowed."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from typing import Any, Literal, get_args, get_origin, get_type_hints

from hw14_lib.rl.maml import META_OBJECTIVE
from hw14_lib.rl.meta_learners import META_LEARNERS, meta_learner
from hw14_lib.rl.task_families import TASK_FAMILIES


def fail(name: str, value: Any, allowed: str) -> None:
    """Raise the one-line ``ValueError`` of a bad field."""
    raise ValueError(f"config field {name!r} has value {value!r}; allowed: {allowed}")


def at_least(cfg: Any, name: str, low: int) -> None:
    """``cfg.name`` is an integer >= ``low``."""
    if (value := getattr(cfg, name)) < low:
        fail(name, value, f"an integer >= {low}")


def positive(cfg: Any, name: str) -> None:
    """``cfg.name`` is finite and > 0."""
    if not (math.isfinite(value := getattr(cfg, name)) and value > 0):
        fail(name, value, "a finite number > 0")


def non_negative(cfg: Any, name: str) -> None:
    """``cfg.name`` is finite and >= 0."""
    if not (math.isfinite(value := getattr(cfg, name)) and value >= 0):
        fail(name, value, "a finite number >= 0")


def check_types(cfg: Any) -> None:
    """Reject wrong types (YAML gives ``"0.1"`` for a quoted number, ``True`` for ``yes``) and values outside a
    field's choices (a ``Literal``'s values; a registry's for ``task`` and ``outer_optimizer``:
    :func:`check_registered`)."""
    hints = get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        hint = hints[f.name]
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if hint is bool:
            ok, expected = isinstance(value, bool), "true or false"
        elif hint is int:
            ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif hint is float:
            ok, expected = is_number, "a number"
            if ok:
                object.__setattr__(cfg, f.name, float(value))
        elif hint is str:
            ok, expected = isinstance(value, str), "a string"
        elif get_origin(hint) is Literal:  # a choice: the allowed values are the Literal's
            ok, expected = isinstance(value, str), "a string"
            if ok and value not in get_args(hint):
                fail(f.name, value, "one of " + ", ".join(repr(a) for a in get_args(hint)))
        elif f.name == "grad_clip":
            ok, expected = value is None or is_number, "a number or null"
        elif f.name == "trpo_curvature_trajectories":
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
            expected = "an integer or null"
        elif f.name == "outer_settings":
            ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
            expected = "a mapping of setting names to values"
        elif f.name == "hidden_sizes":
            ok = isinstance(value, (list, tuple)) and all(isinstance(h, int) and not isinstance(h, bool) for h in value)
            expected = "a list of integers"
        else:  # pragma: no cover - every field is listed above
            raise AssertionError(f"no type check for {f.name}")
        if not ok:
            raise TypeError(
                f"config field {f.name!r} has value {value!r} of type {type(value).__name__}; expected {expected}"
            )
    check_registered(cfg)


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine (``None`` where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def estimated_training_bytes(cfg: Any) -> int:
    """A rough estimate of a run's peak memory (the environment copies left out): the sampled sets of one
    meta-iteration (``(K + 1) B N T`` steps of observations, actions, rewards, log-probabilities and advantages,
    float32, with the autograd graph of the meta-gradient counted as ten times that), the ``B`` adapted copies of
    the policy's parameters (with their graph, also ten times), and the final evaluation's ``eval_tasks *
    eval_trajectories * T`` steps."""
    obs, act = cfg.observation_dim, 6  # the environment's observation (with an oracle's parameters); six torques
    per_step = 4 * (obs + 2 * act + 4)
    steps = (cfg.inner_steps + 1) * cfg.meta_batch_size * cfg.trajectories_per_task * cfg.horizon
    sizes = (obs, *cfg.hidden_sizes, act)
    params = sum(a * b + b for a, b in itertools.pairwise(sizes))
    evaluation = cfg.eval_tasks * cfg.eval_trajectories * cfg.horizon * per_step
    return 10 * steps * per_step + 10 * 4 * params * (cfg.meta_batch_size + 2) + 2 * evaluation


def check_fits_in_memory(cfg: Any, available: int | None = None) -> None:
    """Refuse a configuration whose :func:`estimated_training_bytes` exceeds the machine's memory, before anything
    is written or allocated.

    Raises:
        ValueError: naming the estimate, the memory and the fields that set it.
    """
    available = machine_memory_bytes() if available is None else available
    needed = estimated_training_bytes(cfg)
    if available is not None and needed > available:
        raise ValueError(
            f"this configuration needs about {needed / 2**30:,.1f} GiB (meta_batch_size x trajectories_per_task x "
            f"horizon, hidden_sizes, eval_tasks x eval_trajectories), more than this machine's "
            f"{available / 2**30:,.1f} GiB; make them smaller"
        )


def check_registered(cfg: Any) -> None:
    """``task`` names a registered family (:data:`hw14_lib.rl.task_families.TASK_FAMILIES`), ``outer_optimizer`` a
    registered meta-learner (:data:`hw14_lib.rl.meta_learners.META_LEARNERS`), and the family's ranges are ordered
    and finite.

    Raises:
        ValueError: naming the field, its value and what is allowed.
    """
    for name, registry in (("task", TASK_FAMILIES), ("outer_optimizer", META_LEARNERS)):
        if getattr(cfg, name) not in registry:
            fail(name, getattr(cfg, name), "one of " + ", ".join(repr(key) for key in registry))
    if not math.isfinite(cfg.velocity_low) or not math.isfinite(cfg.velocity_high):
        fail("velocity_low/velocity_high", (cfg.velocity_low, cfg.velocity_high), "finite numbers")
    if cfg.velocity_low > cfg.velocity_high:
        fail("velocity_low", cfg.velocity_low, f"a number <= velocity_high ({cfg.velocity_high})")
    if not (math.isfinite(cfg.dynamics_low) and 0 < cfg.dynamics_low <= cfg.dynamics_high < math.inf):
        fail("dynamics_low/dynamics_high", (cfg.dynamics_low, cfg.dynamics_high), "0 < low <= high, finite")


def check_combinations(cfg: Any) -> None:
    """The fields that must agree: of a method, learned step sizes and ANIL's head-only inner step need MAML's
    objective, ANIL's restriction is not combined with learned sizes, and ProMP's update does not project learned
    sizes into their bounds (``rl/step_sizes.py``), so that pair is refused; of the machinery, the sampler's worker
    processes hold replicas of the ``mujoco`` backend's environment (:mod:`hw14_lib.rl.workers`).

    Raises:
        ValueError: naming the field, its value and what is allowed.
    """
    if cfg.learned_step_sizes != "none" and cfg.objective != META_OBJECTIVE:
        fail("learned_step_sizes", cfg.learned_step_sizes, "'none' with objective 'pretrain' (no inner step)")
    if cfg.inner_params != "all" and (cfg.learned_step_sizes != "none" or cfg.objective != META_OBJECTIVE):
        fail("inner_params", cfg.inner_params, "'all' with learned step sizes or objective 'pretrain'")
    if cfg.learned_step_sizes != "none" and not meta_learner(cfg.outer_optimizer).learns_step_sizes:
        fail("learned_step_sizes", cfg.learned_step_sizes, f"'none' with outer_optimizer {cfg.outer_optimizer!r}")
    if cfg.sampler == "processes" and cfg.backend != "mujoco":
        fail("sampler", cfg.sampler, "'threads' with backend 'gymnasium' (processes step the 'mujoco' one)")
