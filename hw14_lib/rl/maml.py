"""MAML for policy gradients (Finn, Abbeel and Levine 2017, Algorithm 3).

Inner step (adaptation to task ``T_i`` from support trajectories ``D_i`` sampled with ``theta``):

    theta'_i = theta - alpha * grad_theta L_{D_i}(theta)

computed as a *new* parameter dict; the policy module is never modified. With
``first_order=False`` the gradient keeps its graph (``create_graph=True``), so the outer gradient
contains the Hessian term ``(I - alpha * H_i)``; first-order MAML drops it. ``k`` inner steps
apply the update ``k`` times, each on fresh support data sampled with the current ``theta'``.

Outer objective, the mean query loss over the meta-batch of ``B`` tasks, with query trajectories
``D'_i`` sampled with ``theta'_i``:

    L_meta(theta) = (1 / B) sum_i L_{D'_i}(theta'_i(theta))

:func:`sample_meta_batch` draws what one meta-iteration of Algorithm 3 needs: for given tasks, the
support sets (one per inner step) and the query set, each sampled with the parameters of its step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from hw14_lib.rl.anil import restrict_step_size
from hw14_lib.rl.losses import Estimator, log_probs, policy_loss, surrogate
from hw14_lib.rl.parallel import map_in_threads
from hw14_lib.rl.policy import GaussianMLPPolicy, Params, has_plain_forward, learned_step_sizes, policy_params
from hw14_lib.rl.sampling import TrajectoryBatch, sample_trajectories
from hw14_lib.rl.tasks import Task

Objective = Literal["maml", "pretrain"]
"""What a run trains: ``maml``, the query loss after adaptation (:func:`meta_objective`), or ``pretrain``, the query
loss at theta on all tasks jointly (the paper's pretrained baseline and oracles)."""
META_OBJECTIVE: Objective = "maml"


@dataclass(frozen=True)
class InnerLoop:
    """Hyperparameters of the adaptation step.

    Attributes:
        alpha: inner learning rate.
        first_order: drop second-order terms (FOMAML).
        l2: coefficient of ``sum ||theta||^2`` in the support loss (the starter code's inner L2).
        entropy_coef: entropy bonus in the support loss.
        estimator: ``"reinforce"`` (the starter code's), ``"ratio"`` (ProMP's low-variance curvature) or ``"dice"``
            (the full curvature), see :mod:`hw14_lib.rl.losses`.
        adapted: the parameter tensors the inner step updates (``None``: all, MAML; :data:`hw14_lib.rl.anil.HEAD`:
            ANIL); the others keep ``theta``'s values (step size 0).
    """

    alpha: float = 0.1
    first_order: bool = False
    l2: float = 1e-3
    entropy_coef: float = 0.0
    estimator: Estimator = "reinforce"
    adapted: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MetaBatch:
    """Everything one meta-iteration sampled.

    Attributes:
        supports: one :class:`TrajectoryBatch` (B tasks) per inner step; step ``k`` was sampled with
            the parameters after ``k`` inner steps.
        support_advantages: matching ``(B, N, T)`` advantages.
        query: trajectories sampled with each task's adapted parameters.
        query_advantages: ``(B, N, T)``.
    """

    supports: tuple[TrajectoryBatch, ...]
    support_advantages: tuple[Tensor, ...]
    query: TrajectoryBatch
    query_advantages: Tensor

    @property
    def num_tasks(self) -> int:
        """B."""
        return len(self.query.tasks)


def support_loss(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor],
    support: TrajectoryBatch,
    advantages: Tensor,
    inner: InnerLoop,
) -> Tensor:
    """``L_support(params)``, the loss an inner step descends: the inner loop's estimator, entropy
    bonus and L2 term on ``support`` weighted by ``advantages`` ``(B, N, T)``."""
    return policy_loss(
        policy,
        params,
        support,
        advantages,
        estimator=inner.estimator,
        entropy_coef=inner.entropy_coef,
        l2=inner.l2,
    )


StepSize = float | Mapping[str, Tensor | float]
"""An inner step's size: one ``alpha`` for every tensor, or ``alpha_p`` per parameter tensor (learned ones)."""


