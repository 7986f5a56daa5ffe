"""Discounted returns, generalized advantage estimation and normalization.

All functions work on tensors whose last axis is time, e.g. ``(tasks B, trajectories N, T)``.
Episodes here are time-limited (HalfCheetah never terminates), so nothing is bootstrapped past
``T``: ``V(s_T) = 0``, and the value baseline sees time as a feature.
"""

from __future__ import annotations

import torch
from torch import Tensor


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
