"""ProMP's outer step (Rothfuss et al. 2019, "ProMP: Proximal Meta-Policy Search").

On one sampled meta-batch ProMP takes several Adam steps of

    L(theta) = (1/B) sum_i L^CLIP_i(theta'_i(theta)) + eta * (1/B) sum_i KL(pi_theta || pi_theta'_i)

* the inner step ``theta'_i = theta - alpha grad L^LVC_i(theta)`` uses the low-variance curvature estimator
  (``InnerLoop(estimator="ratio")``: ``-mean_t[A_t pi_theta(u_t|s_t) / pi_old(u_t|s_t)]``, whose Hessian has no
  term of the policy's own score-function variance);
* ``L^CLIP_i`` is PPO's clipped surrogate on the query set, with the ratio of ``pi_theta'_i`` to the adapted policy
  that sampled it: ``-mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)``;
* the KL term (on the support states) penalizes inner steps that move the policy too far; ``eta`` is fixed (ProMP's
  MuJoCo runs: 5e-4) or, with ``adaptive_kl``, adapts after each meta-batch towards ``target_inner_kl`` (halved
  below ``target / 1.5``, doubled above ``1.5 target``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.distributions import kl_divergence

from hw14_lib.rl.losses import log_probs
from hw14_lib.rl.maml import InnerLoop, MetaBatch, adapt_all
from hw14_lib.rl.outer import NonFiniteError, finish_step, step_size_summary
from hw14_lib.rl.policy import GaussianMLPPolicy, distribution, gaussian_part, policy_params


def clipped_surrogate(log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor, clip: float) -> Tensor:
    """PPO's negated clipped surrogate ``-mean_t min(r_t A_t, clip(r_t, 1 - clip, 1 + clip) A_t)``, a scalar
    (``r_t = exp(log_prob - old_log_prob)``; all ``(..., T)``)."""
    ratio = torch.exp(log_prob - old_log_prob)
    return -torch.minimum(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages).mean()


def promp_objective(
    policy: GaussianMLPPolicy, theta: dict[str, Tensor], batch: MetaBatch, inner: InnerLoop, *, clip: float
) -> tuple[Tensor, Tensor]:
    """``(mean_i L^CLIP_i(theta'_i), mean_i KL(pi_theta || pi_theta'_i))`` on ``batch`` (one inner step per support
    set, with the LVC estimator); both carry the graph back to ``theta``."""
    lvc = replace(inner, estimator="ratio")
    adapted = adapt_all(policy, theta, batch.supports, batch.support_advantages, lvc, num_tasks=batch.num_tasks)
    losses, kls = [], []
    for b, params in enumerate(adapted):
        query = batch.query.task(b)
        losses.append(
            clipped_surrogate(log_probs(policy, params, query), query.log_probs, batch.query_advantages[b], clip)
        )
        if batch.supports:
            states = batch.supports[0].task(b).observations
            before, after = distribution(policy, theta, states), distribution(policy, params, states)
            kls.append(kl_divergence(gaussian_part(before), gaussian_part(after)).mean())
    kl = torch.stack(kls).mean() if kls else torch.zeros(())
    return torch.stack(losses).mean(), kl


@dataclass(frozen=True)
class ProMPSettings:
    """ProMP's outer step (ProMP's own values as defaults, apart from the learning rate, which is Adam's 3e-4 of
    the training configuration)."""

    lr: float = 1e-3
    """Adam's learning rate (ProMP's 1e-3)."""
    steps: int = 5
    """Adam steps per meta-batch (ProMP's 5)."""
    clip: float = 0.3
    """PPO's clipping range ``eps``, in (0, 1) (ProMP's 0.3)."""
    target_kl: float = 0.01
    """The inner step's KL that an adaptive ``eta`` adapts towards (ProMP's 0.01)."""
    kl_coef: float = 5e-4
    """``eta`` (at the start, if adaptive; ProMP's 5e-4)."""
    adaptive_kl: bool = False
    """Adapt ``eta`` after each meta-batch (ProMP's MuJoCo runs keep it fixed)."""
    CONFIG_KEYS: ClassVar[dict[str, str]] = {
        "lr": "outer_lr", **{name: f"promp_{name}" for name in ("steps", "clip", "target_kl", "kl_coef", "adaptive_kl")}
    }  # fmt: skip
    """The :class:`~hw14_lib.run.config.TrainConfig` field of each setting."""

    def __post_init__(self) -> None:
        if self.steps < 1 or not 0 < self.clip < 1:
            raise ValueError(f"steps={self.steps!r}, clip={self.clip!r}; allowed: steps >= 1, 0 < clip < 1")


class ProMPMetaOptimizer:
    """ProMP's outer step (see the module docstring; :class:`ProMPSettings`), behind
    :class:`~hw14_lib.rl.outer.OuterOptimizer`: Adam on the policy's parameters (``theta``, and learned step sizes
    if any, which :func:`~hw14_lib.rl.outer.finish_step` projects)."""

    def __init__(self, policy: GaussianMLPPolicy, settings: ProMPSettings | None = None):
        self.settings = settings if settings is not None else ProMPSettings()
        self.policy = policy
        self.kl_coef = self.settings.kl_coef
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=self.settings.lr)

    def step(self, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        """``steps`` Adam steps on the ProMP objective of ``batch``; returns the first step's ``meta_loss`` (the
        clipped surrogate), ``grad_norm``, the inner ``kl`` after the last step and the KL coefficient."""
        policy, settings = self.policy, self.settings
        first_loss, first_norm, kl_value = float("nan"), float("nan"), float("nan")
        for s in range(settings.steps):
            loss, kl = promp_objective(policy, policy_params(policy), batch, inner, clip=settings.clip)
            total = loss + self.kl_coef * kl
            if not torch.isfinite(total):
                raise NonFiniteError("ProMP objective")
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            grads = [p.grad for p in policy.parameters() if p.grad is not None]
            if not all(torch.isfinite(g).all() for g in grads):
                raise NonFiniteError("ProMP gradient")
            norm = float(nn.utils.get_total_norm(grads)) if grads else 0.0
            self.optimizer.step()
            if s == 0:
                first_loss, first_norm = loss.item(), norm
            kl_value = kl.item()
        finish_step(policy)
        if settings.adaptive_kl and kl_value < settings.target_kl / 1.5:
            self.kl_coef /= 2.0
        elif settings.adaptive_kl and kl_value > 1.5 * settings.target_kl:
            self.kl_coef *= 2.0
        return {
            "meta_loss": first_loss,
            "grad_norm": first_norm,
            "kl": kl_value,
            "kl_coef": self.kl_coef,
            **step_size_summary(policy),
        }

    def state_dict(self) -> dict[str, Any]:
        """Adam's moments and the KL coefficient."""
        return {"adam": self.optimizer.state_dict(), "kl_coef": self.kl_coef}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.optimizer.load_state_dict(state["adam"])
        self.kl_coef = float(state["kl_coef"])