def adapt(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor],
    support: TrajectoryBatch,
    advantages: Tensor,
    inner: InnerLoop,
    *,
    step_size: StepSize | None = None,
) -> Params:
    """One inner step ``theta'_p = theta_p - alpha_p * grad_p L_support(theta)``; returns a new dict.

    Args:
        params: ``theta`` (tensors that require grad); the module's own parameters are not touched.
        support: the support trajectories of one task (leading task axis of size 1) or of the
            tasks that share ``params``.
        advantages: ``(B, N, T)`` weights of the support loss.
        step_size: ``alpha`` (default ``inner.alpha``), or ``{name: alpha_p}`` (scalars or tensors of the
            parameter's shape; the meta-gradient flows into them).
    """
    names = list(params)
    alpha = restrict_step_size(inner.alpha if step_size is None else step_size, names, inner.adapted)
    loss = support_loss(policy, params, support, advantages, inner)
    grads = torch.autograd.grad(loss, [params[k] for k in names], create_graph=not inner.first_order)
    if isinstance(alpha, Mapping):  # a size of exactly 0 (ANIL's body) keeps the tensor: no 0 * inf, no graph
        return {
            k: params[k] if isinstance(alpha[k], float) and alpha[k] == 0.0 else params[k] - alpha[k] * g
            for k, g in zip(names, grads, strict=True)
        }
    return {k: params[k] - alpha * g for k, g in zip(names, grads, strict=True)}


def policy_step_sizes(policy: GaussianMLPPolicy, steps: int, *, detach: bool) -> list[StepSize] | None:
    """The step sizes ``policy`` learned for inner steps ``0 .. steps - 1`` (detached for sampling and evaluation,
    where no gradient reaches them), or ``None`` for a policy with a fixed ``alpha``: what training and evaluation
    pass to :func:`adapt_all`'s ``step_sizes``."""
    learned = learned_step_sizes(policy)
    if learned is None:
        return None
    schedule = learned.schedule(steps)
    return [{k: a.detach() for k, a in sizes.items()} for sizes in schedule] if detach else list(schedule)


def adapt_all(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    supports: Sequence[TrajectoryBatch],
    support_advantages: Sequence[Tensor],
    inner: InnerLoop,
    *,
    create_graph: bool = True,
    num_tasks: int | None = None,
    step_sizes: Sequence[StepSize] | None = None,
    workers: int = 1,
) -> list[Params]:
    """``theta'_b`` for every task ``b``: ``len(supports)`` inner steps from ``theta``.

    With no supports, every task keeps ``theta`` (``num_tasks`` then gives their number). With
    ``create_graph=False`` the result is detached (for sampling or evaluation only).
    ``step_sizes[j]``, when given, replaces ``inner.alpha`` in step ``j``:
    ``theta^(j+1) = theta^(j) - alpha_j * grad L_j(theta^(j))`` (a test-time schedule, or a policy's learned sizes
    from :func:`policy_step_sizes`; it needs at least ``len(supports)`` entries). Without it every step takes
    ``inner.alpha``: step sizes are an argument, never looked up on the module. With ``create_graph=False`` the
    tasks are independent and
    ``workers`` threads adapt them (:func:`~hw14_lib.rl.parallel.map_in_threads`; the same numbers).
    """
    if num_tasks is None:
        num_tasks = len(supports[0].tasks)
    if step_sizes is not None and len(step_sizes) < len(supports):
        raise ValueError(f"step_sizes has {len(step_sizes)} entries for {len(supports)} inner steps")
    sizes: list[StepSize | None] = [None] * len(supports) if step_sizes is None else list(step_sizes)
    sizes = [float(a) if isinstance(a, (int, float)) else a for a in sizes]

    def task(b: int) -> Params:
        return adapt_task(policy, theta, supports, support_advantages, b, inner, sizes, create_graph=create_graph)

    # The graph of the meta-gradient is built in this thread only: the autograd engine orders a backward
    # pass by the creation order of its nodes, which threads would interleave (and so the sums' rounding).
    return map_in_threads(task, range(num_tasks), workers=task_workers(policy, 1 if create_graph else workers))


def adapt_task(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    supports: Sequence[TrajectoryBatch],
    support_advantages: Sequence[Tensor],
    b: int,
    inner: InnerLoop,
    sizes: Sequence[StepSize | None],
    *,
    create_graph: bool = True,
) -> Params:
    """``theta'_b``: task ``b``'s ``len(supports)`` inner steps from ``theta``, step ``j`` of size ``sizes[j]``
    (``None``: ``inner.alpha``); with ``create_graph=False`` every step starts from a detached point and the result
    is detached."""
    params: Mapping[str, Tensor] = theta
    if not create_graph:
        params = {k: v.detach().requires_grad_() for k, v in theta.items()}
    for j, (support, advantages) in enumerate(zip(supports, support_advantages, strict=True)):
        params = adapt(policy, params, support.task(b), advantages[b : b + 1], inner, step_size=sizes[j])
        if not create_graph:
            params = {k: v.detach().requires_grad_() for k, v in params.items()}
    return dict(params) if create_graph else {k: v.detach() for k, v in params.items()}


