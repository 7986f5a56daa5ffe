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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

from hw14_lib.losses import Estimator, log_probs, policy_loss, surrogate
from hw14_lib.policy import GaussianMLPPolicy, Params, distribution, gaussian_part
from hw14_lib.sampling import TrajectoryBatch


@dataclass(frozen=True)
class InnerLoop:
    """Hyperparameters of the adaptation step.

    Attributes:
        alpha: inner learning rate.
        first_order: drop second-order terms (FOMAML).
        l2: coefficient of ``sum ||theta||^2`` in the support loss (the seed's inner L2).
        entropy_coef: entropy bonus in the support loss.
        estimator: ``"reinforce"`` (seed) or ``"ratio"`` (ProMP's low-variance curvature).
    """

    alpha: float = 0.1
    first_order: bool = False
    l2: float = 1e-3
    entropy_coef: float = 0.0
    estimator: Estimator = "reinforce"


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


def adapt(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor],
    support: TrajectoryBatch,
    advantages: Tensor,
    inner: InnerLoop,
) -> Params:
    """One inner step ``theta' = theta - alpha * grad L_support(theta)``; returns a new dict.

    Args:
        params: ``theta`` (tensors that require grad); the module's own parameters are not touched.
        support: the support trajectories of one task (leading task axis of size 1) or of the
            tasks that share ``params``.
        advantages: ``(B, N, T)`` weights of the support loss.
    """
    loss = support_loss(policy, params, support, advantages, inner)
    names = list(params)
    grads = torch.autograd.grad(loss, [params[k] for k in names], create_graph=not inner.first_order)
    return {k: params[k] - inner.alpha * g for k, g in zip(names, grads, strict=True)}


def adapt_all(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    supports: Sequence[TrajectoryBatch],
    support_advantages: Sequence[Tensor],
    inner: InnerLoop,
    *,
    create_graph: bool = True,
    num_tasks: int | None = None,
    step_sizes: Sequence[float] | None = None,
) -> list[Params]:
    """``theta'_b`` for every task ``b``: ``len(supports)`` inner steps from ``theta``.

    With no supports, every task keeps ``theta`` (``num_tasks`` then gives their number). With
    ``create_graph=False`` the result is detached (for sampling or evaluation only).
    ``step_sizes[j]``, when given, replaces ``inner.alpha`` in step ``j``:
    ``theta^(j+1) = theta^(j) - alpha_j * grad L_j(theta^(j))`` (a test-time schedule; it needs at
    least ``len(supports)`` entries).
    """
    if num_tasks is None:
        num_tasks = len(supports[0].tasks)
    if step_sizes is not None and len(step_sizes) < len(supports):
        raise ValueError(f"step_sizes has {len(step_sizes)} entries for {len(supports)} inner steps")
    inners = [inner] * len(supports) if step_sizes is None else [replace(inner, alpha=float(a)) for a in step_sizes]
    adapted = []
    for b in range(num_tasks):
        params: Mapping[str, Tensor] = theta
        if not create_graph:
            params = {k: v.detach().requires_grad_() for k, v in theta.items()}
        for j, (support, advantages) in enumerate(zip(supports, support_advantages, strict=True)):
            params = adapt(policy, params, support.task(b), advantages[b : b + 1], inners[j])
            if not create_graph:
                params = {k: v.detach().requires_grad_() for k, v in params.items()}
        adapted.append(dict(params) if create_graph else {k: v.detach() for k, v in params.items()})
    return adapted


def meta_objective(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    batch: MetaBatch,
    inner: InnerLoop,
    *,
    create_graph: bool = True,
    estimator: Estimator = "reinforce",
) -> tuple[Tensor, list[Params]]:
    """``L_meta(theta)`` (a scalar) and the adapted parameter dicts ``theta'_b``.

    ``estimator="reinforce"`` gives the seed's query loss ``-mean(A log pi_{theta'})``;
    ``"ratio"`` the importance-weighted surrogate against the log-probs recorded while sampling,
    whose value can be re-evaluated at a new ``theta`` (TRPO's line search). Their gradients at
    the sampling parameters are equal.
    """
    adapted = adapt_all(
        policy,
        theta,
        batch.supports,
        batch.support_advantages,
        inner,
        create_graph=create_graph,
        num_tasks=len(batch.query.tasks),  # the pretrain objective has no supports
    )
    losses = []
    for b, params in enumerate(adapted):
        query = batch.query.task(b)
        log_prob = log_probs(policy, params, query)
        losses.append(surrogate(log_prob, query.log_probs, batch.query_advantages[b : b + 1], estimator))
    return torch.stack(losses).mean(), adapted


def query_distributions(
    policy: GaussianMLPPolicy, adapted: Sequence[Mapping[str, Tensor]], batch: MetaBatch
) -> list[Distribution]:
    """``pi_{theta'_b}(. | s)`` on each task's query states."""
    return [distribution(policy, p, batch.query.task(b).observations) for b, p in enumerate(adapted)]


def mean_kl(old: Sequence[Distribution], new: Sequence[Distribution]) -> Tensor:
    """Mean over tasks and states of ``KL(pi_old || pi_new)`` between the Gaussians (a tanh squash
    is a bijection and leaves the KL unchanged)."""
    kls = [kl_divergence(gaussian_part(o), gaussian_part(n)).mean() for o, n in zip(old, new, strict=True)]
    return torch.stack(kls).mean()


def detach_distribution(dist: Distribution) -> Distribution:
    """A copy of a Gaussian policy distribution with its parameters detached."""
    gaussian = gaussian_part(dist)
    normal = gaussian.base_dist
    return torch.distributions.Independent(torch.distributions.Normal(normal.loc.detach(), normal.scale.detach()), 1)
