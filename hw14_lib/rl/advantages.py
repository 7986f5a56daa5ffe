"""Advantages: discounted returns, the linear feature baseline, GAE and normalization.

All functions work on tensors whose last axis is time, e.g. ``(tasks B, trajectories N, T)``.
Episodes here are time-limited (HalfCheetah never terminates), so nothing is bootstrapped past
``T``: ``V(s_T) = 0``, and the value baseline sees time as a feature.

The baseline is the linear feature baseline ``V(s_t) = w^T phi(s_t, t)`` of Duan et al. (2016,
"Benchmarking Deep RL for Continuous Control"), as used by rllab and pytorch-maml-rl:
``phi = [o, o^2, t', t'^2, t'^3, 1]`` with ``o = clip(s, -10, 10)`` and ``t' = t / 100``, fitted per task by
ridge regression ``w = argmin ||Phi w - G||^2 + reg ||w||^2``, solved as the least-squares problem
``[Phi; sqrt(reg) I] w = [G; 0]`` with :func:`torch.linalg.lstsq`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from hw14_lib.rl.sampling import TrajectoryBatch

Baseline = Literal["linear", "none"]
BASELINES: tuple[str, ...] = get_args(Baseline)


def discount_matrix(horizon: int, gamma: float, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Upper-triangular ``D[k, t] = gamma^(k - t)`` for ``k >= t``, shape ``(T, T)``, so that
    ``G = r @ D`` gives every ``G_t`` in one matrix product."""
    steps = torch.arange(horizon, dtype=torch.float64)
    lag = steps[:, None] - steps[None, :]
    return torch.where(lag >= 0, gamma**lag, 0.0).to(dtype)


def discounted_returns(rewards: Tensor, gamma: float) -> Tensor:
    """``G_t = sum_{k=t}^{T-1} gamma^(k-t) r_k`` for every ``t``.

    Args:
        rewards: ``(..., T)``.
        gamma: discount in (0, 1].

    Returns:
        ``(..., T)``, same dtype as ``rewards``.
    """
    return rewards @ discount_matrix(rewards.shape[-1], gamma, dtype=rewards.dtype)


def gae(rewards: Tensor, values: Tensor, gamma: float, lam: float) -> Tensor:
    """Generalized advantage estimation (Schulman et al. 2016).

    ``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)`` with ``V(s_T) = 0``, and
    ``A_t = sum_{k>=t} (gamma lam)^(k-t) delta_k``. With ``lam = 1`` this is ``G_t - V(s_t)``.

    Args:
        rewards, values: ``(..., T)``.

    Returns:
        Advantages ``(..., T)``.
    """
    next_values = torch.cat([values[..., 1:], torch.zeros_like(values[..., :1])], dim=-1)
    deltas = rewards + gamma * next_values - values
    return discounted_returns(deltas, gamma * lam)


def normalize(x: Tensor, *, dims: tuple[int, ...] = (-2, -1), eps: float = 1e-8) -> Tensor:
    """``(x - mean) / (std + eps)`` over ``dims`` (by default each task's N x T block)."""
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps)


def baseline_features(observations: Tensor) -> Tensor:
    """``phi(s_t, t)`` for observations ``(..., T, obs_dim)``; returns ``(..., T, 2 obs_dim + 4)``."""
    o = observations.clamp(-10.0, 10.0)
    horizon = observations.shape[-2]
    t = torch.arange(horizon, dtype=observations.dtype) / 100.0
    t = t.view(*([1] * (observations.dim() - 2)), horizon, 1).expand(*observations.shape[:-1], 1)
    ones = torch.ones_like(t)
    return torch.cat([o, o * o, t, t * t, t * t * t, ones], dim=-1)


def fit_linear_baseline(observations: Tensor, returns: Tensor, *, reg: float = 1e-5) -> Tensor:
    """Fit one baseline per task and return its predictions on the same states.

    Args:
        observations: ``(B, N, T, obs_dim)``, the N trajectories of each of B tasks.
        returns: ``(B, N, T)``, the discounted returns ``G_t`` to regress on.
        reg: ridge coefficient.

    Returns:
        Values ``V(s_t)`` of shape ``(B, N, T)``.
    """
    if observations.dim() != 4 or returns.shape != observations.shape[:3]:
        raise ValueError(
            f"expected observations (B, N, T, obs_dim) and returns (B, N, T), got "
            f"{tuple(observations.shape)} and {tuple(returns.shape)}"
        )
    b, n, t, _ = observations.shape
    phi = baseline_features(observations.double()).reshape(b, n * t, -1)
    y = returns.double().reshape(b, n * t, 1)
    num_features = phi.shape[-1]
    ridge = (reg**0.5) * torch.eye(num_features, dtype=phi.dtype).expand(b, -1, -1)
    a = torch.cat([phi, ridge], dim=1)
    rhs = torch.cat([y, torch.zeros(b, num_features, 1, dtype=y.dtype)], dim=1)
    weights = torch.linalg.lstsq(a, rhs, driver="gelsd").solution
    return (phi @ weights).reshape(b, n, t).to(returns.dtype)


def compute_advantages(
    batch: TrajectoryBatch,
    *,
    gamma: float,
    gae_lambda: float = 1.0,
    baseline: Baseline = "linear",
    normalize_advantages: bool = True,
) -> Tensor:
    """Advantage weights ``A_t`` of shape ``(B, N, T)`` (no gradient flows through them).

    * ``baseline="none"``: ``A_t = G_t`` (discounted return, the starter code's weights);
    * ``baseline="linear"``: a linear feature baseline fitted per task, then GAE(lambda)
      (``lambda = 1`` gives ``G_t - V(s_t)``).

    With ``normalize_advantages`` each task's ``N x T`` block is standardized.
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline={baseline!r} is unknown; use one of {', '.join(BASELINES)}")
    returns = discounted_returns(batch.rewards, gamma)
    if baseline == "none":
        advantages = returns
    else:
        values = fit_linear_baseline(batch.observations, returns)
        advantages = gae(batch.rewards, values, gamma, gae_lambda)
    if normalize_advantages:
        advantages = normalize(advantages)
    return advantages.detach()


@dataclass(frozen=True)
class AdvantageSettings:
    """How support trajectories are turned into advantage weights (see ``compute_advantages``)."""

    gamma: float = 0.99
    gae_lambda: float = 1.0
    baseline: Baseline = "linear"
    normalize_advantages: bool = True

    def __call__(self, batch: TrajectoryBatch) -> Tensor:
        return compute_advantages(
            batch,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            baseline=self.baseline,
            normalize_advantages=self.normalize_advantages,
        )
