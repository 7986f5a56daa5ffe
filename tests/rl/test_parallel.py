"""The parallel paths give the serial numbers bit for bit: blocks of copies sampled by their own threads
(``HalfCheetahVectorEnv.step_rows``), the TRPO step's Fisher-vector products spread over threads, and the
helper that runs both (:func:`hw14_lib.rl.parallel.map_in_threads`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from hw14_lib.rl.blocks import MIN_BLOCK_ROWS, ROW_GRANULE, row_blocks
from hw14_lib.rl.maml import MetaBatch
from hw14_lib.rl.outer import TRPOMetaOptimizer
from hw14_lib.rl.parallel import map_in_threads
from hw14_lib.rl.policy import GaussianMLPPolicy, policy_params
from hw14_lib.rl.sampling import sample_trajectories
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.trust_region import meta_fisher_vector_product
from hw14_lib.rl.vector_env import HalfCheetahVectorEnv
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.training import draw_meta_batch, make_policy


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """As training runs (``torch_threads: 1``): a product split over several PyTorch threads by its row count
    would differ between a block and the whole batch, so the sampler then keeps one block."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def direction_tasks(b: int) -> list[Task]:
    return [Task("direction", direction=(-1.0) ** i) for i in range(b)]


def direction_meta_batch(b: int) -> tuple[TrainConfig, GaussianMLPPolicy, MetaBatch]:
    """A configuration, its seeded policy and one meta-batch of ``b`` direction tasks, 6 trajectories of 30 steps."""
    cfg = TrainConfig(task="direction", meta_batch_size=b, trajectories_per_task=6, horizon=30, init_log_std=-1.0)
    policy = make_policy(cfg)
    envs = HalfCheetahVectorEnv([Task.backward()] * (b * 6), num_threads=2)
    batch = draw_meta_batch(cfg, policy, envs, np.random.default_rng(0), torch.Generator().manual_seed(0))
    envs.close()
    return cfg, policy, batch


def adapted_like(policy: GaussianMLPPolicy, b: int) -> list[dict[str, torch.Tensor]]:
    """A distinct parameter dict per task, standing in for ``theta'_b``."""
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    return [
        {k: v + 0.02 * torch.randn(v.shape, generator=torch.Generator().manual_seed(i)) for k, v in theta.items()}
        for i in range(b)
    ]


@pytest.mark.parametrize(("b", "n"), [(5, 20), (3, 41), (4, 25)])  # 41, 25: rows not in whole panels
@pytest.mark.parametrize("shared", [True, False])
def test_blocks_in_threads_give_the_serial_batch_bit_for_bit(b: int, n: int, shared: bool) -> None:
    policy = make_policy(TrainConfig(init_log_std=-0.5))
    params = {k: v.detach() for k, v in policy_params(policy).items()} if shared else adapted_like(policy, b)
    tasks = direction_tasks(b)
    batches = {}
    for threads in (1, 2):
        envs = HalfCheetahVectorEnv([t for t in tasks for _ in range(n)], num_threads=threads)
        generator = torch.Generator().manual_seed(3)
        batches[threads] = sample_trajectories(
            policy, params, envs, tasks, num_trajectories=n, horizon=40, generator=generator, seed=11
        )
        envs.close()
    assert len(row_blocks(envs, b, n, shared=shared)) == 2, "the two-thread case must really use two blocks"
    for field in ("observations", "raw_actions", "rewards", "log_probs"):
        assert torch.equal(getattr(batches[1], field), getattr(batches[2], field)), field


def test_row_blocks_cut_where_every_forward_keeps_its_numbers() -> None:
    envs = HalfCheetahVectorEnv([Task.backward()] * 100, num_threads=2)
    assert row_blocks(envs, 5, 20, shared=True) == [slice(0, ROW_GRANULE), slice(ROW_GRANULE, 100)]
    assert row_blocks(envs, 5, 20, shared=False) == [slice(0, 40), slice(40, 100)]  # task boundaries only
    envs.close()
    envs = HalfCheetahVectorEnv([Task.backward()] * 24, num_threads=2)
    assert row_blocks(envs, 4, 6, shared=False) == [slice(0, 24)]  # blocks of 12 < MIN_BLOCK_ROWS
    assert row_blocks(envs, 4, 6, shared=True) == [slice(0, 24)]  # no multiple of ROW_GRANULE inside
    assert MIN_BLOCK_ROWS > 12
    envs.close()


