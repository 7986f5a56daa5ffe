"""Policy-gradient losses: the surrogate an inner or outer step descends, weighted by advantages.

For a batch of trajectories the (negated) policy-gradient surrogate is

* ``"reinforce"`` (the seed's estimator): ``L(theta) = -mean_t[ A_t log pi_theta(u_t | s_t) ]``
* ``"ratio"`` (importance-weighted, used by TRPO and by ProMP's low-variance curvature estimator,
  Rothfuss et al. 2019): ``L(theta) = -mean_t[ A_t pi_theta(u_t|s_t) / pi_old(u_t|s_t) ]``

Both have the same value of the gradient at the sampling parameters; they differ in their Hessian,
which matters for the MAML meta-gradient through the inner step. The full loss adds an entropy
bonus ``-beta * mean H[pi_theta(. | s_t)]`` and an L2 term ``lambda_2 * sum_i ||theta_i||^2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

import torch
from torch import Tensor

from hw14_lib.rl.policy import GaussianMLPPolicy, distribution
from hw14_lib.rl.sampling import TrajectoryBatch

Estimator = Literal["reinforce", "ratio"]
ESTIMATORS: tuple[str, ...] = get_args(Estimator)


def log_probs(policy: GaussianMLPPolicy, params: Mapping[str, Tensor], batch: TrajectoryBatch) -> Tensor:
    """``log pi_params(u_t | s_t)`` for the whole batch in one forward pass, ``(B, N, T)``."""
    dist = distribution(policy, params, batch.observations)
    return policy.log_prob(dist, batch.raw_actions)


def surrogate(log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor, estimator: Estimator) -> Tensor:
    """The negated policy-gradient surrogate (see the module docstring), a scalar."""
    if estimator == "reinforce":
        return -(log_prob * advantages).mean()
    if estimator == "ratio":
        return -(torch.exp(log_prob - old_log_prob) * advantages).mean()
    raise ValueError(f"estimator={estimator!r} is unknown; use one of {', '.join(ESTIMATORS)}")


def policy_loss(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor],
    batch: TrajectoryBatch,
    advantages: Tensor,
    *,
    estimator: Estimator = "reinforce",
    entropy_coef: float = 0.0,
    l2: float = 0.0,
) -> Tensor:
    """``surrogate - entropy_coef * mean entropy + l2 * sum ||theta||^2`` under ``params``."""
    dist = distribution(policy, params, batch.observations)
    loss = surrogate(policy.log_prob(dist, batch.raw_actions), batch.log_probs, advantages, estimator)
    if entropy_coef:
        loss = loss - entropy_coef * policy.entropy(dist).mean()
    if l2:
        loss = loss + l2 * sum(p.pow(2).sum() for p in params.values())
    return loss
