"""MAML gradients (float64 finite differences), first- versus second-order, the purity of adaptation,
recomputed log-probabilities, and the TRPO meta-step."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from hw14_lib import GaussianMLPPolicy, InnerLoop, MetaBatch, Task, adapt, adapt_all, meta_objective
from hw14_lib.rl.anil import HEAD
from hw14_lib.rl.losses import log_probs, surrogate
from hw14_lib.rl.make_env import make_task_vector_env
from hw14_lib.rl.outer import TRPOMetaOptimizer, TRPOSettings
from hw14_lib.rl.policy import distribution, policy_params
from hw14_lib.rl.sampling import sample_trajectories
from hw14_lib.rl.trust_region import conjugate_gradient, kl_hessian_by_autograd, meta_fisher_vector_product
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.training import draw_meta_batch, make_policy

from helpers import (
    B,
    N,
    leaf_params,
    make_meta_batch,
    tiny_policy,
)


class FlatObjective:
    """``L_meta`` as a function of the flat parameter vector, and its autograd gradient."""

    def __init__(self, policy: GaussianMLPPolicy, batch: MetaBatch, inner: InnerLoop, estimator: str):
        self.policy, self.batch, self.inner, self.estimator = policy, batch, inner, estimator
        self.names = [k for k, _ in policy.named_parameters()]
        self.shapes = [p.shape for _, p in policy.named_parameters()]
        self.x0 = torch.nn.utils.parameters_to_vector(policy.parameters()).detach().clone()

    def _theta(self, vec: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = torch.split(vec, [s.numel() for s in self.shapes])
        return {k: p.view(s) for k, p, s in zip(self.names, parts, self.shapes, strict=True)}

    def value_and_grad(self, x: torch.Tensor) -> tuple[float, torch.Tensor]:
        vec = x.detach().clone().requires_grad_()
        loss, _ = meta_objective(self.policy, self._theta(vec), self.batch, self.inner, estimator=self.estimator)
        (grad,) = torch.autograd.grad(loss, vec)
        return loss.item(), grad

    def value(self, x: torch.Tensor) -> float:
        return self.value_and_grad(x)[0]


def directional_derivatives(objective: FlatObjective, *, count: int = 4, eps: float = 1e-6, seed: int = 0):
    """Autograd ``g . d`` and central differences ``(f(x + eps d) - f(x - eps d)) / (2 eps)``."""
    generator = torch.Generator().manual_seed(seed)
    _, grad = objective.value_and_grad(objective.x0)
    analytic, numeric = [], []
    for _ in range(count):
        d = torch.randn(objective.x0.shape, dtype=torch.float64, generator=generator)
        d /= d.norm()
        analytic.append(float(grad @ d))
        numeric.append((objective.value(objective.x0 + eps * d) - objective.value(objective.x0 - eps * d)) / (2 * eps))
    return np.array(analytic), np.array(numeric)


@pytest.mark.parametrize("inner_steps", [1, 2])
@pytest.mark.parametrize("inner_estimator", ["reinforce", "ratio", "dice"])
@pytest.mark.parametrize("estimator", ["reinforce", "ratio"])
def test_meta_gradient_matches_finite_differences(inner_steps: int, inner_estimator: str, estimator: str) -> None:
    policy = tiny_policy()
    inner = InnerLoop(alpha=0.3, l2=1e-2, entropy_coef=0.05, estimator=inner_estimator)  # type: ignore[arg-type]
    batch = make_meta_batch(policy, inner, inner_steps=inner_steps)
    analytic, numeric = directional_derivatives(FlatObjective(policy, batch, inner, estimator))
    assert np.abs(analytic).max() > 1e-3  # the check is not vacuous
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("inner_steps", [1, 2])
def test_anil_meta_gradient_matches_finite_differences(inner_steps: int) -> None:
    """ANIL (the inner step adapts only the head): the meta-gradient through its restricted step."""
    policy = tiny_policy()
    inner = InnerLoop(alpha=0.3, l2=1e-2, entropy_coef=0.05, adapted=HEAD)
    batch = make_meta_batch(policy, inner, inner_steps=inner_steps)
    analytic, numeric = directional_derivatives(FlatObjective(policy, batch, inner, "ratio"))
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_anil_adapts_the_head_as_maml_does_and_keeps_the_body() -> None:
    policy = tiny_policy()
    batch = make_meta_batch(policy, InnerLoop(alpha=0.3), inner_steps=1)
    theta = leaf_params(policy)
    support, advantages = batch.supports[0].task(0), batch.support_advantages[0][:1]
    full = adapt(policy, theta, support, advantages, InnerLoop(alpha=0.3))
    head = adapt(policy, theta, support, advantages, InnerLoop(alpha=0.3, adapted=HEAD))
    for name in theta:
        expected = full[name] if name in HEAD else theta[name]
        torch.testing.assert_close(head[name], expected, rtol=0, atol=0)
    assert any(not torch.equal(full[k], theta[k]) for k in theta if k not in HEAD), "MAML moves the body"
    with pytest.raises(ValueError, match="not the policy's"):
        adapt(policy, theta, support, advantages, InnerLoop(alpha=0.3, adapted=("no_such.weight",)))


def test_meta_gradient_matches_finite_differences_squashed() -> None:
    policy = tiny_policy(squash=True)
    inner = InnerLoop(alpha=0.3, l2=1e-2, entropy_coef=0.05)
    batch = make_meta_batch(policy, inner, inner_steps=1, seed=3)
    analytic, numeric = directional_derivatives(FlatObjective(policy, batch, inner, "reinforce"))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def fomaml_gradient(policy: GaussianMLPPolicy, batch: MetaBatch, inner: InnerLoop, estimator: str) -> torch.Tensor:
    """Closed form of first-order MAML: ``(1/B) sum_b grad L_query_b`` evaluated at the (detached) ``theta'_b``."""
    theta = leaf_params(policy)
    adapted = adapt_all(policy, theta, batch.supports, batch.support_advantages, inner, create_graph=False)
    total = None
    for b, params in enumerate(adapted):
        p = {k: v.detach().requires_grad_() for k, v in params.items()}
        query = batch.query.task(b)
        loss = surrogate(log_probs(policy, p, query), query.log_probs, batch.query_advantages[b : b + 1], estimator)
        grad = torch.nn.utils.parameters_to_vector(torch.autograd.grad(loss, list(p.values())))
        total = grad if total is None else total + grad
    return total / len(adapted)


