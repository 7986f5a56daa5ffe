"""The MAML paper's evaluation protocol (Finn et al. 2017, RL experiments), and the table it fills.

On 40 test tasks drawn from ``p(T)`` (direction: ``d ~ U{-1, +1}``; velocity: ``v ~ U[low, high]``), each task
is adapted from its own support batch of ``N = 20`` trajectories of ``T`` steps, ``k = 0..3`` inner steps, and
the return after ``k`` steps is the mean return of the 20 trajectories sampled with ``theta'^(k)``. A run's
result is the mean over the 40 tasks with its standard error; a method's is the mean (and std) over seeds.
The tasks and seeds are drawn from ``seed + PROTOCOL_SEED_OFFSET``, apart from training's (``seed``), the final
evaluation's (``seed + 10_000``, ``+ 20_000``) and the validation tasks (``seed + 1000``).

The first inner step has size ``alpha``, every later one ``later_scale * alpha`` (the schedule is chosen on
validation tasks by the caller and recorded in the result); a policy with learned step sizes uses its own
(``step_sizes`` then records their mean per step), with no evaluation-time choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from hw14_lib.common import catalogue
from hw14_lib.common.seeds import PROTOCOL_SEED_OFFSET
from hw14_lib.rl.maml import policy_step_sizes
from hw14_lib.rl.policy import GaussianMLPPolicy, learned_step_sizes
from hw14_lib.rl.task_families import BACKWARD
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.evaluation import adaptation_curve, later_step_sizes

PROTOCOL_TASKS = 40
PROTOCOL_TRAJECTORIES = 20
PROTOCOL_STEPS = 3
PROTOCOL_FAMILIES: dict[str, str] = {f.short: f.name for f in catalogue.FAMILIES}
"""Short name (in the run folders' names) -> task distribution, for every family the table takes."""
TABLE_METHODS: tuple[str, ...] = tuple(m.name for m in catalogue.METHODS)


def evaluate_protocol(
    cfg: TrainConfig,
    policy: GaussianMLPPolicy,
    *,
    alpha: float,
    later_scale: float,
    tasks: int = PROTOCOL_TASKS,
    steps: int = PROTOCOL_STEPS,
) -> dict[str, Any]:
    """The paper's protocol for ``policy`` on ``cfg``'s task family (see the module docstring); ``steps = 0``
    measures the return at theta only (an oracle's).

    Returns:
        ``tasks`` (labels), ``step_sizes`` (``steps``), ``returns[k][i]`` (return of task ``i`` after ``k`` steps),
        ``mean[k]`` over tasks, ``sem[k]`` (sample std over tasks / sqrt(tasks)), ``alpha``, ``later_scale``,
        ``test_tasks``, ``trajectories``, ``horizon``.

    Raises:
        ValueError: for the single-task ``backward`` family, ``tasks < 2``, or a step size that is not finite
            and positive.
    """
    if cfg.task == BACKWARD:
        raise ValueError(f"the paper's protocol needs a task distribution; {BACKWARD!r} has a single task")
    if tasks < 2:
        raise ValueError(f"tasks={tasks!r}; allowed: an integer >= 2 (a standard error needs two)")
    if not (math.isfinite(alpha) and alpha > 0 and math.isfinite(later_scale) and later_scale >= 0):
        raise ValueError(f"alpha={alpha!r}, later_scale={later_scale!r}; allowed: alpha > 0, later_scale >= 0")
    seed = cfg.seed + PROTOCOL_SEED_OFFSET
    test_tasks = cfg.task_distribution.sample(tasks, np.random.default_rng(seed))
    learned = learned_step_sizes(policy)
    if learned is not None:  # its own sizes, recorded as their mean per step
        means = learned.summary()
        step_sizes = [means[min(j, learned.steps - 1)] for j in range(steps)]
    else:
        step_sizes = later_step_sizes(alpha, steps, later_scale)
    curve, _ = adaptation_curve(
        policy,
        test_tasks,
        steps=steps,
        num_trajectories=PROTOCOL_TRAJECTORIES,
        horizon=cfg.horizon,
        inner=replace(cfg.inner_loop, alpha=alpha),
        advantages=cfg.advantage_settings,
        seed=seed + 1,
        physics_threads=cfg.physics_threads,
        step_sizes=step_sizes if learned is None else policy_step_sizes(policy, steps, detach=True),
        env=cfg.env_spec,
    )
    returns = np.asarray(curve.stochastic)  # (k + 1, tasks)
    return {
        "tasks": curve.tasks,
        "alpha": alpha,
        "later_scale": later_scale,
        "step_sizes": step_sizes
        if learned is None
        else [learned.summary()[min(j, learned.steps - 1)] for j in range(steps)],
        "learned_step_sizes": learned is not None,
        "returns": returns.tolist(),
        "mean": returns.mean(axis=1).tolist(),
        "sem": (returns.std(axis=1, ddof=1) / math.sqrt(tasks)).tolist(),
        "test_tasks": tasks,
        "trajectories": PROTOCOL_TRAJECTORIES,
        "horizon": cfg.horizon,
    }


def _mean_step_sizes(per_seed: Sequence[Sequence[float]]) -> list[float]:
    """The step size of each inner step over the seeds: the common one, or the mean of learned ones (which differ
    from seed to seed)."""
    if all(list(sizes) == list(per_seed[0]) for sizes in per_seed):
        return list(per_seed[0])
    return np.mean(np.asarray(per_seed, dtype=float), axis=0).tolist()


def table_row(
    *,
    env: str,
    family: str,
    method: str,
    evaluations: Sequence[Mapping[str, Any]],
    env_steps: Sequence[int],
    wall_seconds: Sequence[float] = (),
) -> dict[str, Any]:
    """One row of ``results/table.json``: a method on a family, its seeds' protocol results combined.

    ``returns[k]`` is the mean over seeds of each seed's mean over tasks, ``std_over_seeds[k]`` their sample std
    (0 for one seed), ``sem_over_tasks[k]`` the mean over seeds of each seed's standard error over tasks; an
    oracle row keeps only ``k = 0``. When every seed also has the paper's schedule (every step of size ``alpha``,
    ``paper_schedule``), the row carries the same four fields for it. ``wall_seconds_per_seed`` is the mean
    training time (``None`` when unknown).
    """
    catalogue.method(method)  # an unknown method is refused, naming the known ones
    if not evaluations:
        raise ValueError(f"no evaluation for {env}/{family}/{method}")
    means = np.asarray([e["mean"] for e in evaluations])
    sems = np.asarray([e["sem"] for e in evaluations])
    steps = 1 if catalogue.method(method).scores_once else means.shape[1]
    std = means.std(axis=0, ddof=1) if len(evaluations) > 1 else np.zeros(means.shape[1])
    first = evaluations[0]
    row = {
        "env": env,
        "family": family,
        "method": method,
        "seeds": len(evaluations),
        "test_tasks": int(first["test_tasks"]),
        "trajectories": int(first["trajectories"]),
        "horizon": int(first["horizon"]),
        "env_steps_per_seed": int(np.mean(env_steps)) if len(env_steps) else 0,
        "wall_seconds_per_seed": float(np.mean(wall_seconds)) if len(wall_seconds) else None,
        "step_sizes": _mean_step_sizes([e["step_sizes"] for e in evaluations]),
        "returns": means.mean(axis=0)[:steps].tolist(),
        "std_over_seeds": std[:steps].tolist(),
        "sem_over_tasks": sems.mean(axis=0)[:steps].tolist(),
    }
    if all("paper_schedule" in e for e in evaluations):  # every step of size alpha (c = 1), the paper's practice
        paper = [e["paper_schedule"] for e in evaluations]
        paper_means = np.asarray([p["mean"] for p in paper])
        row["paper_schedule"] = {
            "step_sizes": list(paper[0]["step_sizes"]),
            "returns": paper_means.mean(axis=0).tolist(),
            "std_over_seeds": (
                paper_means.std(axis=0, ddof=1) if len(paper) > 1 else np.zeros(paper_means.shape[1])
            ).tolist(),
            "sem_over_tasks": np.asarray([p["sem"] for p in paper]).mean(axis=0).tolist(),
        }
    return row
