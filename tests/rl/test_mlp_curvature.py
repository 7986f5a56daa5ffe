"""The closed-form curvature products of a plain Gaussian MLP policy (:mod:`hw14_lib.rl.mlp_curvature`) against
autograd's second derivatives (the route they replace): the Fisher product against the Hessian of the mean KL and
against its definition ``J^T diag(sigma^-2) J`` from the full Jacobian (depths, a squashed policy, ``log sigma``
outside its bounds, float32 and float64); the support loss's Hessian product for the three estimators, with and
without L2 and entropy terms, squashed and not, ``log sigma`` in and out of its bounds."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor, nn

from hw14_lib.rl.losses import policy_loss
from hw14_lib.rl.mlp_curvature import GaussianMLPFisher, SupportLossHessian
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, distribution, gaussian_part, policy_params
from hw14_lib.rl.sampling import TrajectoryBatch
from hw14_lib.rl.tasks import Task
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


def support_case(
    squash: bool, *, hidden: tuple[int, ...] = (6, 5), double: bool = True
) -> tuple[GaussianMLPPolicy, TrajectoryBatch, Tensor]:
    """A policy, a support batch of one task (N = 3 trajectories of T = 7 steps) whose recorded log-probabilities
    are off the policy's (so the ratio's and DiCE's weights are not 1) and its advantages."""
    policy = tiny_policy(obs_dim=OBS, act_dim=ACT, hidden_sizes=hidden, squash=squash, double=double)
    dtype = torch.float64 if double else torch.float32
    g = torch.Generator().manual_seed(5)
    shape = (1, 3, 7)
    batch = TrajectoryBatch(
        observations=torch.randn(*shape, OBS, generator=g, dtype=dtype),
        raw_actions=torch.randn(*shape, ACT, generator=g, dtype=dtype),
        rewards=torch.randn(*shape, generator=g, dtype=dtype),
        log_probs=-3 + 0.3 * torch.randn(*shape, generator=g, dtype=dtype),
        tasks=(Task.backward(),),
    )
    return policy, batch, torch.randn(*shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("estimator", ["reinforce", "ratio", "dice"])
@pytest.mark.parametrize("squash", [False, True], ids=["clipped", "squashed"])
@pytest.mark.parametrize("extra", ["plain", "l2 and entropy", "log std out of bounds"])
def test_support_loss_hessian_equals_autograd(estimator: str, squash: bool, extra: str) -> None:
    policy, batch, advantages = support_case(squash)
    params = {k: v.detach().clone() for k, v in policy_params(policy).items()}
    if extra == "log std out of bounds":
        params["log_std"] = torch.tensor([LOG_STD_BOUNDS[0] - 0.5, -0.2, LOG_STD_BOUNDS[1] + 0.5], dtype=torch.float64)
    l2, entropy = (1e-2, 0.3) if extra == "l2 and entropy" else (0.0, 0.0)
    # Recorded log-probabilities near the policy's own at params, so that the ratio's weights are of order 1.
    with torch.no_grad():
        own = policy.log_prob(distribution(policy, params, batch.observations), batch.raw_actions)
    noise = 0.3 * torch.randn(own.shape, generator=torch.Generator().manual_seed(9), dtype=own.dtype)
    batch = dataclasses.replace(batch, log_probs=own + noise)
    names = list(params)
    leaves = [params[k].requires_grad_() for k in names]
    loss = policy_loss(policy, params, batch, advantages, estimator=estimator, entropy_coef=entropy, l2=l2)
    grads = torch.autograd.grad(loss, leaves, create_graph=True)
    hessian = SupportLossHessian.of(policy, params, batch, advantages, estimator=estimator, l2=l2)
    for seed in range(2):
        v = random_like({k: p.detach() for k, p in params.items()}, 10 + seed)
        dot = sum((g * v[k]).sum() for g, k in zip(grads, names, strict=True))
        expected = torch.autograd.grad(dot, leaves, retain_graph=True)
        got = hessian.product(v)
        for name, value in zip(names, expected, strict=True):
            assert value.abs().max() > 1e-6 or name == "log_std", name  # log std: zero outside its bounds only
            torch.testing.assert_close(got[name], value, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("hidden", [(), (4, 5, 3)], ids=["linear", "3 layers"])
@pytest.mark.parametrize("double", [True, False], ids=["float64", "float32"])
def test_support_loss_hessian_at_other_depths_and_in_float32(hidden: tuple[int, ...], double: bool) -> None:
    policy, batch, advantages = support_case(False, hidden=hidden, double=double)
    params = {k: v.detach().clone() for k, v in policy_params(policy).items()}
    names = list(params)
    leaves = [params[k].requires_grad_() for k in names]
    loss = policy_loss(policy, params, batch, advantages, estimator="ratio", l2=1e-2)
    grads = torch.autograd.grad(loss, leaves, create_graph=True)
    v = random_like({k: p.detach() for k, p in params.items()}, 3)
    expected = torch.autograd.grad(sum((g * v[k]).sum() for g, k in zip(grads, names, strict=True)), leaves)
    got = SupportLossHessian.of(policy, params, batch, advantages, estimator="ratio", l2=1e-2).product(v)
    tolerance = {"rtol": 1e-9, "atol": 1e-12} if double else {"rtol": 1e-4, "atol": 1e-5}
    for name, value in zip(names, expected, strict=True):
        assert value.abs().max() > 1e-6, name
        torch.testing.assert_close(got[name], value, **tolerance, msg=name)


def test_support_loss_hessian_refuses_an_unknown_estimator() -> None:
    policy, batch, advantages = support_case(False)
    with pytest.raises(ValueError, match="estimator='nope'"):
        SupportLossHessian.of(policy, policy_params(policy), batch, advantages, estimator="nope", l2=0.0)