@pytest.mark.parametrize("inner_steps", [1, 2])
@pytest.mark.parametrize("estimator", ["reinforce", "ratio"])
def test_first_order_gradient_is_fomaml_and_differs_from_second_order(inner_steps: int, estimator: str) -> None:
    policy = tiny_policy(seed=1)
    second = InnerLoop(alpha=0.3, l2=1e-2, entropy_coef=0.05)
    first = dataclasses.replace(second, first_order=True)
    batch = make_meta_batch(policy, second, inner_steps=inner_steps, seed=1)
    objective_2 = FlatObjective(policy, batch, second, estimator)
    objective_1 = FlatObjective(policy, batch, first, estimator)
    loss_2, grad_2 = objective_2.value_and_grad(objective_2.x0)
    loss_1, grad_1 = objective_1.value_and_grad(objective_1.x0)
    assert loss_1 == pytest.approx(loss_2, rel=1e-12)  # same theta', same loss value
    torch.testing.assert_close(grad_1, fomaml_gradient(policy, batch, first, estimator), rtol=1e-10, atol=1e-12)
    assert (grad_2 - grad_1).norm() > 1e-2 * grad_1.norm()
    # only the second-order gradient is the gradient of L_meta
    analytic_2, numeric = directional_derivatives(objective_2, count=2)
    analytic_1, _ = directional_derivatives(objective_1, count=2)
    np.testing.assert_allclose(analytic_2, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(analytic_1 - numeric).max() > 1e-4


def test_ratio_and_reinforce_agree_at_the_sampling_parameters() -> None:
    """The query surrogates have equal gradients where the query data was sampled (ratio = 1); the inner
    estimators give the same theta' but different curvature, hence different meta-gradients."""
    policy = tiny_policy(seed=2)
    reinforce = InnerLoop(alpha=0.3, l2=1e-2)
    ratio = dataclasses.replace(reinforce, estimator="ratio")
    batch = make_meta_batch(policy, reinforce, inner_steps=1, seed=2)
    grads = {}
    for inner_name, inner in (("reinforce", reinforce), ("ratio", ratio)):
        for estimator in ("reinforce", "ratio"):
            objective = FlatObjective(policy, batch, inner, estimator)
            grads[inner_name, estimator] = objective.value_and_grad(objective.x0)[1]
    torch.testing.assert_close(grads["reinforce", "reinforce"], grads["reinforce", "ratio"], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grads["ratio", "reinforce"], grads["ratio", "ratio"], rtol=1e-10, atol=1e-12)
    theta = leaf_params(policy)
    support, adv = batch.supports[0].task(0), batch.support_advantages[0][:1]
    for k, v in adapt(policy, theta, support, adv, reinforce).items():
        torch.testing.assert_close(v, adapt(policy, theta, support, adv, ratio)[k], rtol=1e-10, atol=1e-12)
    difference = (grads["reinforce", "reinforce"] - grads["ratio", "reinforce"]).norm()
    assert difference > 1e-3 * grads["reinforce", "reinforce"].norm()


@pytest.mark.parametrize("first_order", [False, True])
def test_adapt_is_pure_and_matches_manual_step(first_order: bool) -> None:
    policy = tiny_policy(seed=4)
    inner = InnerLoop(alpha=0.25, l2=1e-2, entropy_coef=0.05, first_order=first_order)
    batch = make_meta_batch(policy, inner, inner_steps=1, seed=4)
    support, advantages = batch.supports[0].task(1), batch.support_advantages[0][1:2]
    before = {k: v.detach().clone() for k, v in policy.named_parameters()}
    theta = policy_params(policy)

    adapted = adapt(policy, theta, support, advantages, inner)

    assert adapted is not theta and set(adapted) == set(theta)
    for name, param in policy.named_parameters():
        assert torch.equal(param, before[name]), name  # bit for bit
        assert param.grad is None, name
        assert adapted[name].data_ptr() != param.data_ptr()
        assert adapted[name].requires_grad
    # a manual support loss written against the module itself: -mean(A log pi) - beta H + l2 ||theta||^2
    dist = policy(support.observations)
    loss = (
        -(advantages * dist.log_prob(support.raw_actions)).mean()
        - 0.05 * dist.entropy().mean()
        + 1e-2 * sum((p**2).sum() for p in policy.parameters())
    )
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    for (name, param), grad in zip(policy.named_parameters(), grads, strict=True):
        torch.testing.assert_close(adapted[name], param - 0.25 * grad, rtol=1e-12, atol=1e-14)
        assert param.grad is None
    assert any(not torch.equal(adapted[k].detach(), before[k]) for k in before)
    # the meta-loss backward fills .grad but still leaves the values alone
    loss, _ = meta_objective(policy, theta, batch, inner)
    loss.backward()
    for name, param in policy.named_parameters():
        assert torch.equal(param.detach(), before[name]) and param.grad is not None


def test_adapt_all_steps_compose() -> None:
    """Two inner steps equal adapt applied twice, task by task."""
    policy = tiny_policy(seed=5)
    inner = InnerLoop(alpha=0.2)
    batch = make_meta_batch(policy, inner, inner_steps=2, seed=5)
    theta = leaf_params(policy)
    adapted = adapt_all(policy, theta, batch.supports, batch.support_advantages, inner)
    for b in range(B):
        step1 = adapt(policy, theta, batch.supports[0].task(b), batch.support_advantages[0][b : b + 1], inner)
        step2 = adapt(policy, step1, batch.supports[1].task(b), batch.support_advantages[1][b : b + 1], inner)
        for k in theta:
            torch.testing.assert_close(adapted[b][k], step2[k], rtol=0, atol=0)


def test_step_size_schedule_matches_a_manual_loop() -> None:
    """``step_sizes = (a, b)``: theta' = theta - a grad L_1(theta), theta'' = theta' - b grad L_2(theta'),
    with the support loss written against the module; equal step sizes reproduce the default bit for bit;
    a zero step leaves the parameters where they were."""
    policy = tiny_policy(seed=6)
    inner = InnerLoop(alpha=0.2, l2=0.0)
    batch = make_meta_batch(policy, inner, inner_steps=2, seed=6)
    theta = leaf_params(policy)
    scheduled = adapt_all(policy, theta, batch.supports, batch.support_advantages, inner, step_sizes=(0.3, 0.07))
    for b in range(B):
        params = [p.detach().clone().requires_grad_() for p in policy.parameters()]
        for support, advantages, size in zip(batch.supports, batch.support_advantages, (0.3, 0.07), strict=True):
            task_support = support.task(b)
            dist = torch.func.functional_call(
                policy, dict(zip(theta, params, strict=True)), (task_support.observations,)
            )
            loss = -(advantages[b : b + 1] * dist.log_prob(task_support.raw_actions)).mean()
            grads = torch.autograd.grad(loss, params)
            params = [(p - size * g).detach().requires_grad_() for p, g in zip(params, grads, strict=True)]
        for k, manual in zip(theta, params, strict=True):
            torch.testing.assert_close(scheduled[b][k], manual, rtol=1e-12, atol=1e-14)

    default = adapt_all(policy, theta, batch.supports, batch.support_advantages, inner)
    same = adapt_all(policy, theta, batch.supports, batch.support_advantages, inner, step_sizes=(0.2, 0.2))
    one_step = adapt_all(policy, theta, batch.supports[:1], batch.support_advantages[:1], inner)
    zero_second = adapt_all(policy, theta, batch.supports, batch.support_advantages, inner, step_sizes=(0.2, 0.0))
    for b in range(B):
        for k in theta:
            assert torch.equal(same[b][k], default[b][k])
            assert torch.equal(zero_second[b][k], one_step[b][k])
    with pytest.raises(ValueError, match="step_sizes has 1 entries for 2 inner steps"):
        adapt_all(policy, theta, batch.supports, batch.support_advantages, inner, step_sizes=(0.2,))


# ---------------------------------------------------------------------------------------------------
# Log-probs recomputed after sampling equal the ones recorded while stepping
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("squash", [False, True])
def test_recomputed_log_probs_equal_sampled(squash: bool) -> None:
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(17, 6, hidden_sizes=(8,), init_log_std=-0.5, squash=squash)
    tasks = [Task.backward(), Task("velocity", goal_velocity=1.0)]
    n, horizon = 2, 5
    envs = make_task_vector_env([Task.backward()] * (len(tasks) * n))
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    try:
        batch = sample_trajectories(
            policy, theta, envs, tasks, num_trajectories=n, horizon=horizon,
            generator=torch.Generator().manual_seed(1), seed=2,
        )  # fmt: skip
        assert batch.log_probs.shape == (2, n, horizon)
        torch.testing.assert_close(log_probs(policy, theta, batch), batch.log_probs, rtol=1e-5, atol=1e-5)

        inner = InnerLoop(alpha=0.5)
        advantages = torch.randn(2, n, horizon, generator=torch.Generator().manual_seed(3))
        adapted = adapt_all(policy, leaf_params(policy), [batch], [advantages], inner, create_graph=False)
        per_task = sample_trajectories(
            policy, adapted, envs, tasks, num_trajectories=n, horizon=horizon,
            generator=torch.Generator().manual_seed(4), seed=5,
        )  # fmt: skip
    finally:
        envs.close()
    for b in range(len(tasks)):
        recomputed = log_probs(policy, adapted[b], per_task.task(b))
        torch.testing.assert_close(recomputed[0], per_task.log_probs[b], rtol=1e-5, atol=1e-5)
        # the adapted parameters matter: under theta the same data has other log-probs
        assert (log_probs(policy, theta, per_task.task(b))[0] - per_task.log_probs[b]).abs().max() > 1e-3


# ---------------------------------------------------------------------------------------------------
# TRPO meta-step and conjugate gradient
# ---------------------------------------------------------------------------------------------------
def gaussian_kl(mean_p, std_p, mean_q, std_q) -> torch.Tensor:
    """``KL(N(mean_p, std_p^2) || N(mean_q, std_q^2))`` for diagonal Gaussians, summed over the last axis."""
    return (torch.log(std_q / std_p) + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * std_q**2) - 0.5).sum(-1)