def test_a_forward_cut_inside_a_panel_of_rows_changes_the_last_bits() -> None:
    """Why the cuts are where they are: rows left after the last full panel of a matrix product round
    differently, so a block of 10 of a task's 20 rows may not reproduce the 20-row product (it does at
    every multiple of ROW_GRANULE, and from 1-row blocks on it is only luck)."""
    g = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(64, 17, generator=g), torch.randn(64, generator=g)
    x = 3 * torch.randn(2 * ROW_GRANULE + 7, 17, generator=g)
    whole = torch.nn.functional.linear(x, weight, bias)
    for cut in (ROW_GRANULE, 2 * ROW_GRANULE):
        head, tail = (
            torch.nn.functional.linear(x[:cut], weight, bias),
            torch.nn.functional.linear(x[cut:], weight, bias),
        )
        assert torch.equal(torch.cat([head, tail]), whole), cut


def test_a_policy_with_its_own_forward_is_sampled_in_one_thread() -> None:
    """``functional_call`` swaps the module's parameters while it runs: never from two threads at once."""

    class Custom(GaussianMLPPolicy):
        def forward(self, obs: torch.Tensor):  # type: ignore[override]
            calls.add(threading.get_ident())
            return super().forward(obs)

    calls: set[int] = set()
    torch.manual_seed(0)
    policy = Custom(17, 6, hidden_sizes=(8,))
    envs = HalfCheetahVectorEnv([Task.backward()] * 40, num_threads=2)
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    sample_trajectories(
        policy, theta, envs, [Task.backward()] * 2, num_trajectories=20, horizon=5,
        generator=torch.Generator().manual_seed(0), seed=0,
    )  # fmt: skip
    envs.close()
    assert calls == {threading.get_ident()}


def test_step_rows_of_every_block_equals_step() -> None:
    tasks = direction_tasks(4)
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 40, 6))
    whole = HalfCheetahVectorEnv([t for t in tasks for _ in range(10)], num_threads=2, max_episode_steps=12)
    parts = HalfCheetahVectorEnv([t for t in tasks for _ in range(10)], num_threads=2, max_episode_steps=12)
    whole.reset(seed=5), parts.reset(seed=5)
    for t in range(30):  # past the time limit: autoreset inside blocks too
        expected = whole.step(actions[t])
        left = parts.step_rows(slice(0, 13), actions[t, :13], worker=0)
        right = parts.step_rows(slice(13, 40), actions[t, 13:], worker=1)
        for a, b1, b2 in zip(expected[:4], left[:4], right[:4], strict=True):
            np.testing.assert_array_equal(a, np.concatenate([b1, b2]))
        for key in expected[4]:
            np.testing.assert_array_equal(expected[4][key], np.concatenate([left[4][key], right[4][key]]))
    with pytest.raises(ValueError, match="worker=2"):
        parts.step_rows(slice(0, 5), actions[0, :5], worker=2)
    with pytest.raises(ValueError, match="non-empty contiguous block"):
        parts.step_rows(slice(0, 10, 2), actions[0, :5], worker=0)
    whole.close(), parts.close()


def test_fisher_vector_products_over_threads_equal_the_serial_ones() -> None:
    cfg, policy, batch = direction_meta_batch(4)
    theta = policy_params(policy)
    adapted = [{k: v.detach() for k, v in p.items()} for p in adapted_like(policy, 4)]
    v = torch.randn(sum(p.numel() for p in theta.values()), generator=torch.Generator().manual_seed(1))
    products = [
        meta_fisher_vector_product(policy, theta, adapted, batch, cfg.inner_loop, trajectories=3, workers=w)(v)
        for w in (1, 2, 4)
    ]
    assert torch.equal(products[0], products[1]) and torch.equal(products[0], products[2])
    with pytest.raises(ValueError, match="workers=0"):
        TRPOMetaOptimizer(policy, workers=0)


def test_map_in_threads_keeps_the_order_the_thread_count_and_raises() -> None:
    torch.set_num_threads(1)
    seen: list[tuple[int, int]] = []

    def work(i: int) -> int:
        seen.append((i, torch.get_num_threads()))
        if i == 3:
            raise KeyError("item 3")
        return i * i

    assert map_in_threads(work, range(3), workers=2) == [0, 1, 4]
    assert {threads for _, threads in seen} == {1}
    with pytest.raises(KeyError, match="item 3"):
        map_in_threads(work, range(5), workers=2)
    with pytest.raises(ValueError, match="workers=0"):
        map_in_threads(work, range(2), workers=0)


