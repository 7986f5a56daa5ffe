"""Fisher-vector products of the meta-policy for the TRPO meta-step, without third derivatives.

TRPO's trust region is the mean KL between the query policies before and after the outer step,
``KL(theta) = mean_b KL(pi_{theta'_b(theta_0)} || pi_{theta'_b(theta)})``. Its Hessian at
``theta_0`` is a Gauss-Newton product, exactly, because the KL's gradient with respect to
``theta'_b`` vanishes there:

    F v = mean_b J_b^T F'_b J_b v,   J_b = d theta'_b / d theta = I - alpha H_b,

with ``H_b`` the Hessian of task b's support loss at ``theta`` and ``F'_b`` the Fisher matrix of
``pi_{theta'_b}`` on the query states. Each product then needs two support-loss Hessian-vector
products and one Fisher-vector product, all second-order; differentiating the KL through the
inner step instead (the direct route) builds third-order graphs and costs more.

The products may be estimated on the first ``n`` trajectories of every task only (a curvature
estimate from a subsample, as TRPO implementations commonly do): the step direction still uses
the exact meta-gradient; only the trust-region metric is approximated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import kl_divergence

from hw14_lib.losses import policy_loss
from hw14_lib.maml import InnerLoop, MetaBatch, detach_distribution
from hw14_lib.policy import GaussianMLPPolicy, distribution, gaussian_part


def supports_gauss_newton(batch: MetaBatch, inner: InnerLoop) -> bool:
    """The factorization needs at most one inner step (one Jacobian per task)."""
    return len(batch.supports) <= 1


def meta_fisher_vector_product(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    adapted: Sequence[Mapping[str, Tensor]],
    batch: MetaBatch,
    inner: InnerLoop,
    *,
    trajectories: int | None = None,
) -> Callable[[Tensor], Tensor]:
    """``v -> F v`` for flat vectors ``v`` of ``theta``'s size (see the module docstring).

    Args:
        theta: the meta-parameters (tensors that require grad).
        adapted: ``theta'_b`` for each task (values only; their graphs are not used).
        batch: the meta-batch; at most one support set (:func:`supports_gauss_newton`).
        inner: the inner loop; with ``first_order`` (or no support set) ``J_b = I``.
        trajectories: estimate ``H_b`` and ``F'_b`` on the first this many trajectories of each
            task (default: all).
    """
    if not supports_gauss_newton(batch, inner):
        raise ValueError(f"the Gauss-Newton Fisher product needs <= 1 inner step, got {len(batch.supports)}")
    names = list(theta)
    params = [theta[k] for k in names]
    identity_jacobian = inner.first_order or not batch.supports
    inner_grads: list[tuple[Tensor, ...]] = []
    kl_grads: list[tuple[Tensor, ...]] = []
    leaves: list[list[Tensor]] = []
    n = trajectories if trajectories is not None else batch.query.rewards.shape[1]
    for b in range(batch.num_tasks):
        if not identity_jacobian:
            support = batch.supports[0].task(b).first_trajectories(n)
            loss = policy_loss(
                policy,
                theta,
                support,
                batch.support_advantages[0][b : b + 1, :n],
                estimator=inner.estimator,
                entropy_coef=inner.entropy_coef,
                l2=inner.l2,
            )
            inner_grads.append(torch.autograd.grad(loss, params, create_graph=True))
        leaf = {k: adapted[b][k].detach().requires_grad_() for k in names}
        new = distribution(policy, leaf, batch.query.task(b).first_trajectories(n).observations)
        kl = kl_divergence(gaussian_part(detach_distribution(new)), gaussian_part(new)).mean()
        kl_grads.append(torch.autograd.grad(kl, list(leaf.values()), create_graph=True))
        leaves.append(list(leaf.values()))

    def unflatten(flat: Tensor) -> list[Tensor]:
        out, start = [], 0
        for p in params:
            out.append(flat[start : start + p.numel()].view_as(p))
            start += p.numel()
        return out

    def jacobian_product(b: int, v: list[Tensor]) -> list[Tensor]:
        # J_b v = J_b^T v = v - alpha H_b v (H_b is symmetric).
        if identity_jacobian:
            return v
        dot = sum((g * x).sum() for g, x in zip(inner_grads[b], v, strict=True))
        hv = torch.autograd.grad(dot, params, retain_graph=True)
        return [x - inner.alpha * h for x, h in zip(v, hv, strict=True)]

    def fisher_vector_product(flat: Tensor) -> Tensor:
        v = unflatten(flat)
        total = torch.zeros_like(flat)
        for b in range(batch.num_tasks):
            jv = jacobian_product(b, v)
            dot = sum((g * x).sum() for g, x in zip(kl_grads[b], jv, strict=True))
            fjv = list(torch.autograd.grad(dot, leaves[b], retain_graph=True))
            total += nn.utils.parameters_to_vector(jacobian_product(b, fjv))
        return total / batch.num_tasks

    return fisher_vector_product
