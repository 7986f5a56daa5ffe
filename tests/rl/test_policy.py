"""The Gaussian MLP policy: distributions, log-probabilities (plain and tanh-squashed), sampling,
deterministic actions, the log-std clamp and the policy file format."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution

from hw14_lib import GaussianMLPPolicy, load_policy, policy_params, save_policy
from hw14_lib.rl.activation import Tanh, tanh
from hw14_lib.rl.policy import LOG_STD_BOUNDS, distribution

from helpers import tiny_policy

OBS_DIM, ACT_DIM = 5, 3


def make_policy(*, squash: bool = False, action_scale: float = 1.0, seed: int = 0) -> GaussianMLPPolicy:
    return tiny_policy(
        obs_dim=OBS_DIM,
        act_dim=ACT_DIM,
        hidden_sizes=(8, 7),
        init_log_std=0.0,
        squash=squash,
        action_scale=action_scale,
        seed=seed,
    )


def observations(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, OBS_DIM, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_forward_returns_independent_normal() -> None:
    policy = make_policy()
    dist = policy(observations(4))
    assert isinstance(dist, Independent) and isinstance(dist.base_dist, Normal)
    assert dist.event_shape == (ACT_DIM,) and dist.batch_shape == (4,)
    np.testing.assert_allclose(dist.stddev.detach().numpy(), 1.0)  # init_log_std = 0
    # a leading (B, N, T) batch works too
    assert policy(torch.zeros(2, 3, 4, OBS_DIM, dtype=torch.float64)).batch_shape == (2, 3, 4)


def test_default_architecture() -> None:
    policy = GaussianMLPPolicy(17, 6)
    linears = [m for m in policy.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(17, 64), (64, 64), (64, 6)]
    assert sum(isinstance(m, Tanh) for m in policy.modules()) == 2
    assert policy.log_std.shape == (6,)


def test_log_prob_plain_equals_distribution_log_prob() -> None:
    policy = make_policy()
    dist = policy(observations(6))
    u = torch.randn(6, ACT_DIM, dtype=torch.float64) * 2.0
    np.testing.assert_allclose(policy.log_prob(dist, u).detach().numpy(), dist.log_prob(u).detach().numpy(), rtol=1e-12)
    # and the explicit diagonal-Gaussian formula
    mean, std = dist.mean.detach().numpy(), dist.stddev.detach().numpy()
    expected = (-0.5 * ((u.numpy() - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
    np.testing.assert_allclose(policy.log_prob(dist, u).detach().numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("action_scale", [1.0, 2.5])
def test_log_prob_squashed_equals_transformed_distribution(action_scale: float) -> None:
    policy = make_policy(squash=True, action_scale=action_scale)
    dist = policy(observations(8))
    assert isinstance(dist, TransformedDistribution)
    u = torch.empty(8, ACT_DIM, dtype=torch.float64).uniform_(-3.0, 3.0, generator=torch.Generator().manual_seed(2))
    a = action_scale * torch.tanh(u)
    ours = policy.log_prob(dist, u).detach().numpy()
    np.testing.assert_allclose(ours, dist.log_prob(a).detach().numpy(), rtol=1e-9, atol=1e-9)


def _log_sech2(u: float) -> float:
    """``log(1 - tanh(u)^2) = -2 log cosh u``, written without overflow."""
    return -2.0 * (abs(u) + math.log1p(math.exp(-2.0 * abs(u))) - math.log(2.0))


def test_log_prob_squashed_is_finite_for_saturated_actions() -> None:
    policy = make_policy(squash=True, action_scale=1.0)
    dist = policy(observations(2))
    u = torch.tensor([[20.0, -20.0, 0.5], [-20.0, 3.0, 20.0]], dtype=torch.float64)
    ours = policy.log_prob(dist, u)
    assert torch.isfinite(ours).all()
    naive = dist.log_prob(torch.tanh(u))  # tanh(20) rounds to 1 and atanh(1) = inf
    assert not torch.isfinite(naive).all()
    gaussian = dist.base_dist.log_prob(u)
    correction = [[_log_sech2(float(x)) for x in row] for row in u]
    expected = gaussian.detach().numpy() - np.array(correction).sum(-1)
    np.testing.assert_allclose(ours.detach().numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("squash", [False, True])
def test_sample_is_reproducible_and_has_the_right_moments(squash: bool) -> None:
    policy = make_policy(squash=squash)
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([-1.0, 0.0, 0.5]))
    obs = observations(1).expand(40_000, OBS_DIM)
    with torch.no_grad():
        dist = policy(obs)
        raw1, act1 = policy.sample(dist, torch.Generator().manual_seed(11))
        raw2, act2 = policy.sample(dist, torch.Generator().manual_seed(11))
        raw3, _ = policy.sample(dist, torch.Generator().manual_seed(12))
    assert torch.equal(raw1, raw2) and torch.equal(act1, act2)
    assert not torch.equal(raw1, raw3)
    mean, std = dist.base_dist.mean[0] if squash else dist.mean[0], torch.exp(policy.log_std.detach())
    n = raw1.shape[0]
    # 5 standard errors: fails by chance with probability < 1e-5 per coordinate
    assert torch.all((raw1.mean(0) - mean).abs() < 5 * std / math.sqrt(n))
    assert torch.all((raw1.std(0) / std - 1).abs() < 5 / math.sqrt(2 * n))
    if squash:
        torch.testing.assert_close(act1, torch.tanh(raw1))
    else:
        torch.testing.assert_close(act1, raw1.clamp(-1.0, 1.0))
    assert act1.abs().max() <= 1.0


def test_deterministic_action_is_clipped_or_squashed_mean() -> None:
    obs = observations(5)
    for squash in (False, True):
        policy = make_policy(squash=squash, action_scale=2.0)
        with torch.no_grad():
            policy.mean_head.bias.copy_(torch.tensor([3.0, -3.0, 0.1]))
            dist = policy(obs)
            mean = dist.base_dist.mean if squash else dist.mean
            action = policy.deterministic_action(dist)
        expected = 2.0 * torch.tanh(mean) if squash else mean.clamp(-2.0, 2.0)
        torch.testing.assert_close(action, expected)
        assert action.abs().max() <= 2.0
        if not squash:
            assert (mean.abs() > 2.0).any()  # the clip was exercised


def test_log_std_is_clamped() -> None:
    policy = make_policy()
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([-10.0, 5.0, 0.3], dtype=torch.float64))
    std = policy(observations(2)).stddev[0].detach()
    low, high = LOG_STD_BOUNDS
    np.testing.assert_allclose(std.numpy(), np.exp([low, high, 0.3]), rtol=1e-12)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="init_log_std"):
        GaussianMLPPolicy(OBS_DIM, ACT_DIM, init_log_std=LOG_STD_BOUNDS[1] + 1)
    with pytest.raises(ValueError, match="hidden_sizes"):
        GaussianMLPPolicy(OBS_DIM, ACT_DIM, hidden_sizes=(8, 0))
    with pytest.raises(ValueError, match="obs_dim"):
        GaussianMLPPolicy(0, ACT_DIM)


def test_distribution_uses_the_given_params() -> None:
    policy = make_policy()
    obs = observations(3)
    theta = policy_params(policy)
    assert all(theta[k] is p for k, p in policy.named_parameters())
    torch.testing.assert_close(distribution(policy, theta, obs).mean, policy(obs).mean)
    shifted = {k: v + 0.5 if k == "mean_head.bias" else v for k, v in theta.items()}
    torch.testing.assert_close(distribution(policy, shifted, obs).mean, policy(obs).mean + 0.5)


@pytest.mark.parametrize("squash", [False, True])
def test_save_load_round_trip(tmp_path, squash: bool) -> None:
    torch.manual_seed(3)
    policy = GaussianMLPPolicy(OBS_DIM, ACT_DIM, hidden_sizes=(6,), init_log_std=-0.5, squash=squash, action_scale=1.5)
    with torch.no_grad():
        policy.log_std.add_(torch.tensor([0.1, -0.2, 0.3]))
    path = save_policy(policy, tmp_path / "sub" / "policy.pt")
    assert path.is_file()
    raw = torch.load(path, weights_only=True)
    assert {"architecture", "state_dict"} <= set(raw)
    assert raw["architecture"] == policy.architecture()
    loaded = load_policy(path)
    assert type(loaded) is GaussianMLPPolicy and loaded.architecture() == policy.architecture()
    for key, value in policy.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    obs = torch.randn(4, OBS_DIM)
    with torch.no_grad():
        a, b = policy(obs), loaded(obs)
        assert torch.equal(policy.deterministic_action(a), loaded.deterministic_action(b))
        u = torch.randn(4, ACT_DIM)
        assert torch.equal(policy.log_prob(a, u), loaded.log_prob(b, u))
    assert not list(tmp_path.glob("sub/.*.tmp"))  # the atomic write left no temporary file


def test_load_policy_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_policy(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(ValueError, match="not a policy file"):
        load_policy(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a policy file"):
        load_policy(foreign)


def test_tanh_is_within_two_ulp_of_the_exact_value_and_keeps_torchs_derivatives() -> None:
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(100_000).astype(np.float32) * 3)
    exact = np.tanh(x.double().numpy())
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert (np.abs(tanh(x).double().numpy() - exact) <= 2 * ulp).all()
    assert tanh(x).dtype == torch.float32 and tanh(x.double()).dtype == torch.float64
    # first and second derivatives: finite differences in float64, and torch.tanh's own backward on the same output
    point = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tanh, (point,)) and torch.autograd.gradgradcheck(tanh, (point,))
    y = torch.tensor([0.3, -1.2, 2.5], requires_grad=True)
    (grad,) = torch.autograd.grad(tanh(y).sum(), y, create_graph=True)
    (second,) = torch.autograd.grad(grad.sum(), y)
    torch.testing.assert_close(grad, 1 - torch.tanh(y) ** 2, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(second, -2 * torch.tanh(y) * (1 - torch.tanh(y) ** 2), rtol=1e-5, atol=1e-6)
