"""Diagnostics of the inner step and of the meta-gradient, to find out why adaptation is weak.

* :func:`inner_step_report`: what one inner step does on a task: the mean
  ``KL(pi_theta || pi_theta')`` on the support states, the size of the parameter change, and the
  mean return before and after the step (fresh trajectories on the same task).
* :func:`meta_gradient_snr`: signal-to-noise ratio of the meta-gradient across independent
  meta-batches, ``||mean_j g_j|| / sqrt(sum_i Var_j g_ij)`` (values << 1: the step is mostly noise).
* :func:`later_step_study`: the final evaluation's adaptation curve again, with the steps after the
  first scaled to ``c * alpha``: does a smaller second step remove the dip at ``k = 2``?
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from hw14_lib.common.seeds import VALIDATION_SEED_OFFSET
from hw14_lib.rl.make_env import make_task_vector_env
from hw14_lib.rl.maml import adapt_all, meta_objective
from hw14_lib.rl.policy import GaussianMLPPolicy, distribution, policy_params
from hw14_lib.rl.sampling import TrajectoryBatch, sample_trajectories
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.trust_region import mean_kl
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.evaluation import evaluate_meta_policy, later_step_sizes
from hw14_lib.run.training import draw_meta_batch


def inner_step_report(
    policy: GaussianMLPPolicy,
    tasks: Sequence[Task],
    cfg: TrainConfig,
    *,
    alphas: Sequence[float] = (0.1,),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """For each inner step size ``alpha``: mean KL between ``pi_theta`` and ``pi_theta'`` on the
    support states, ``||theta' - theta||``, and the mean stochastic return before/after the step.

    Every ``alpha`` adapts on the same support batch. Returns one dict per ``alpha`` with keys
    ``alpha, kl, step_norm, return_before, return_after, gain, std`` (returns: means over tasks and
    trajectories; ``std``: the policy's mean action standard deviation).
    """
    n = cfg.trajectories_per_task
    envs = make_task_vector_env([t for t in tasks for _ in range(n)], num_threads=cfg.physics_threads, env=cfg.env_spec)
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    generator = torch.Generator().manual_seed(seed)

    def sample(params: Any, env_seed: int) -> TrajectoryBatch:
        return sample_trajectories(
            policy, params, envs, tasks, num_trajectories=n, horizon=cfg.horizon, generator=generator, seed=env_seed
        )

    rows = []
    try:
        support = sample(theta, seed)
        advantages = cfg.advantage_settings(support)
        for alpha in alphas:
            inner = replace(cfg.inner_loop, alpha=float(alpha))
            adapted = adapt_all(policy, theta, [support], [advantages], inner, create_graph=False)
            with torch.no_grad():
                kls = [
                    mean_kl(
                        [distribution(policy, theta, support.task(b).observations)],
                        [distribution(policy, p, support.task(b).observations)],
                    )
                    for b, p in enumerate(adapted)
                ]
                norms = [torch.sqrt(sum(((p[k] - theta[k]) ** 2).sum() for k in theta)) for p in adapted]
            after = sample(adapted, seed + 1)
            before = float(support.episode_returns().mean())
            rows.append(
                {
                    "alpha": float(alpha),
                    "kl": float(torch.stack(kls).mean()),
                    "step_norm": float(torch.stack(norms).mean()),
                    "return_before": before,
                    "return_after": float(after.episode_returns().mean()),
                    "gain": float(after.episode_returns().mean()) - before,
                    "std": float(policy.log_std.detach().exp().mean()),
                }
            )
    finally:
        envs.close()
    return rows


def meta_gradient_snr(policy: GaussianMLPPolicy, cfg: TrainConfig, *, batches: int = 4, seed: int = 0) -> float:
    """``||mean g|| / sqrt(trace Cov g)`` of the meta-gradient over ``batches`` independent
    meta-batches sampled with ``cfg`` at the current ``theta``, under its own inner estimator
    (:func:`meta_gradient_variance`)."""
    spread = meta_gradient_variance(policy, cfg, estimators=(cfg.inner_estimator,), batches=batches, seed=seed)
    return spread[cfg.inner_estimator]["snr"]


def meta_gradient_variance(
    policy: GaussianMLPPolicy,
    cfg: TrainConfig,
    *,
    estimators: Sequence[str] = ("reinforce", "ratio", "dice"),
    batches: int = 16,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """The meta-gradient's spread under each inner-step estimator at the same ``theta`` and on the same
    ``batches`` meta-batches (paired: the sampled data do not depend on the estimator, since the inner gradients
    are equal at the sampling parameters): ProMP's claim is that its LVC estimator (``"ratio"``) has a lower
    variance than DiCE's (``"dice"``); the MAML paper's (``"reinforce"``) drops the curvature term altogether.

    Returns:
        ``{estimator: {"trace_cov": sum of the per-coordinate variances over batches, "mean_norm": ||mean g||,
        "snr": mean_norm / sqrt(trace_cov)}}``.
    """
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    envs = make_task_vector_env(
        [cfg.task_distribution.placeholder] * (cfg.meta_batch_size * cfg.trajectories_per_task),
        num_threads=cfg.physics_threads,
        env=cfg.env_spec,
    )
    grads: dict[str, list[Tensor]] = {e: [] for e in estimators}
    try:
        for _ in range(batches):
            batch = draw_meta_batch(cfg, policy, envs, rng, generator)
            for estimator in estimators:
                theta = policy_params(policy)
                inner = replace(cfg.inner_loop, estimator=estimator)  # type: ignore[arg-type]
                loss, _ = meta_objective(policy, theta, batch, inner)
                g = torch.autograd.grad(loss, list(theta.values()))
                grads[estimator].append(nn.utils.parameters_to_vector(g).detach())
    finally:
        envs.close()
    result = {}
    for estimator, values in grads.items():
        stacked = torch.stack(values)
        trace, norm = stacked.var(0).sum(), stacked.mean(0).norm()
        result[estimator] = {"trace_cov": float(trace), "mean_norm": float(norm), "snr": float(norm / trace.sqrt())}
    return result


def later_step_study(
    cfg: TrainConfig,
    policy: GaussianMLPPolicy,
    *,
    scales: Sequence[float],
    validation: bool = False,
    progress: bool = False,
    label: str = "later steps",
) -> list[dict[str, Any]]:
    """The final evaluation of ``cfg`` (its held-out tasks, seeds and ``k = 0..K`` steps) once per
    scale ``c``, with the step sizes ``alpha_1 = alpha`` and ``alpha_j = c * alpha`` for ``j >= 2``.

    Meta-training optimizes the return after one step of size ``alpha`` only; this measures whether
    later steps of that size overshoot. The sampling seeds do not depend on the schedule, so every
    scale sees the same returns at ``k = 0, 1``, and ``c = 1`` repeats the final evaluation exactly.
    With ``validation=True`` the tasks and seeds are those of seed ``cfg.seed + VALIDATION_SEED_OFFSET``
    instead (new goals for velocity, new samples for the two directions), so that ``c`` can be chosen
    without looking at the held-out tasks.

    ``progress`` shows a bar over the scales, named ``label``.

    Returns:
        One dict per scale: ``scale``, ``step_sizes`` (K entries), ``tasks`` (labels),
        ``mean_stochastic`` and ``mean_deterministic`` (K + 1 entries, means over tasks) and
        ``stochastic`` (``[k][task]``).
    """
    steps = max(1, cfg.eval_adaptation_steps)
    if validation:
        cfg = replace(cfg, seed=cfg.seed + VALIDATION_SEED_OFFSET)
    bad = [c for c in scales if not (math.isfinite(c) and c >= 0)]
    if bad:
        raise ValueError(f"scale {bad[0]!r} must be a finite number >= 0")
    rows = []
    for scale in tqdm(scales, desc=label, unit="scale", disable=not progress):
        step_sizes = later_step_sizes(cfg.inner_lr, steps, scale)
        evaluation, _, _ = evaluate_meta_policy(cfg, policy, step_sizes=step_sizes)
        curve = evaluation["adaptation_curve"]
        rows.append(
            {
                "scale": float(scale),
                "step_sizes": step_sizes,
                "tasks": curve["tasks"],
                "mean_stochastic": curve["mean_stochastic"],
                "mean_deterministic": curve["mean_deterministic"],
                "stochastic": curve["stochastic"],
            }
        )
    return rows