def test_trpo_step_respects_the_trust_region_and_improves() -> None:
    cfg = TrainConfig(
        task="velocity", meta_batch_size=2, trajectories_per_task=3, horizon=10, hidden_sizes=(16,), physics_threads=1
    )
    policy = make_policy(cfg)
    inner = cfg.inner_loop
    envs = make_task_vector_env([Task.backward()] * (cfg.meta_batch_size * cfg.trajectories_per_task))
    try:
        batch = draw_meta_batch(cfg, policy, envs, np.random.default_rng(0), torch.Generator().manual_seed(0))
    finally:
        envs.close()
    old_policy = copy.deepcopy(policy)
    max_kl = 0.01
    info = TRPOMetaOptimizer(policy, TRPOSettings(max_kl=max_kl)).step(batch, inner)

    loss_old, adapted_old = meta_objective(
        old_policy, leaf_params(old_policy), batch, inner, create_graph=False, estimator="ratio"
    )
    loss_new, adapted_new = meta_objective(
        policy, leaf_params(policy), batch, inner, create_graph=False, estimator="ratio"
    )
    assert info["accepted_step"] > 0
    assert info["meta_loss"] == pytest.approx(loss_old.item(), rel=1e-6)
    assert loss_new.item() < loss_old.item()
    assert info["surrogate_improvement"] == pytest.approx(loss_old.item() - loss_new.item(), rel=1e-4, abs=1e-7)
    kls = []
    with torch.no_grad():
        for b in range(cfg.meta_batch_size):
            obs = batch.query.task(b).observations
            p = distribution(policy, adapted_old[b], obs)
            q = distribution(policy, adapted_new[b], obs)
            kls.append(gaussian_kl(p.mean, p.stddev, q.mean, q.stddev).mean())
    mean_kl = torch.stack(kls).mean().item()
    assert 0 < mean_kl <= max_kl * (1 + 1e-6)
    assert info["kl"] == pytest.approx(mean_kl, rel=1e-4)
    assert not torch.equal(
        torch.nn.utils.parameters_to_vector(policy.parameters()),
        torch.nn.utils.parameters_to_vector(old_policy.parameters()),
    )


