"""Discounted returns, GAE, normalization and the linear feature baseline against naive references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hw14_lib.rl.advantages import discounted_returns, fit_linear_baseline, gae, normalize

GAMMAS = [0.5, 0.9, 0.99, 1.0]
SHAPES = [(7,), (3, 11), (2, 4, 9)]


def naive_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """``G_t = sum_{k >= t} gamma^(k - t) r_k`` by a double loop over every trajectory."""
    flat = rewards.reshape(-1, rewards.shape[-1])
    out = np.zeros_like(flat)
    horizon = flat.shape[1]
    for i in range(flat.shape[0]):
        for t in range(horizon):
            total = 0.0
            for k in range(t, horizon):
                total += gamma ** (k - t) * flat[i, k]
            out[i, t] = total
    return out.reshape(rewards.shape)


def naive_gae(rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """The usual backward recursion ``A_t = delta_t + gamma lam A_{t+1}`` with ``V(s_T) = 0``."""
    flat_r = rewards.reshape(-1, rewards.shape[-1])
    flat_v = values.reshape(-1, values.shape[-1])
    out = np.zeros_like(flat_r)
    horizon = flat_r.shape[1]
    for i in range(flat_r.shape[0]):
        last_gae_lam = 0.0
        for t in reversed(range(horizon)):
            next_value = flat_v[i, t + 1] if t + 1 < horizon else 0.0
            delta = flat_r[i, t] + gamma * next_value - flat_v[i, t]
            last_gae_lam = delta + gamma * lam * last_gae_lam
            out[i, t] = last_gae_lam
    return out.reshape(rewards.shape)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_discounted_returns_match_double_loop(gamma: float, shape: tuple[int, ...]) -> None:
    rewards = np.random.default_rng(0).normal(size=shape)
    got = discounted_returns(torch.from_numpy(rewards), gamma)
    assert got.shape == shape and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), naive_returns(rewards, gamma), rtol=1e-12, atol=1e-12)


def test_discounted_returns_keep_float32() -> None:
    rewards = torch.randn(2, 3, 50, generator=torch.Generator().manual_seed(0))
    got = discounted_returns(rewards, 0.99)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), naive_returns(rewards.double().numpy(), 0.99), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("horizon", [1, 5, 200])
def test_constant_reward_closed_form(gamma: float, horizon: int) -> None:
    c = -1.7
    returns = discounted_returns(torch.full((2, horizon), c, dtype=torch.float64), gamma)
    expected_g0 = c * horizon if gamma == 1.0 else c * (1 - gamma**horizon) / (1 - gamma)
    np.testing.assert_allclose(returns[:, 0].numpy(), expected_g0, rtol=1e-12)
    # every later G_t is the closed form for the T - t steps left
    remaining = np.arange(horizon, 0, -1)
    expected = c * remaining if gamma == 1.0 else c * (1 - gamma**remaining) / (1 - gamma)
    np.testing.assert_allclose(returns[0].numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.9, 0.99, 1.0])
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gae_matches_backward_loop(gamma: float, lam: float, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    rewards, values = rng.normal(size=shape), rng.normal(size=shape)
    got = gae(torch.from_numpy(rewards), torch.from_numpy(values), gamma, lam)
    assert got.shape == shape
    np.testing.assert_allclose(got.numpy(), naive_gae(rewards, values, gamma, lam), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_gae_special_cases(gamma: float) -> None:
    rng = np.random.default_rng(2)
    rewards, values = rng.normal(size=(3, 4, 12)), rng.normal(size=(3, 4, 12))
    r, v = torch.from_numpy(rewards), torch.from_numpy(values)
    # lambda = 1: A_t = G_t - V(s_t)
    np.testing.assert_allclose(gae(r, v, gamma, 1.0).numpy(), naive_returns(rewards, gamma) - values, atol=1e-12)
    # lambda = 0: the one-step TD error r_t + gamma V(s_{t+1}) - V(s_t), with V(s_T) = 0
    next_values = np.concatenate([values[..., 1:], np.zeros_like(values[..., :1])], axis=-1)
    np.testing.assert_allclose(gae(r, v, gamma, 0.0).numpy(), rewards + gamma * next_values - values, atol=1e-12)


def test_normalize_per_task_block() -> None:
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.normal(size=(4, 5, 6)) * np.array([1.0, 10.0, 0.1, 3.0])[:, None, None] + 7.0)
    y = normalize(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.mean(dim=(-2, -1)).numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(dim=(-2, -1), unbiased=False).numpy(), 1.0, rtol=1e-6)
    # each block is standardized on its own: an affine map of block b only
    block = x[1].numpy()
    np.testing.assert_allclose(y[1].numpy(), (block - block.mean()) / block.std(), rtol=1e-6)
    # a constant block does not divide by zero
    assert torch.isfinite(normalize(torch.ones(2, 3, 4))).all()


# ---------------------------------------------------------------------------------------------------
# Linear feature baseline
# ---------------------------------------------------------------------------------------------------
def naive_features(obs: np.ndarray) -> np.ndarray:
    """Duan et al. (2016) features, built row by row: ``[o, o^2, t/100, (t/100)^2, (t/100)^3, 1]``."""
    n, horizon, _ = obs.shape
    rows = []
    for i in range(n):
        for t in range(horizon):
            o = np.clip(obs[i, t], -10.0, 10.0)
            s = t / 100.0
            rows.append(np.concatenate([o, o**2, [s, s**2, s**3, 1.0]]))
    return np.array(rows)


def ridge_predictions(obs: np.ndarray, returns: np.ndarray, reg: float) -> np.ndarray:
    """Per task: ``w = (Phi^T Phi + reg I)^-1 Phi^T y`` and ``V = Phi w``."""
    out = np.zeros_like(returns)
    for b in range(obs.shape[0]):
        phi = naive_features(obs[b])
        y = returns[b].reshape(-1)
        w = np.linalg.solve(phi.T @ phi + reg * np.eye(phi.shape[1]), phi.T @ y)
        out[b] = (phi @ w).reshape(returns[b].shape)
    return out


@pytest.mark.parametrize("reg", [1e-5, 1e-2, 1.0])
def test_linear_baseline_matches_ridge_solve(reg: float) -> None:
    rng = np.random.default_rng(4)
    b, n, horizon, obs_dim = 3, 4, 25, 5
    obs = rng.normal(size=(b, n, horizon, obs_dim)) * 4.0  # some entries beyond the clip at +-10
    assert np.abs(obs).max() > 10
    returns = rng.normal(size=(b, n, horizon)) * 5.0 + np.arange(b)[:, None, None] * 10.0
    got = fit_linear_baseline(torch.from_numpy(obs), torch.from_numpy(returns), reg=reg)
    assert got.shape == (b, n, horizon) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), ridge_predictions(obs, returns, reg), rtol=1e-7, atol=1e-7)


def test_linear_baseline_is_fitted_per_task() -> None:
    """Fitting the tasks together or one by one gives the same predictions."""
    rng = np.random.default_rng(5)
    obs, returns = torch.from_numpy(rng.normal(size=(3, 4, 20, 3))), torch.from_numpy(rng.normal(size=(3, 4, 20)))
    together = fit_linear_baseline(obs, returns)
    for i in range(3):
        alone = fit_linear_baseline(obs[i : i + 1], returns[i : i + 1])
        np.testing.assert_allclose(together[i : i + 1].numpy(), alone.numpy(), atol=1e-9)


def test_linear_baseline_recovers_exact_linear_returns() -> None:
    rng = np.random.default_rng(6)
    b, n, horizon, obs_dim = 2, 3, 30, 4
    obs = rng.uniform(-3.0, 3.0, size=(b, n, horizon, obs_dim))
    returns = np.zeros((b, n, horizon))
    for i in range(b):
        w_true = rng.normal(size=2 * obs_dim + 4)
        returns[i] = (naive_features(obs[i]) @ w_true).reshape(n, horizon)
    got = fit_linear_baseline(torch.from_numpy(obs), torch.from_numpy(returns), reg=1e-12)
    np.testing.assert_allclose(got.numpy(), returns, rtol=1e-8, atol=1e-8)
    # float32 inputs come back as float32, still close
    got32 = fit_linear_baseline(torch.from_numpy(obs).float(), torch.from_numpy(returns).float(), reg=1e-12)
    assert got32.dtype == torch.float32
    np.testing.assert_allclose(got32.numpy(), returns, rtol=1e-4, atol=1e-4)


def test_linear_baseline_shape_errors() -> None:
    with pytest.raises(ValueError, match="B, N, T"):
        fit_linear_baseline(torch.zeros(2, 3, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="B, N, T"):
        fit_linear_baseline(torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 5))
