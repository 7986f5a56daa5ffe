"""Linear feature baseline ``V(s_t) = w^T phi(s_t, t)`` fitted per task by ridge regression.

Features of Duan et al. (2016, "Benchmarking Deep RL for Continuous Control") as used by rllab
and pytorch-maml-rl: ``phi = [o, o^2, t', t'^2, t'^3, 1]`` with ``o = clip(s, -10, 10)`` and
``t' = t / 100``. ``w = argmin ||Phi w - G||^2 + reg ||w||^2``, solved as the least-squares problem
``[Phi; sqrt(reg) I] w = [G; 0]`` with :func:`torch.linalg.lstsq`.
"""

from __future__ import annotations

import torch
from torch import Tensor


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
