"""Learned inner step sizes (``hw14_lib.rl.step_sizes``; MAML++'s LSLR and Meta-SGD): the meta-gradient of
``log alpha`` against float64 central differences with K = 1 and 2 inner steps, alpha positive whatever the update,
the K-step meta-gradient of theta unchanged when the learned sizes equal the fixed alpha, the TRPO Fisher-vector
product against autograd's, saving and loading, and training runs (Adam and TRPO) that learn them."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from hw14_lib import GaussianMLPPolicy, InnerLoop, meta_objective
from hw14_lib.rl.maml import adapt_all, policy_step_sizes
from hw14_lib.rl.policy import learned_step_sizes, load_policy, policy_params, save_policy
from hw14_lib.rl.step_sizes import LOG_ALPHA_BOUNDS, LearnedStepSizes
from hw14_lib.rl.trust_region import kl_hessian_by_autograd, meta_fisher_vector_product
from hw14_lib.run.config import TrainConfig

from helpers import ACT_DIM, OBS_DIM, leaf_params, make_meta_batch, tiny_policy

INNER = InnerLoop(alpha=0.3, l2=0.0)


def lslr_policy(granularity: str = "per_tensor", steps: int = 2, seed: int = 0) -> GaussianMLPPolicy:
    return tiny_policy(step_sizes={"steps": steps, "init": INNER.alpha, "granularity": granularity}, seed=seed)


def perturb(policy: GaussianMLPPolicy, seed: int = 1) -> None:
    """Give every learned ``log alpha`` its own value (so that each one's gradient is checked)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in learned_step_sizes(policy).parameters():
            p.add_(0.3 * torch.randn(p.shape, dtype=p.dtype, generator=generator))


@pytest.mark.parametrize("granularity", ["per_tensor", "per_parameter"])
@pytest.mark.parametrize("inner_steps", [1, 2])
def test_log_alpha_gradient_matches_central_differences(granularity: str, inner_steps: int) -> None:
    policy = lslr_policy(granularity, steps=inner_steps)
    perturb(policy)
    batch = make_meta_batch(policy, INNER, inner_steps=inner_steps)
    theta = leaf_params(policy)
    log_alphas = list(learned_step_sizes(policy).parameters())
    x0 = torch.nn.utils.parameters_to_vector(log_alphas).detach().clone()

    def loss_at(x: torch.Tensor) -> float:
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(x, log_alphas)
        return meta_objective(policy, theta, batch, INNER, estimator="ratio")[0].item()

    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(x0, log_alphas)
    loss = meta_objective(policy, theta, batch, INNER, estimator="ratio")[0]
    grad = torch.nn.utils.parameters_to_vector(torch.autograd.grad(loss, log_alphas))
    assert grad.abs().max() > 0
    generator = torch.Generator().manual_seed(0)
    eps = 1e-6
    for _ in range(4):
        d = torch.randn(x0.shape, dtype=torch.float64, generator=generator)
        d /= d.norm()
        numeric = (loss_at(x0 + eps * d) - loss_at(x0 - eps * d)) / (2 * eps)
        assert float(grad @ d) == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_learned_sizes_equal_to_alpha_give_the_fixed_alpha_meta_gradient() -> None:
    fixed = lslr_policy(steps=2)
    batch = make_meta_batch(fixed, INNER, inner_steps=2)
    theta = leaf_params(fixed)
    learned_loss = meta_objective(fixed, theta, batch, INNER)[0]
    learned_grad = torch.autograd.grad(learned_loss, list(theta.values()))
    plain = GaussianMLPPolicy(OBS_DIM, ACT_DIM, hidden_sizes=(5,), init_log_std=-0.3).double()
    plain.load_state_dict({k: v for k, v in fixed.state_dict().items() if not k.startswith("inner_step_sizes.")})
    # log alpha was rounded to float32 at creation: the fixed alpha is the learned one's exact value.
    alpha = float(learned_step_sizes(fixed).alphas(0)["log_std"].detach())
    assert alpha == pytest.approx(INNER.alpha, rel=1e-7)
    plain_loss = meta_objective(plain, theta, batch, dataclasses.replace(INNER, alpha=alpha))[0]
    plain_grad = torch.autograd.grad(plain_loss, list(theta.values()))
    torch.testing.assert_close(learned_loss, plain_loss, rtol=1e-12, atol=1e-14)
    for a, b in zip(learned_grad, plain_grad, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("granularity", ["per_tensor", "per_parameter"])
def test_fisher_vector_product_with_learned_sizes_matches_autograd(granularity: str) -> None:
    policy = lslr_policy(granularity, steps=2)
    perturb(policy)
    batch = make_meta_batch(policy, INNER, inner_steps=2)
    theta = policy_params(policy)
    _, adapted = meta_objective(policy, theta, batch, INNER)
    fvp = meta_fisher_vector_product(policy, theta, adapted, batch, INNER)
    reference = kl_hessian_by_autograd(policy, theta, adapted, batch)
    generator = torch.Generator().manual_seed(3)
    for _ in range(3):
        v = torch.randn(sum(p.numel() for p in theta.values()), dtype=torch.float64, generator=generator)
        torch.testing.assert_close(fvp(v), reference(v), rtol=1e-8, atol=1e-10)


def test_alpha_stays_positive_and_bounded_and_later_steps_reuse_the_last_size() -> None:
    sizes = LearnedStepSizes({"w": (2, 3), "b": (3,)}, steps=2, init=0.1, granularity="per_parameter")
    assert sizes.alphas(0)["w"].shape == (2, 3) and sizes.summary() == pytest.approx([0.1, 0.1])
    with torch.no_grad():
        for p in sizes.parameters():
            p.sub_(1000.0)  # an update far too large
    assert all((a >= 1e-6 * (1 - 1e-6)).all() for j in range(3) for a in sizes.alphas(j).values())  # no underflow
    sizes.project()
    assert all((p >= LOG_ALPHA_BOUNDS[0]).all() for p in sizes.parameters())  # back where the gradient flows
    assert sizes.alphas(5)["b"] is not None and torch.equal(sizes.alphas(5)["b"], sizes.alphas(1)["b"])
    tensor = LearnedStepSizes({"w": (2, 3)}, steps=1, init=0.5, granularity="per_tensor")
    assert tensor.alphas(0)["w"].shape == () and math.isclose(tensor.summary()[0], 0.5, rel_tol=1e-6)
    with pytest.raises(ValueError, match="init=0"):
        LearnedStepSizes({"w": (1,)}, steps=1, init=0.0, granularity="per_tensor")


def test_step_sizes_are_not_theta_and_travel_with_the_policy_file(tmp_path) -> None:
    policy = lslr_policy(steps=3)
    perturb(policy)
    assert not any(k.startswith("inner_step_sizes") for k in policy_params(policy))
    loaded = load_policy(save_policy(policy, tmp_path / "policy.pt"))
    assert learned_step_sizes(loaded).summary() == pytest.approx(learned_step_sizes(policy).summary())
    assert loaded.architecture()["step_sizes"] == {"steps": 3, "init": INNER.alpha, "granularity": "per_tensor"}


@pytest.mark.slow
@pytest.mark.parametrize("outer", ["adam", "trpo"])
def test_a_run_learns_its_step_sizes(tmp_path, outer: str) -> None:
    import json

    from hw14_lib.run.training import train

    from conftest import SMOKE

    cfg = TrainConfig.from_yaml(
        SMOKE,
        task="direction",
        inner_steps=2,
        learned_step_sizes="per_tensor",
        outer_optimizer=outer,
        step_size_lr=0.05,
    )
    summary = train(cfg, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    alphas = [row["alpha_1"] for row in rows]
    assert len(set(alphas)) > 1 and all(a > 0 for a in alphas)  # learned, and positive
    assert summary is not None and np.isfinite(summary["post_adaptation_return"])
    policy = load_policy(tmp_path / "run" / "policy.pt")
    assert learned_step_sizes(policy).summary()[1] == pytest.approx(alphas[-1], rel=1e-6)


def test_step_sizes_are_an_argument_never_looked_up_on_the_policy() -> None:
    """``adapt_all`` takes ``inner.alpha`` unless it is given step sizes: a policy's learned sizes reach it only
    through :func:`policy_step_sizes`, and then they equal the per-tensor schedule written out by hand."""
    policy = lslr_policy("per_tensor", steps=2)
    perturb(policy)
    batch = make_meta_batch(policy, INNER, inner_steps=2)
    theta = leaf_params(policy)
    args = (policy, theta, batch.supports, batch.support_advantages, INNER)
    fixed = adapt_all(*args, create_graph=False)
    by_hand = adapt_all(*args, create_graph=False, step_sizes=[INNER.alpha, INNER.alpha])
    learned = adapt_all(*args, create_graph=False, step_sizes=policy_step_sizes(policy, 2, detach=True))
    written_out = [{k: float(a.detach()) for k, a in learned_step_sizes(policy).alphas(j).items()} for j in range(2)]
    reference = adapt_all(*args, create_graph=False, step_sizes=written_out)
    for b in range(len(fixed)):
        for name in theta:
            torch.testing.assert_close(fixed[b][name], by_hand[b][name], rtol=0, atol=0)
            torch.testing.assert_close(learned[b][name], reference[b][name], rtol=1e-12, atol=1e-12)
    assert any(not torch.equal(fixed[0][k], learned[0][k]) for k in theta)
    assert policy_step_sizes(tiny_policy(), 2, detach=True) is None