@pytest.mark.parametrize("squash", [False, True])
def test_distribution_of_a_plain_policy_is_functional_call_bit_for_bit(squash: bool) -> None:
    """``distribution`` runs ``forward``'s operations on the parameter dict itself (thread-safe);
    values and gradients are those of ``torch.func.functional_call``."""
    from hw14_lib.rl.policy import distribution, gaussian_part

    torch.manual_seed(0)
    policy = GaussianMLPPolicy(17, 6, hidden_sizes=(32, 16), init_log_std=-0.7, squash=squash)
    obs = 3 * torch.randn(7, 20, 17)
    grads = []
    for route in ("ours", "functional_call"):
        params = {k: v.detach().clone().requires_grad_() for k, v in policy_params(policy).items()}
        if route == "ours":
            dist = distribution(policy, params, obs)
        else:
            dist = torch.func.functional_call(policy, params, (obs,))
        assert type(dist).__name__ == ("TransformedDistribution" if squash else "Independent")
        gaussian = gaussian_part(dist)
        loss = (gaussian.mean.sin() * gaussian.stddev).sum()
        grads.append((gaussian.mean.detach(), torch.autograd.grad(loss, list(params.values()))))
    assert torch.equal(grads[0][0], grads[1][0])
    for ours, reference in zip(grads[0][1], grads[1][1], strict=True):
        assert torch.equal(ours, reference)


def test_detached_inner_steps_and_line_search_values_over_threads_equal_the_serial_ones() -> None:
    from hw14_lib.rl.maml import adapt_all, meta_objective
    from hw14_lib.rl.trust_region import query_distributions

    cfg, policy, batch = direction_meta_batch(5)
    theta = {k: v.detach().requires_grad_() for k, v in policy_params(policy).items()}
    results = []
    for workers in (1, 2):
        adapted = adapt_all(
            policy, theta, batch.supports, batch.support_advantages, cfg.inner_loop, create_graph=False, workers=workers
        )
        loss, _ = meta_objective(policy, theta, batch, cfg.inner_loop, create_graph=False, workers=workers)
        means = [d.mean for d in query_distributions(policy, adapted, batch, workers=workers)]
        results.append((adapted, loss, means))
    (adapted1, loss1, means1), (adapted2, loss2, means2) = results
    assert torch.equal(loss1, loss2)
    assert all(torch.equal(a, b) for a, b in zip(means1, means2, strict=True))
    assert all(torch.equal(p[k], q[k]) for p, q in zip(adapted1, adapted2, strict=True) for k in p)


@pytest.mark.parametrize("learned", [False, True])
def test_the_meta_gradient_task_by_task_is_the_same_on_any_thread_count_and_equals_one_graphs(learned: bool) -> None:
    """TRPO's meta-gradient is each task's own graph differentiated in a worker thread and summed in task order: the
    same bits for 1, 2 and 3 threads, and the value and gradient of one graph of all tasks to float32 rounding
    (with learned step sizes, their gradient too)."""
    from hw14_lib.rl.maml import meta_objective
    from hw14_lib.rl.outer import meta_gradient
    from hw14_lib.rl.policy import GaussianMLPPolicy

    cfg, policy, batch = direction_meta_batch(5)
    if learned:  # the same parameters, with learned per-tensor step sizes
        state = policy.state_dict()
        policy = GaussianMLPPolicy(
            policy.obs_dim,
            policy.act_dim,
            hidden_sizes=policy.hidden_sizes,
            step_sizes={"steps": 1, "init": cfg.inner_lr, "granularity": "per_tensor"},
        )
        policy.load_state_dict(state, strict=False)
    theta = policy_params(policy)
    wrt = list(theta.values()) + ([] if not learned else list(policy.inner_step_sizes.parameters()))
    runs = [meta_gradient(policy, theta, batch, cfg.inner_loop, wrt, estimator="ratio", workers=w) for w in (1, 2, 3)]
    for loss, grads, adapted in runs[1:]:
        assert torch.equal(loss, runs[0][0])
        assert all(torch.equal(g, h) for g, h in zip(grads, runs[0][1], strict=True))
        assert all(torch.equal(p[k], q[k]) for p, q in zip(adapted, runs[0][2], strict=True) for k in p)
    loss, _ = meta_objective(policy, theta, batch, cfg.inner_loop, estimator="ratio")
    reference = torch.autograd.grad(loss, wrt)
    torch.testing.assert_close(runs[0][0], loss.detach(), rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(runs[0][1], reference, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