def test_conjugate_gradient_solves_spd_system() -> None:
    generator = torch.Generator().manual_seed(0)
    m = torch.randn(12, 12, dtype=torch.float64, generator=generator)
    a = m @ m.T + 0.5 * torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, dtype=torch.float64, generator=generator)
    x = conjugate_gradient(lambda v: a @ v, b, iterations=50, tol=1e-24)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), rtol=0, atol=1e-6)
    torch.testing.assert_close(a @ x, b, rtol=0, atol=1e-6)


# --- the Gauss-Newton Fisher-vector product of the TRPO meta-step -----------------------------


@pytest.mark.parametrize(
    ("inner", "inner_steps"),
    [
        (InnerLoop(alpha=0.3, l2=1e-2, entropy_coef=0.05), 1),
        (InnerLoop(alpha=0.3, estimator="ratio"), 1),
        (InnerLoop(alpha=0.3, first_order=True), 1),
        (InnerLoop(alpha=0.3, l2=1e-2, entropy_coef=0.05), 2),
        (InnerLoop(alpha=0.3, estimator="ratio"), 3),
        (InnerLoop(alpha=0.3, first_order=True), 2),
        (InnerLoop(alpha=0.3, l2=1e-2, adapted=HEAD), 1),
        (InnerLoop(alpha=0.3, estimator="ratio", adapted=HEAD), 2),
    ],
    ids=[
        "reinforce",
        "ratio",
        "first-order",
        "reinforce-2-steps",
        "ratio-3-steps",
        "first-order-2-steps",
        "anil",
        "anil-ratio-2-steps",
    ],
)
def test_gauss_newton_product_equals_kl_hessian(inner: InnerLoop, inner_steps: int) -> None:
    policy = tiny_policy()
    batch = make_meta_batch(policy, inner, inner_steps=inner_steps)
    theta = leaf_params(policy)
    _, adapted = meta_objective(policy, theta, batch, inner)
    reference = kl_hessian_by_autograd(policy, theta, adapted, batch)
    fast = meta_fisher_vector_product(policy, theta, adapted, batch, inner)
    generator = torch.Generator().manual_seed(1)
    size = sum(p.numel() for p in theta.values())
    for _ in range(3):
        v = torch.randn(size, dtype=torch.float64, generator=generator)
        expected = reference(v)
        assert expected.norm() > 1e-6
        torch.testing.assert_close(fast(v), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("inner_steps", [1, 2])
def test_inner_step_changes_the_product(inner_steps: int) -> None:
    """The Jacobian term matters: ignoring it (first-order) gives a different product."""
    policy = tiny_policy()
    second = InnerLoop(alpha=0.5, l2=1e-2)
    batch = make_meta_batch(policy, second, inner_steps=inner_steps)
    theta = leaf_params(policy)
    _, adapted = meta_objective(policy, theta, batch, second)
    v = torch.randn(sum(p.numel() for p in theta.values()), dtype=torch.float64)
    exact = meta_fisher_vector_product(policy, theta, adapted, batch, second)(v)
    first = meta_fisher_vector_product(policy, theta, adapted, batch, InnerLoop(alpha=0.5, first_order=True))(v)
    assert (exact - first).norm() > 1e-3 * exact.norm()


def subsample_chain(
    policy: GaussianMLPPolicy, theta: dict[str, torch.Tensor], batch: MetaBatch, inner: InnerLoop, n: int
) -> list[dict[str, torch.Tensor]]:
    """``theta'_b(theta)`` with each inner step taken on the first ``n`` support trajectories, then
    shifted by a constant (detached) onto the full-data point: the value is the full-data
    ``theta'_b``, the Jacobian the chain of subsample factors ``I - alpha H^n_{b,j}(theta^(j))``."""
    out = []
    for b in range(B):
        params: dict[str, torch.Tensor] = dict(theta)
        for support, advantages in zip(batch.supports, batch.support_advantages, strict=True):
            full = adapt(policy, {k: v.detach().requires_grad_() for k, v in params.items()},
                         support.task(b), advantages[b : b + 1], inner)  # fmt: skip
            sub = adapt(policy, params, support.task(b).first_trajectories(n), advantages[b : b + 1, :n], inner)
            params = {k: sub[k] + (full[k] - sub[k]).detach() for k in sub}
        out.append(params)
    return out


@pytest.mark.parametrize("inner_steps", [1, 2])
def test_subsampled_product_equals_kl_hessian_of_the_subsample(inner_steps: int) -> None:
    """``trajectories=n``: the Hessians and the Fisher matrix come from the first ``n``
    trajectories, taken at the points ``theta^(j)`` of the full support sets."""
    inner = InnerLoop(alpha=0.3, l2=1e-2)
    policy = tiny_policy()
    batch = make_meta_batch(policy, inner, inner_steps=inner_steps)
    theta = leaf_params(policy)
    _, adapted = meta_objective(policy, theta, batch, inner)
    n = N - 1
    v = torch.randn(sum(p.numel() for p in theta.values()), dtype=torch.float64)
    fast = meta_fisher_vector_product(policy, theta, adapted, batch, inner, trajectories=n)(v)
    full = meta_fisher_vector_product(policy, theta, adapted, batch, inner)(v)
    assert (fast - full).norm() > 1e-3 * full.norm()  # the subsample is a different estimate

    chain = subsample_chain(policy, theta, batch, inner, n)
    for b in range(B):  # the chain's value is the full-data theta'
        for k in theta:
            torch.testing.assert_close(chain[b][k], adapted[b][k], rtol=1e-12, atol=1e-12)
    query_n = dataclasses.replace(batch, query=batch.query.first_trajectories(n))
    torch.testing.assert_close(fast, kl_hessian_by_autograd(policy, theta, chain, query_n)(v), rtol=1e-9, atol=1e-12)
