"""The closed-form Fisher product of a plain Gaussian MLP policy (:mod:`hw14_lib.rl.fisher`) against the Hessian of
the mean KL by autograd (the route it replaces), and against the definition ``J^T diag(sigma^-2) J`` built from the
full Jacobian: depths, a squashed policy, ``log sigma`` outside its bounds, float32 and float64."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from hw14_lib.rl.fisher import GaussianMLPFisher
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, distribution, gaussian_part, policy_params
from hw14_lib.rl.trust_region import _fisher_by_autograd

from helpers import tiny_policy

K, OBS, ACT = 37, 5, 3


def case(hidden: tuple[int, ...], *, squash: bool = False, double: bool = True) -> tuple[GaussianMLPPolicy, Tensor]:
    policy = tiny_policy(obs_dim=OBS, act_dim=ACT, hidden_sizes=hidden, squash=squash, double=double)
    dtype = torch.float64 if double else torch.float32
    observations = torch.randn(2, K, OBS, generator=torch.Generator().manual_seed(3), dtype=dtype)
    return policy, observations


def random_like(params: dict[str, Tensor], seed: int) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=generator, dtype=v.dtype) for k, v in params.items()}


@pytest.mark.parametrize("hidden", [(), (7,), (8, 6), (5, 4, 6)], ids=["linear", "1 layer", "2 layers", "3 layers"])
@pytest.mark.parametrize("squash", [False, True], ids=["clipped", "squashed"])
def test_closed_form_equals_the_kl_hessian_by_autograd(hidden: tuple[int, ...], squash: bool) -> None:
    policy, observations = case(hidden, squash=squash)
    params = {k: v.detach() for k, v in policy_params(policy).items()}
    names = list(params)
    reference = _fisher_by_autograd(policy, params, observations)
    fisher = GaussianMLPFisher.of(policy, params, observations)
    for seed in range(3):
        v = random_like(params, seed)
        expected = reference([v[k] for k in names])
        got = fisher.product(v)
        assert sorted(got) == sorted(names)
        for name, value in zip(names, expected, strict=True):
            assert value.abs().max() > 1e-6, name
            torch.testing.assert_close(got[name], value, rtol=1e-10, atol=1e-12, msg=name)


def test_closed_form_equals_the_definition_from_the_full_jacobian() -> None:
    """``F = (1/K) sum_t J_t^T diag(sigma^-2) J_t`` on the mean's parameters (the full Jacobian by autograd), 2 on
    log std."""
    policy, observations = case((6, 4))
    params = {k: v.detach() for k, v in policy_params(policy).items()}
    network = [k for k in params if k != "log_std"]
    flat = torch.cat([params[k].reshape(-1) for k in network])

    def mean(vector: Tensor) -> Tensor:
        split, start = {}, 0
        for k in network:
            split[k] = vector[start : start + params[k].numel()].view_as(params[k])
            start += params[k].numel()
        return gaussian_part(distribution(policy, {**params, **split}, observations)).mean.reshape(-1, ACT)

    jacobian = torch.autograd.functional.jacobian(mean, flat)  # (rows, ACT, P)
    variance = torch.exp(2 * params["log_std"])
    rows = jacobian.shape[0]
    matrix = torch.einsum("tip,i,tiq->pq", jacobian, 1 / variance, jacobian) / rows
    v = random_like(params, 0)
    got = GaussianMLPFisher.of(policy, params, observations).product(v)
    expected = matrix @ torch.cat([v[k].reshape(-1) for k in network])
    torch.testing.assert_close(torch.cat([got[k].reshape(-1) for k in network]), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got["log_std"], 2 * v["log_std"])


def test_log_std_outside_its_bounds_has_no_curvature() -> None:
    """The clamp passes no gradient outside LOG_STD_BOUNDS: those entries' rows of F are zero, as autograd has them."""
    policy, observations = case((7,))
    params = {k: v.detach().clone() for k, v in policy_params(policy).items()}
    low, high = LOG_STD_BOUNDS
    params["log_std"] = torch.tensor([low - 0.5, 0.0, high + 0.5], dtype=torch.float64)
    names = list(params)
    v = random_like(params, 1)
    expected = dict(zip(names, _fisher_by_autograd(policy, params, observations)([v[k] for k in names]), strict=True))
    got = GaussianMLPFisher.of(policy, params, observations).product(v)
    for name in names:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-10, atol=1e-12, msg=name)
    assert got["log_std"][0] == 0 and got["log_std"][2] == 0 and got["log_std"][1] != 0


def test_float32_agrees_to_float32_rounding() -> None:
    policy, observations = case((64, 64), double=False)
    params = {k: v.detach() for k, v in policy_params(policy).items()}
    names = list(params)
    v = random_like(params, 2)
    expected = _fisher_by_autograd(policy, params, observations)([v[k] for k in names])
    got = GaussianMLPFisher.of(policy, params, observations).product(v)
    for name, value in zip(names, expected, strict=True):
        torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-6, msg=name)


def test_a_policy_that_is_not_plain_is_refused() -> None:
    class Other(GaussianMLPPolicy):
        def forward(self, obs: Tensor):
            return super().forward(obs)

    policy = Other(OBS, ACT, hidden_sizes=(4,))
    with pytest.raises(ValueError, match="plain GaussianMLPPolicy"):
        GaussianMLPFisher.of(policy, dict(policy.named_parameters()), torch.zeros(1, OBS))
    assert isinstance(policy.body[0], nn.Linear)