def query_loss(
    policy: GaussianMLPPolicy, params: Mapping[str, Tensor], batch: MetaBatch, b: int, estimator: Estimator
) -> Tensor:
    """Task ``b``'s query loss under ``params`` (``theta'_b``), by ``estimator`` (see :func:`meta_objective`)."""
    query = batch.query.task(b)
    log_prob = log_probs(policy, params, query)
    return surrogate(log_prob, query.log_probs, batch.query_advantages[b : b + 1], estimator)


def task_workers(policy: GaussianMLPPolicy, workers: int) -> int:
    """``workers``, or 1 for a policy whose forward goes through ``functional_call`` (not thread-safe)."""
    return workers if has_plain_forward(policy) else 1


def meta_objective(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    batch: MetaBatch,
    inner: InnerLoop,
    *,
    create_graph: bool = True,
    estimator: Estimator = "reinforce",
    workers: int = 1,
) -> tuple[Tensor, list[Params]]:
    """``L_meta(theta)`` (a scalar) and the adapted parameter dicts ``theta'_b``.

    ``estimator="reinforce"`` gives the starter code's query loss ``-mean(A log pi_{theta'})``;
    ``"ratio"`` the importance-weighted surrogate against the log-probs recorded while sampling,
    whose value can be re-evaluated at a new ``theta`` (TRPO's line search). Their gradients at
    the sampling parameters are equal. Without ``create_graph`` (a value only, as in the line search)
    ``workers`` threads share the tasks.
    """
    adapted = adapt_all(
        policy,
        theta,
        batch.supports,
        batch.support_advantages,
        inner,
        create_graph=create_graph,
        num_tasks=len(batch.query.tasks),  # the pretrain objective has no supports
        step_sizes=policy_step_sizes(policy, len(batch.supports), detach=not create_graph),
        workers=workers,
    )

    def task_loss(b: int) -> Tensor:
        return query_loss(policy, adapted[b], batch, b, estimator)

    threads = task_workers(policy, 1 if create_graph else workers)
    return torch.stack(map_in_threads(task_loss, range(len(adapted)), workers=threads)).mean(), adapted


def sample_meta_batch(
    policy: GaussianMLPPolicy,
    envs: gym.vector.VectorEnv,
    tasks: Sequence[Task],
    *,
    inner: InnerLoop,
    advantages: Callable[[TrajectoryBatch], Tensor],
    inner_steps: int,
    num_trajectories: int,
    horizon: int,
    rng: np.random.Generator,
    generator: torch.Generator,
    workers: int = 1,
) -> MetaBatch:
    """Sample one meta-batch of Algorithm 3 (Finn et al. 2017) for the B ``tasks``.

    For each inner step ``k = 0..K-1`` (``K = inner_steps``), sample ``N = num_trajectories`` support
    trajectories of ``T = horizon`` steps per task with ``theta'^(k)`` (``theta'^(0) = theta``), weight them by
    ``advantages`` and take the detached inner step to ``theta'^(k+1)``; then sample the query set with
    ``theta'^(K)``. ``K = 0`` samples only the query set at ``theta`` (the pretraining objective).

    Args:
        envs: a vector environment with ``B * N`` copies (see :func:`hw14_lib.rl.make_env.make_task_vector_env`).
        advantages: ``(B, N, T)`` weights of a batch (an :class:`~hw14_lib.rl.advantages.AdvantageSettings`).
        rng: draws one environment seed per sampled set; ``generator`` draws the actions.
        workers: threads of the detached inner steps between the sets (the same numbers with any).

    Returns:
        A :class:`MetaBatch` with ``K`` support sets of shape ``(B, N, T)`` and the query set.
    """
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    sampling_params: Params | list[Params] = theta
    supports: list[TrajectoryBatch] = []
    support_advantages: list[Tensor] = []

    def sample(params: Params | list[Params]) -> TrajectoryBatch:
        return sample_trajectories(
            policy,
            params,
            envs,
            list(tasks),
            num_trajectories=num_trajectories,
            horizon=horizon,
            generator=generator,
            seed=int(rng.integers(2**31)),
        )

    for _ in range(inner_steps):
        supports.append(sample(sampling_params))
        support_advantages.append(advantages(supports[-1]))
        sizes = policy_step_sizes(policy, len(supports), detach=True)
        sampling_params = adapt_all(
            policy, theta, supports, support_advantages, inner, create_graph=False, step_sizes=sizes, workers=workers
        )
    query = sample(sampling_params)
    return MetaBatch(tuple(supports), tuple(support_advantages), query, advantages(query))
