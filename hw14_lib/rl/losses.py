"""Policy-gradient losses: the surrogate an inner or outer step descends, weighted by advantages.

For a batch of trajectories the (negated) policy-gradient surrogate is

* ``"reinforce"`` (the starter code's estimator): ``L(theta) = -mean_t[ A_t log pi_theta(u_t | s_t) ]``
* ``"ratio"`` (importance-weighted, used by TRPO and by ProMP's low-variance curvature estimator,
  Rothfuss et al. 2019): ``L(theta) = -mean_t[ A_t pi_theta(u_t|s_t) / pi_old(u_t|s_t) ]``
* ``"dice"`` (DiCE, Foerster et al. 2018, on the advantage increments ``w_t = A_t - A_{t+1}``, ``A_T = 0``):
  ``L(theta) = -mean_t[ w_t exp(S_t - S_t^old) ]`` with ``S_t = sum_{t' <= t} log pi_theta(u_t'|s_t')``, the
  running log-likelihood of each trajectory: the importance weight of the trajectory's first ``t + 1`` steps. At
  the sampling parameters it has the value and every derivative of DiCE's ``w_t exp(S_t - stop(S_t))``, and
  unlike that it is a function of ``theta`` (finite differences and a line search see what autograd sees).

All three have the same value of the gradient at the sampling parameters (DiCE's is
``sum_t' grad log pi_t' sum_{t >= t'} w_t = sum_t' A_t' grad log pi_t'``); they differ in their Hessian, which
matters for the MAML meta-gradient through the inner step. REINFORCE's drops the score-function term of the
sampling distribution (the MAML paper's formulation); LVC keeps it for each step alone
(``A_t grad log pi_t grad log pi_t^T``); DiCE keeps it across steps too
(``w_t grad S_t grad S_t^T``: DiCE's second-order estimate, whose variance ProMP's LVC is built to avoid). The
full loss adds an entropy bonus ``-beta * mean H[pi_theta(. | s_t)]`` and an L2 term ``lambda_2 * sum_i ||theta_i||^2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

import torch
from torch import Tensor

from hw14_lib.rl.policy import GaussianMLPPolicy, distribution
from hw14_lib.rl.sampling import TrajectoryBatch

Estimator = Literal["reinforce", "ratio", "dice"]
ESTIMATORS: tuple[str, ...] = get_args(Estimator)


def log_probs(policy: GaussianMLPPolicy, params: Mapping[str, Tensor], batch: TrajectoryBatch) -> Tensor:
    """``log pi_params(u_t | s_t)`` for the whole batch in one forward pass, ``(B, N, T)``."""
    dist = distribution(policy, params, batch.observations)
    return policy.log_prob(dist, batch.raw_actions)


def surrogate(log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor, estimator: Estimator) -> Tensor:
    """The negated policy-gradient surrogate (see the module docstring), a scalar.

    Args:
        log_prob: ``log pi_theta(u_t | s_t)``, ``(..., T)`` with time last (``"dice"`` sums along it).
        old_log_prob: the same under the sampling parameters, detached (``"ratio"`` and ``"dice"``).
        advantages: ``A_t``, shaped like ``log_prob``.
    """
    if estimator == "reinforce":
        return -(log_prob * advantages).mean()
    if estimator == "ratio":
        return -(torch.exp(log_prob - old_log_prob) * advantages).mean()
    if estimator == "dice":
        return -(torch.exp((log_prob - old_log_prob).cumsum(-1)) * dice_increments(advantages)).mean()
    raise ValueError(f"estimator={estimator!r} is unknown; use one of {', '.join(ESTIMATORS)}")


def dice_increments(advantages: Tensor) -> Tensor:
    """DiCE's weights ``w_t = A_t - A_{t+1}`` (``A_T = 0``), along the last (time) axis of ``advantages``."""
    return advantages - torch.nn.functional.pad(advantages[..., 1:], (0, 1))


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
