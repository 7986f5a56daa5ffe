"""ProMP (``hw14_lib.rl.promp``): the LVC inner objective's value and gradient against a naive per-trajectory,
per-step computation, PPO's clipped surrogate against an elementwise reference, the KL penalty of a zero inner
step, an outer step that lowers its objective and adapts the penalty, and a training run."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import torch

from hw14_lib import InnerLoop
from hw14_lib.rl.losses import log_probs, surrogate
from hw14_lib.rl.maml import support_loss
from hw14_lib.rl.policy import distribution, policy_params
from hw14_lib.rl.promp import ProMPMetaOptimizer, ProMPSettings, clipped_surrogate, promp_objective
from hw14_lib.run.config import TrainConfig

from helpers import B, N, T, leaf_params, make_meta_batch, tiny_policy

INNER = InnerLoop(alpha=0.2, l2=0.0, estimator="ratio")


def test_lvc_objective_value_and_gradient_match_a_per_trajectory_loop() -> None:
    policy = tiny_policy()
    batch = make_meta_batch(policy, INNER, inner_steps=1)
    support, advantages = batch.supports[0], batch.support_advantages[0]
    theta = leaf_params(policy)
    with torch.no_grad():  # move theta off the sampling parameters, so that the ratios are not all 1
        for v in theta.values():
            v.add_(0.05)
    value = support_loss(policy, theta, support, advantages, INNER)
    grads = torch.autograd.grad(value, list(theta.values()))
    naive = torch.zeros((), dtype=torch.float64)
    for b in range(B):
        for n in range(N):
            for t in range(T):  # J = -mean_t A_t pi_theta(u_t | s_t) / pi_old(u_t | s_t), one step at a time
                dist = distribution(policy, theta, support.observations[b, n, t])
                log_prob = policy.log_prob(dist, support.raw_actions[b, n, t])
                naive = naive - advantages[b, n, t] * torch.exp(log_prob - support.log_probs[b, n, t])
    naive = naive / (B * N * T)
    torch.testing.assert_close(value, naive, rtol=1e-12, atol=1e-14)
    for got, want in zip(grads, torch.autograd.grad(naive, list(theta.values())), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_dice_objective_value_and_gradient_match_a_per_trajectory_loop() -> None:
    policy = tiny_policy()
    dice = dataclasses.replace(INNER, estimator="dice")
    batch = make_meta_batch(policy, dice, inner_steps=1)
    support, advantages = batch.supports[0], batch.support_advantages[0]
    theta = leaf_params(policy)
    with torch.no_grad():  # off the sampling parameters: the trajectory-level weights are not all 1
        for v in theta.values():
            v.add_(0.05)
    value = support_loss(policy, theta, support, advantages, dice)
    naive = torch.zeros((), dtype=torch.float64)
    for b in range(B):
        for n in range(N):
            running = torch.zeros((), dtype=torch.float64)
            for t in range(T):  # J = -mean_t (A_t - A_{t+1}) prod_{t' <= t} pi_theta / pi_old
                dist = distribution(policy, theta, support.observations[b, n, t])
                log_prob = policy.log_prob(dist, support.raw_actions[b, n, t])
                running = running + log_prob - support.log_probs[b, n, t]
                following = advantages[b, n, t + 1] if t + 1 < T else 0.0
                naive = naive - (advantages[b, n, t] - following) * torch.exp(running)
    naive = naive / (B * N * T)
    torch.testing.assert_close(value, naive, rtol=1e-12, atol=1e-14)
    grads = torch.autograd.grad(value, list(theta.values()))
    for got, want in zip(grads, torch.autograd.grad(naive, list(theta.values())), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def hessian_vector(loss_of: Callable[[dict], torch.Tensor], theta: dict, vector: list) -> list:
    grads = torch.autograd.grad(loss_of(theta), list(theta.values()), create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vector, strict=True))
    return list(torch.autograd.grad(dot, list(theta.values())))


def test_at_the_sampling_parameters_the_estimators_share_the_gradient_and_dice_has_the_magic_box_curvature() -> None:
    """The three inner estimators give the same gradient where the data was sampled; DiCE's Hessian is that of
    Foerster et al.'s magic box ``exp(S_t - stop(S_t))`` and differs from LVC's by the cross-step terms."""
    policy = tiny_policy(seed=3)
    batch = make_meta_batch(policy, INNER, inner_steps=1, seed=3)
    support, advantages = batch.supports[0], batch.support_advantages[0]
    theta = leaf_params(policy)  # the sampling parameters of the support set

    def loss(estimator: str) -> Callable[[dict], torch.Tensor]:
        inner = dataclasses.replace(INNER, estimator=estimator)
        return lambda params: support_loss(policy, params, support, advantages, inner)

    def magic_box(params: dict) -> torch.Tensor:
        running = log_probs(policy, params, support).cumsum(-1)
        increments = advantages - torch.nn.functional.pad(advantages[..., 1:], (0, 1))
        return -(torch.exp(running - running.detach()) * increments).mean()

    reference = torch.autograd.grad(loss("reinforce")(theta), list(theta.values()))
    for estimator in ("ratio", "dice"):
        for got, want in zip(torch.autograd.grad(loss(estimator)(theta), list(theta.values())), reference, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    generator = torch.Generator().manual_seed(0)
    vector = [torch.randn(v.shape, dtype=torch.float64, generator=generator) for v in theta.values()]
    dice, box = hessian_vector(loss("dice"), theta, vector), hessian_vector(magic_box, theta, vector)
    for got, want in zip(dice, box, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    lvc = hessian_vector(loss("ratio"), theta, vector)
    difference = sum(float((d - c).norm()) for d, c in zip(dice, lvc, strict=True))
    assert difference > 1e-3 * sum(float(d.norm()) for d in dice)


def test_clipped_surrogate_matches_an_elementwise_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    log_prob = (0.6 * torch.randn(50, dtype=torch.float64, generator=generator)).requires_grad_()
    old = torch.zeros(50, dtype=torch.float64)
    advantages = torch.randn(50, dtype=torch.float64, generator=generator)
    value = clipped_surrogate(log_prob, old, advantages, 0.2)
    (grad,) = torch.autograd.grad(value, log_prob)
    reference, expected_grad = 0.0, np.zeros(50)
    for i in range(50):
        r, a = float(np.exp(log_prob[i].item())), float(advantages[i])
        clipped = min(max(r, 0.8), 1.2)
        reference -= min(r * a, clipped * a) / 50
        if r * a <= clipped * a:  # the unclipped term is the minimum: it carries the gradient
            expected_grad[i] = -r * a / 50
    assert value.item() == pytest.approx(reference, rel=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-10, atol=1e-15)
    assert (grad == 0).any() and (grad != 0).any()  # some ratios were clipped, some not


def test_a_zero_inner_step_has_no_kl_and_the_surrogate_of_theta() -> None:
    policy = tiny_policy()
    still = dataclasses.replace(INNER, alpha=0.0)
    batch = make_meta_batch(policy, still, inner_steps=1)
    loss, kl = promp_objective(policy, policy_params(policy), batch, still, clip=0.3)
    assert kl.item() == pytest.approx(0.0, abs=1e-14)
    expected = surrogate(
        torch.stack([policy.log_prob(distribution(policy, policy_params(policy), batch.query.observations[b]),
                                     batch.query.raw_actions[b]) for b in range(B)]),
        batch.query.log_probs, batch.query_advantages, "ratio")  # fmt: skip
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)  # ratios of 1 are never clipped


def test_outer_step_lowers_its_objective_and_adapts_the_kl_penalty() -> None:
    policy = tiny_policy()
    batch = make_meta_batch(policy, INNER, inner_steps=1)
    before, _ = promp_objective(policy, policy_params(policy), batch, INNER, clip=0.3)
    fixed = copy.deepcopy(policy)
    settings = ProMPSettings(lr=1e-2, steps=5, target_kl=10.0, kl_coef=1e-3, adaptive_kl=True)
    optimizer = ProMPMetaOptimizer(policy, settings)
    info = optimizer.step(batch, INNER)
    after, _ = promp_objective(policy, policy_params(policy), batch, INNER, clip=0.3)
    assert after.item() < before.item() and info["meta_loss"] == pytest.approx(before.item(), rel=1e-10)
    assert info["kl_coef"] == pytest.approx(5e-4)  # the inner KL stayed far below the target: halved
    info = ProMPMetaOptimizer(fixed, dataclasses.replace(settings, adaptive_kl=False)).step(batch, INNER)
    assert info["kl_coef"] == 1e-3  # ProMP's default: a fixed coefficient
    restored = ProMPMetaOptimizer(policy)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.kl_coef == optimizer.kl_coef


@pytest.mark.slow
def test_a_promp_run_trains_and_evaluates(tmp_path) -> None:
    from hw14_lib.run.training import train

    from conftest import SMOKE

    cfg = TrainConfig.from_yaml(SMOKE, task="direction", outer_optimizer="promp", outer_lr=1e-3)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary is not None and np.isfinite(summary["post_adaptation_return"])
    with pytest.raises(ValueError, match=r"config field 'promp_clip' has value 1\.5"):
        TrainConfig(outer_optimizer="promp", promp_clip=1.5)


def test_gradient_variance_pairs_the_estimators_on_the_same_batches() -> None:
    from hw14_lib.run.training import make_policy
    from hw14_lib.study.diagnostics import meta_gradient_variance

    from conftest import SMOKE

    cfg = TrainConfig.from_yaml(SMOKE, task="direction")
    same = meta_gradient_variance(make_policy(cfg), cfg, estimators=("reinforce",), batches=3)
    both = meta_gradient_variance(make_policy(cfg), cfg, batches=3)
    assert same["reinforce"] == both["reinforce"]  # the estimators see the same meta-batches
    assert both["ratio"]["trace_cov"] != both["reinforce"]["trace_cov"] and both["ratio"]["trace_cov"] > 0
    assert both["dice"]["trace_cov"] not in (both["ratio"]["trace_cov"], both["reinforce"]["trace_cov"])
    r = both["ratio"]
    assert r["snr"] == pytest.approx(r["mean_norm"] / np.sqrt(r["trace_cov"]))
