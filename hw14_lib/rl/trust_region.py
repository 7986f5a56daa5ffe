"""The trust region of the TRPO meta-step: the KL between query policies, its Hessian-vector (Fisher)
products without third derivatives, and the conjugate-gradient solve ``F s = -g``.

TRPO's trust region is the mean KL between the query policies before and after the outer step,
``KL(theta) = mean_b KL(pi_{theta'_b(theta_0)} || pi_{theta'_b(theta)})``. Its Hessian at
``theta_0`` is a Gauss-Newton product, exactly, because the KL's gradient with respect to
``theta'_b`` vanishes there:

    F v = mean_b J_b^T F'_b J_b v,   J_b = d theta'_b / d theta,

with ``F'_b`` the Fisher matrix of ``pi_{theta'_b}`` on the query states. After ``K`` inner steps
``theta^(j+1) = theta^(j) - alpha grad L_j(theta^(j))`` the Jacobian is a chain,

    J_b = (I - alpha H_{b,K-1}) ... (I - alpha H_{b,0}),

with ``H_{b,j}`` the Hessian of task b's support loss ``j`` at ``theta^(j)`` (symmetric, so each
factor is its own transpose). Each product then needs ``2K`` support-loss Hessian-vector products
and one Fisher-vector product, all second-order (in closed form for a plain policy,
:mod:`hw14_lib.rl.mlp_curvature`); differentiating the KL through the inner loop instead (the direct route)
builds third-order graphs and costs more.

The products may be estimated on the first ``n`` trajectories of every task only (a curvature
estimate from a subsample, as TRPO implementations commonly do): the step direction still uses
the exact meta-gradient, and the points ``theta^(j)`` are those of the full support sets; only
the trust-region metric is approximated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence

from hw14_lib.rl.anil import restrict_step_size
from hw14_lib.rl.maml import InnerLoop, MetaBatch, StepSize, adapt, policy_step_sizes, support_loss, task_workers
from hw14_lib.rl.mlp_curvature import GaussianMLPFisher, SupportLossHessian
from hw14_lib.rl.parallel import map_in_threads
from hw14_lib.rl.policy import GaussianMLPPolicy, distribution, gaussian_part, has_plain_forward
from hw14_lib.rl.sampling import TrajectoryBatch


def query_distributions(
    policy: GaussianMLPPolicy, adapted: Sequence[Mapping[str, Tensor]], batch: MetaBatch, *, workers: int = 1
) -> list[Distribution]:
    """``pi_{theta'_b}(. | s)`` on each task's query states (``workers`` threads share the tasks)."""

    def task(b: int) -> Distribution:
        return distribution(policy, adapted[b], batch.query.task(b).observations)

    return map_in_threads(task, range(len(adapted)), workers=task_workers(policy, workers))


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


def conjugate_gradient(
    fvp: Callable[[Tensor], Tensor], b: Tensor, *, iterations: int = 10, tol: float = 1e-10
) -> Tensor:
    """Approximately solve ``F x = b`` for symmetric positive-definite ``F`` given ``v -> F v``.

    Stops once ``|r|^2 < tol``, checked before each step, so ``b = 0`` (a zero meta-gradient, e.g.
    when every advantage is zero) gives ``x = 0`` instead of ``0 / 0``.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    r_dot = r @ r
    for _ in range(iterations):
        if r_dot < tol:
            break
        fp = fvp(p)
        step = r_dot / (p @ fp)
        x += step * p
        r -= step * fp
        new_r_dot = r @ r
        p = r + (new_r_dot / r_dot) * p
        r_dot = new_r_dot
    return x


def meta_fisher_vector_product(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    adapted: Sequence[Mapping[str, Tensor]],
    batch: MetaBatch,
    inner: InnerLoop,
    *,
    trajectories: int | None = None,
    workers: int = 1,
) -> Callable[[Tensor], Tensor]:
    """``v -> F v`` for flat vectors ``v`` of ``theta``'s size (see the module docstring).

    Args:
        theta: the meta-parameters.
        adapted: ``theta'_b`` for each task (values only; their graphs are not used).
        batch: the meta-batch, one support set per inner step (``K = len(batch.supports)``).
        inner: the inner loop; with ``first_order`` (or no support set) ``J_b = I``.
        trajectories: estimate the ``H_{b,j}`` and ``F'_b`` on the first this many trajectories of
            each task (default: all).
        workers: threads that compute the tasks' terms ``J_b^T F'_b J_b v`` of a product (autograd runs
            without the GIL); the terms are summed in task order, so ``F v`` does not depend on it.
    """
    steps = 0 if inner.first_order else len(batch.supports)
    names = list(theta)
    # alpha_j of each inner step: the fixed float, or the learned {name: alpha_{j,p}} (constants here).
    sizes: list[StepSize] = policy_step_sizes(policy, steps, detach=True) or [inner.alpha] * steps
    sizes = [restrict_step_size(a, names, inner.adapted) for a in sizes]  # ANIL: 0 outside the head
    n = trajectories if trajectories is not None else batch.query.rewards.shape[1]
    threads = task_workers(policy, workers)

    def setup(b: int) -> TaskCurvature:
        return TaskCurvature.of(policy, theta, adapted[b], batch, b, inner, sizes, trajectories=n)

    tasks = map_in_threads(setup, range(batch.num_tasks), workers=threads)
    params = [theta[k] for k in names]

    def fisher_vector_product(flat: Tensor) -> Tensor:
        v = unflatten(flat, params)
        total = torch.zeros_like(flat)
        for product in map_in_threads(lambda task: task.term(v, names, sizes), tasks, workers=threads):
            total += product
        return total / batch.num_tasks

    return fisher_vector_product


def unflatten(flat: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """``flat`` cut into views shaped as the tensors of ``like``, in order."""
    out, start = [], 0
    for p in like:
        out.append(flat[start : start + p.numel()].view_as(p))
        start += p.numel()
    return out


Product = Callable[[Sequence[Tensor]], list[Tensor]]
"""``v -> M v`` for ``v`` a list of tensors in the order of ``theta``'s names; a list in the same order."""


@dataclass(frozen=True)
class TaskCurvature:
    """Task b's products for ``J_b^T F'_b J_b v``: the Hessians ``H_{b,j}`` of its support losses at the points
    ``theta^(j)`` (one per inner step) and the Fisher matrix ``F'_b`` at ``theta'_b``: in closed form for a plain
    policy (:mod:`hw14_lib.rl.mlp_curvature`), else by differentiating a gradient again."""

    hessians: list[Product]
    fisher: Product

    @classmethod
    def of(
        cls,
        policy: GaussianMLPPolicy,
        theta: Mapping[str, Tensor],
        adapted: Mapping[str, Tensor],
        batch: MetaBatch,
        b: int,
        inner: InnerLoop,
        sizes: Sequence[StepSize],
        *,
        trajectories: int,
    ) -> TaskCurvature:
        """Build task ``b``'s products on its first ``trajectories`` trajectories; the points ``theta^(j)`` come from
        the full support sets, as the meta-objective has them."""
        n, names = trajectories, list(theta)
        without_graph = replace(inner, first_order=True)
        point: Mapping[str, Tensor] = {k: theta[k].detach() for k in names}
        hessians = []
        for j in range(len(sizes)):
            support, advantages = batch.supports[j].task(b), batch.support_advantages[j][b : b + 1]
            sub, sub_advantages = support.first_trajectories(n), advantages[:, :n]
            hessians.append(_support_hessian(policy, point, sub, sub_advantages, inner, names))
            if j + 1 < len(sizes):
                leaf = {k: point[k].detach().requires_grad_() for k in names}
                point = adapt(policy, leaf, support, advantages, without_graph, step_size=sizes[j])
        observations = batch.query.task(b).first_trajectories(n).observations
        adapted = {k: adapted[k] for k in names}
        if has_plain_forward(policy):
            return cls(hessians, _in_order(GaussianMLPFisher.of(policy, adapted, observations).product, names))
        return cls(hessians, _fisher_by_autograd(policy, adapted, observations))

    def hessian_product(self, j: int, v: Sequence[Tensor]) -> list[Tensor]:
        """``H_{b,j} v``: the Hessian of support loss ``j`` at ``theta^(j)`` times ``v``."""
        return self.hessians[j](v)

    def jacobian_product(
        self, v: list[Tensor], names: Sequence[str], sizes: Sequence[StepSize], *, transpose: bool
    ) -> list[Tensor]:
        """``J_b v``: the factors ``I - A_j H_{b,j}`` for j = 0 .. K-1 (``A_j = alpha_j``, or ``diag(alpha_{j,p})``
        when learned); ``J_b^T v``: the transposes ``I - H_{b,j} A_j`` in reverse order."""
        for j in reversed(range(len(sizes))) if transpose else range(len(sizes)):
            alpha = sizes[j]
            if not isinstance(alpha, Mapping):
                v = [x - alpha * h for x, h in zip(v, self.hessian_product(j, v), strict=True)]
            elif transpose:
                scaled = [alpha[k] * x for k, x in zip(names, v, strict=True)]
                v = [x - h for x, h in zip(v, self.hessian_product(j, scaled), strict=True)]
            else:
                hv = self.hessian_product(j, v)
                v = [x - alpha[k] * h for k, x, h in zip(names, v, hv, strict=True)]
        return v

    def term(self, v: list[Tensor], names: Sequence[str], sizes: Sequence[StepSize]) -> Tensor:
        """``J_b^T F'_b J_b v``, flat: this task's own graphs only, so tasks run in parallel."""
        fjv = self.fisher(self.jacobian_product(v, names, sizes, transpose=False))
        return nn.utils.parameters_to_vector(self.jacobian_product(fjv, names, sizes, transpose=True))


def _in_order(product: Callable[[Mapping[str, Tensor]], dict[str, Tensor]], names: Sequence[str]) -> Product:
    """A product on dicts by name as a :data:`Product` on lists in the order of ``names``."""

    def on_lists(v: Sequence[Tensor]) -> list[Tensor]:
        out = product(dict(zip(names, v, strict=True)))
        return [out[k] for k in names]

    return on_lists


def _support_hessian(
    policy: GaussianMLPPolicy,
    point: Mapping[str, Tensor],
    support: TrajectoryBatch,
    advantages: Tensor,
    inner: InnerLoop,
    names: Sequence[str],
) -> Product:
    """``v -> H v``, the Hessian of the support loss on ``support`` at ``point``: in closed form for a plain policy
    (:class:`~hw14_lib.rl.mlp_curvature.SupportLossHessian`), else by differentiating the loss's gradient again."""
    if has_plain_forward(policy):
        hessian = SupportLossHessian.of(policy, point, support, advantages, estimator=inner.estimator, l2=inner.l2)
        return _in_order(hessian.product, names)
    leaves = [point[k].detach().requires_grad_() for k in names]
    loss = support_loss(policy, dict(zip(names, leaves, strict=True)), support, advantages, inner)
    return _hessian_by_autograd(loss, leaves)


def _fisher_by_autograd(policy: GaussianMLPPolicy, adapted: Mapping[str, Tensor], observations: Tensor) -> Product:
    """``v -> F' v``, the Hessian of the mean ``KL(pi_{theta'} || pi_x)`` at ``x = theta'`` times ``v`` (a list in
    ``adapted``'s order), by differentiating the KL's gradient again: any policy."""
    leaves = [value.detach().requires_grad_() for value in adapted.values()]
    new = distribution(policy, dict(zip(adapted, leaves, strict=True)), observations)
    kl = kl_divergence(gaussian_part(detach_distribution(new)), gaussian_part(new)).mean()
    return _hessian_by_autograd(kl, leaves)


def _hessian_by_autograd(loss: Tensor, leaves: Sequence[Tensor]) -> Product:
    """``v -> (d^2 loss / d leaves^2) v``: the gradient of ``grad loss . v``, its graph kept for every product."""
    grads = torch.autograd.grad(loss, list(leaves), create_graph=True)

    def product(v: Sequence[Tensor]) -> list[Tensor]:
        dot = sum((g * x).sum() for g, x in zip(grads, v, strict=True))
        return list(torch.autograd.grad(dot, list(leaves), retain_graph=True))

    return product


def kl_hessian_by_autograd(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    adapted: Sequence[Mapping[str, Tensor]],
    batch: MetaBatch,
) -> Callable[[Tensor], Tensor]:
    """The direct route, kept as the reference: ``v -> H v`` with ``H`` the Hessian of the mean
    query KL at ``theta``, by differentiating the KL twice through the whole inner loop.

    ``adapted`` must carry its graph back to ``theta`` (``meta_objective`` with ``create_graph``);
    the graphs are third-order, so this is slower than :func:`meta_fisher_vector_product`, which
    equals it when ``trajectories`` is ``None``.
    """
    params = list(theta.values())
    old = [detach_distribution(d) for d in query_distributions(policy, adapted, batch)]
    kl = mean_kl(old, query_distributions(policy, adapted, batch))
    flat_kl_grad = nn.utils.parameters_to_vector(torch.autograd.grad(kl, params, create_graph=True))

    def product(v: Tensor) -> Tensor:
        return nn.utils.parameters_to_vector(torch.autograd.grad(flat_kl_grad @ v, params, retain_graph=True))

    return product
