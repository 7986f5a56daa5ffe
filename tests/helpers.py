"""What several test modules share: a tiny float64 policy and hand-made meta-batches for the algorithm's tests,
a batched environment stepped beside its Gymnasium reference, and the pixel counter of the video tests. (Fixtures
live in ``conftest.py``; plain helpers here, imported as ``from helpers import ...``: the tests folder is on
``sys.path``.)"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from hw14_lib import GaussianMLPPolicy, InnerLoop, MetaBatch, Task, TrajectoryBatch, adapt_all
from hw14_lib.rl.losses import log_probs
from hw14_lib.rl.policy import policy_params

OBS_DIM, ACT_DIM = 4, 2
B, N, T = 2, 2, 3
TASKS = (Task.backward(), Task("velocity", goal_velocity=1.0))


def tiny_policy(
    *,
    obs_dim: int = OBS_DIM,
    act_dim: int = ACT_DIM,
    hidden_sizes: tuple[int, ...] = (5,),
    init_log_std: float = -0.3,
    squash: bool = False,
    action_scale: float = 1.0,
    step_sizes: dict[str, Any] | None = None,
    seed: int = 0,
    double: bool = True,
) -> GaussianMLPPolicy:
    """The tests' policy: seeded (``torch.manual_seed(seed)``), small, in float64 unless ``double`` is false."""
    torch.manual_seed(seed)
    policy = GaussianMLPPolicy(
        obs_dim,
        act_dim,
        hidden_sizes=hidden_sizes,
        init_log_std=init_log_std,
        squash=squash,
        action_scale=action_scale,
        step_sizes=step_sizes,
    )
    return policy.double() if double else policy


def leaf_params(policy: GaussianMLPPolicy) -> dict[str, torch.Tensor]:
    """A detached copy of theta whose tensors are leaves that require grad."""
    return {k: v.detach().clone().requires_grad_() for k, v in policy_params(policy).items()}


def random_batch(generator: torch.Generator) -> TrajectoryBatch:
    """Random float64 trajectories; ``log_probs`` are placeholders filled in by :func:`make_meta_batch`."""
    return TrajectoryBatch(
        observations=torch.randn(B, N, T, OBS_DIM, dtype=torch.float64, generator=generator),
        raw_actions=torch.randn(B, N, T, ACT_DIM, dtype=torch.float64, generator=generator),
        rewards=torch.randn(B, N, T, dtype=torch.float64, generator=generator),
        log_probs=torch.zeros(B, N, T, dtype=torch.float64),
        tasks=TASKS,
    )


def with_sampling_log_probs(policy: GaussianMLPPolicy, batch: TrajectoryBatch, params: list[dict]) -> TrajectoryBatch:
    """Record ``log pi(u|s)`` under the parameters each task's data would have been sampled with."""
    with torch.no_grad():
        recorded = torch.cat([log_probs(policy, params[b], batch.task(b)) for b in range(B)])
    return dataclasses.replace(batch, log_probs=recorded)


def make_meta_batch(policy: GaussianMLPPolicy, inner: InnerLoop, *, inner_steps: int, seed: int = 0) -> MetaBatch:
    """A hand-made meta-batch with fixed advantages, as sampling would record it: support ``k`` carries
    log-probs under ``theta'^(k)``, the query under the final ``theta'``."""
    generator = torch.Generator().manual_seed(seed)
    theta = leaf_params(policy)
    supports: list[TrajectoryBatch] = []
    advantages: list[torch.Tensor] = []
    sampling = [theta] * B
    for _ in range(inner_steps):
        supports.append(with_sampling_log_probs(policy, random_batch(generator), sampling))
        advantages.append(torch.randn(B, N, T, dtype=torch.float64, generator=generator))
        sampling = adapt_all(policy, theta, supports, advantages, inner, create_graph=False)
    query = with_sampling_log_probs(policy, random_batch(generator), sampling)
    query_advantages = torch.randn(B, N, T, dtype=torch.float64, generator=generator)
    return MetaBatch(tuple(supports), tuple(advantages), query, query_advantages)


def cheetah_pixels(frame: np.ndarray) -> int:
    """Pixels of the cheetah's tan and pink body: red well above blue and above green. The floor's
    checker (black, pale green), its reflections and the grey sky never are."""
    rgb = frame[..., :3].astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r - b > 50) & (r > g) & (r > 90)).sum())


def assert_steps_alike(fast: Any, reference: Any, actions: np.ndarray, *, seed: int, atol: float) -> np.ndarray:
    """Reset a batched environment ``fast`` and its per-task Gymnasium ``reference`` with ``seed`` (observations
    within 1e-12), step both through ``actions`` ``(steps, M, 6)`` (observations and rewards within ``atol`` at every
    step) and return ``fast``'s last observations."""
    obs_fast, _ = fast.reset(seed=seed)
    obs_ref, _ = reference.reset(seed=seed)
    np.testing.assert_allclose(obs_fast, obs_ref, rtol=0, atol=1e-12)
    for t, action in enumerate(actions):
        obs_fast, r_fast, *_ = fast.step(action)
        obs_ref, r_ref, *_ = reference.step(action)
        np.testing.assert_allclose(obs_fast, obs_ref, rtol=0, atol=atol, err_msg=f"obs, step {t}")
        np.testing.assert_allclose(r_fast, r_ref, rtol=0, atol=atol, err_msg=f"reward, step {t}")
    return obs_fast
