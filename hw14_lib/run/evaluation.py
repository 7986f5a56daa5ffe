"""Meta-testing: returns before and after k adaptation steps, and deterministic evaluation.

The adaptation protocol follows the MAML paper: on each held-out task, sample N trajectories with
the current parameters, take one inner step on them, and repeat; the return after ``k`` steps is
the mean return of the trajectories sampled with ``theta'^(k)``. The deterministic return acts
with the mean action ``mu_{theta'}(s)``. :func:`evaluate_meta_policy` is a run's final evaluation, on the
held-out tasks its configuration names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hw14_lib.common.seeds import EVALUATION_SAMPLING_SEED_OFFSET, EVALUATION_TASK_SEED_OFFSET
from hw14_lib.rl.advantages import AdvantageSettings
from hw14_lib.rl.make_env import EnvName, EnvSpec, make_task_vector_env
from hw14_lib.rl.maml import InnerLoop, StepSize, adapt_all, policy_step_sizes
from hw14_lib.rl.policy import GaussianMLPPolicy, Params, policy_params
from hw14_lib.rl.sampling import TrajectoryBatch, sample_trajectories
from hw14_lib.rl.tasks import Task
from hw14_lib.run.config import TrainConfig


@dataclass
class AdaptationCurve:
    """Returns on held-out tasks after 0..k inner steps.

    Attributes:
        tasks: labels of the held-out tasks.
        stochastic: ``stochastic[k][i]``, mean return of the N sampled trajectories of task i with
            ``theta'^(k)`` (the paper's metric).
        deterministic: ``deterministic[k][i]``, return of the mean action of ``theta'^(k)``.
    """

    tasks: list[str]
    stochastic: list[list[float]] = field(default_factory=list)
    deterministic: list[list[float]] = field(default_factory=list)

    def mean_stochastic(self) -> list[float]:
        """Mean over tasks of the stochastic return after each number of steps."""
        return [float(np.mean(r)) for r in self.stochastic]

    def mean_deterministic(self) -> list[float]:
        """Mean over tasks of the deterministic return after each number of steps."""
        return [float(np.mean(r)) for r in self.deterministic]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "tasks": self.tasks,
            "stochastic": self.stochastic,
            "deterministic": self.deterministic,
            "mean_stochastic": self.mean_stochastic(),
            "mean_deterministic": self.mean_deterministic(),
        }


def evaluate_deterministic(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
    tasks: Sequence[Task],
    *,
    episodes: int = 2,
    horizon: int = 200,
    seed: int = 0,
    physics_threads: int = 1,
    env: EnvName | EnvSpec = "gymnasium",
) -> Tensor:
    """Mean return per task of ``episodes`` rollouts with the mean action, shape ``(B,)``.

    Args:
        params: one dict for all tasks or one per task.
        env: the environment (:func:`~hw14_lib.rl.make_env.make_task_vector_env`).
    """
    copies = [t for t in tasks for _ in range(episodes)]
    envs = make_task_vector_env(copies, num_threads=physics_threads, env=env)
    try:
        batch = sample_trajectories(
            policy,
            params,
            envs,
            tasks,
            num_trajectories=episodes,
            horizon=horizon,
            generator=torch.Generator().manual_seed(seed),
            seed=seed,
            deterministic=True,
        )
    finally:
        envs.close()
    return batch.episode_returns().mean(-1)


def later_step_sizes(alpha: float, steps: int, scale: float) -> list[float]:
    """``[alpha, scale * alpha, ..., scale * alpha]``: ``steps`` inner step sizes whose first is the
    meta-trained ``alpha`` and every later one ``scale`` times it (``[]`` for no step)."""
    return [alpha if j == 0 else scale * alpha for j in range(steps)]


def adaptation_curve(
    policy: GaussianMLPPolicy,
    tasks: Sequence[Task],
    *,
    steps: int,
    num_trajectories: int,
    horizon: int,
    inner: InnerLoop,
    advantages: AdvantageSettings,
    seed: int,
    deterministic_episodes: int = 2,
    physics_threads: int = 1,
    theta: Mapping[str, Tensor] | None = None,
    step_sizes: Sequence[StepSize] | None = None,
    env: EnvName | EnvSpec = "gymnasium",
) -> tuple[AdaptationCurve, list[list[Params]]]:
    """Adapt ``steps`` times on every task and record the returns after 0..steps steps.

    Args:
        step_sizes: ``alpha_j`` of inner step ``j`` (``steps`` entries: numbers, or a policy's learned sizes from
            :func:`~hw14_lib.rl.maml.policy_step_sizes`); by default every step uses ``inner.alpha``. The
            sampling seeds do not depend on it, so two schedules that share their first ``j`` step sizes give
            identical returns up to ``k = j``.
        env: the environment (:func:`~hw14_lib.rl.make_env.make_task_vector_env`).

    Returns:
        The curve and ``history[k][i]``, the parameters ``theta'^(k)`` of task ``i`` for k = 0..steps.
    """
    if step_sizes is not None and len(step_sizes) != steps:
        raise ValueError(f"step_sizes has {len(step_sizes)} entries; expected one per step ({steps})")
    theta = dict(theta) if theta is not None else {k: v.detach() for k, v in policy_params(policy).items()}
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    envs = make_task_vector_env(
        [t for t in tasks for _ in range(num_trajectories)], num_threads=physics_threads, env=env
    )
    curve = AdaptationCurve(tasks=[t.label() for t in tasks])
    supports: list[TrajectoryBatch] = []
    support_advantages: list[Tensor] = []
    adapted: list[Params] = [theta for _ in tasks]
    history: list[list[Params]] = []
    try:
        for k in range(steps + 1):
            if k > 0:
                adapted = adapt_all(
                    policy,
                    theta,
                    supports,
                    support_advantages,
                    inner,
                    create_graph=False,
                    step_sizes=None if step_sizes is None else step_sizes[:k],
                )
            batch = sample_trajectories(
                policy,
                adapted,
                envs,
                tasks,
                num_trajectories=num_trajectories,
                horizon=horizon,
                generator=generator,
                seed=int(rng.integers(2**31)),
            )
            history.append(adapted)
            curve.stochastic.append(batch.episode_returns().mean(-1).tolist())
            det = evaluate_deterministic(
                policy,
                adapted,
                tasks,
                episodes=deterministic_episodes,
                horizon=horizon,
                seed=int(rng.integers(2**31)),
                physics_threads=physics_threads,
                env=env,
            )
            curve.deterministic.append(det.tolist())
            supports.append(batch)
            support_advantages.append(advantages(batch))
    finally:
        envs.close()
    return curve, history


def evaluate_meta_policy(
    cfg: TrainConfig,
    policy: GaussianMLPPolicy,
    *,
    steps: int | None = None,
    step_sizes: Sequence[StepSize] | None = None,
) -> tuple[dict[str, Any], list[Task], list[list[Params]]]:
    """The final evaluation: returns after 0..k inner steps on the held-out tasks of ``cfg``
    (``k = steps``, by default ``cfg.eval_adaptation_steps``; at least 1) with the step-size schedule
    ``step_sizes`` (one per step; see :func:`adaptation_curve`), by default the policy's own: its learned sizes
    (:func:`~hw14_lib.rl.maml.policy_step_sizes`) or ``cfg.inner_lr`` at every step.

    Returns:
        The summary entries (``pre_/post_adaptation_return`` and ``adaptation_curve``), the tasks,
        and the adapted parameters ``history[k][i]``.
    """
    tasks = cfg.task_distribution.evaluation(cfg.eval_tasks, seed=cfg.seed + EVALUATION_TASK_SEED_OFFSET)
    steps = max(1, cfg.eval_adaptation_steps if steps is None else steps)
    if step_sizes is None:
        step_sizes = policy_step_sizes(policy, steps, detach=True)
    curve, history = adaptation_curve(
        policy,
        tasks,
        steps=steps,
        num_trajectories=cfg.eval_trajectories,
        horizon=cfg.horizon,
        inner=cfg.inner_loop,
        advantages=cfg.advantage_settings,
        seed=cfg.seed + EVALUATION_SAMPLING_SEED_OFFSET,
        physics_threads=cfg.physics_threads,
        step_sizes=step_sizes,
        env=cfg.env_spec,
    )
    return _curve_summary(curve), tasks, history


def _curve_summary(curve: AdaptationCurve) -> dict[str, Any]:
    det, sto = curve.mean_deterministic(), curve.mean_stochastic()
    return {
        "pre_adaptation_return": det[0],
        "post_adaptation_return": det[1],
        "pre_adaptation_return_stochastic": sto[0],
        "post_adaptation_return_stochastic": sto[1],
        "adaptation_curve": curve.to_dict(),
    }
