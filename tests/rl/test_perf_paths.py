"""The fast paths of sampling and of the vector environment equal their plain references.

``sample_trajectories`` skips ``functional_call`` and ``torch.distributions`` while stepping and
computes the log-probabilities once at the end; ``HalfCheetahVectorEnv`` calls ``mujoco.rollout``
with preallocated arrays and ``skip_checks=True``. Both must give the same numbers as the naive
versions (a per-step loop through ``distribution``/``policy.sample``/``policy.log_prob``, and a
checked ``mujoco.rollout.rollout`` call).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from hw14_lib.rl.make_env import make_task_vector_env
from hw14_lib.rl.policy import GaussianMLPPolicy, distribution, gaussian_part, policy_params
from hw14_lib.rl.sampling import sample_trajectories
from hw14_lib.rl.step_forward import gaussian_sampler, stacked_gaussian_sampler
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.vector_env import FRAME_SKIP, HalfCheetahVectorEnv

from helpers import tiny_policy

TASKS = [Task.backward(), Task("velocity", goal_velocity=1.0), Task("direction", direction=1.0)]


def make_policy(squash: bool) -> GaussianMLPPolicy:
    return tiny_policy(obs_dim=17, act_dim=6, hidden_sizes=(16, 8), squash=squash, double=False)


def perturbed(theta: dict[str, Tensor], k: int) -> dict[str, Tensor]:
    """A distinct parameter dict per task, standing in for ``theta'_b``."""
    g = torch.Generator().manual_seed(100 + k)
    return {name: v + 0.05 * torch.randn(v.shape, generator=g) for name, v in theta.items()}


def naive_sample(policy, params, envs, tasks, *, n, horizon, generator, seed, deterministic):
    """Per step: one ``distribution`` per parameter dict, ``policy.sample`` and ``policy.log_prob``."""
    b = len(tasks)
    shared = isinstance(params, dict)
    envs.set_attr("task", [t for t in tasks for _ in range(n)])
    obs_np, _ = envs.reset(seed=seed)
    obs_l, raw_l, logp_l, rew_l = [], [], [], []
    with torch.no_grad():
        for _ in range(horizon):
            obs = torch.as_tensor(obs_np, dtype=torch.float32).view(b, n, -1)
            dists = (
                [distribution(policy, params, obs)]
                if shared
                else [distribution(policy, p, obs[i]) for i, p in enumerate(params)]
            )
            raws, acts, logps = [], [], []
            for dist in dists:
                if deterministic:
                    u = gaussian_part(dist).mean
                    a = policy.to_env_action(u)
                else:
                    u, a = policy.sample(dist, generator)
                raws.append(u)
                acts.append(a)
                logps.append(policy.log_prob(dist, u))
            raw = raws[0] if shared else torch.stack(raws)
            obs_np, reward, _, _, _ = envs.step((acts[0] if shared else torch.stack(acts)).reshape(b * n, -1).numpy())
            obs_l.append(obs)
            raw_l.append(raw)
            logp_l.append(logps[0] if shared else torch.stack(logps))
            rew_l.append(torch.as_tensor(reward, dtype=torch.float32).view(b, n))
    stack = lambda xs: torch.stack(xs, dim=2)  # noqa: E731 - (B, N, T, ...)
    return stack(obs_l), stack(raw_l), stack(rew_l), stack(logp_l)


@pytest.mark.parametrize("squash", [False, True])
def test_gaussian_sampler_is_bitwise_the_policy_distribution(squash: bool) -> None:
    policy = make_policy(squash)
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    obs = torch.randn(3, 5, 17, generator=torch.Generator().manual_seed(1))
    for params in (theta, perturbed(theta, 0)):
        mean, std = gaussian_sampler(policy, params)(obs)
        gaussian = gaussian_part(distribution(policy, params, obs))
        assert torch.equal(mean, gaussian.mean)
        assert torch.equal(std.expand_as(mean), gaussian.stddev)


class StateDependentStdPolicy(GaussianMLPPolicy):
    """A subclass with another ``forward``: the sampler must not assume the plain MLP."""

    def forward(self, obs: Tensor) -> torch.distributions.Distribution:
        mean = self.mean_head(self.body(obs))
        std = torch.nn.functional.softplus(mean) + 0.1
        return torch.distributions.Independent(torch.distributions.Normal(mean, std), 1)


def test_gaussian_sampler_falls_back_to_forward_for_other_policies() -> None:
    torch.manual_seed(0)
    policy = StateDependentStdPolicy(17, 6, hidden_sizes=(8,))
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    obs = torch.randn(4, 17, generator=torch.Generator().manual_seed(2))
    mean, std = gaussian_sampler(policy, theta)(obs)
    gaussian = gaussian_part(distribution(policy, theta, obs))
    assert torch.equal(mean, gaussian.mean) and torch.equal(std, gaussian.stddev)
    assert std.shape == mean.shape  # state-dependent: the fast path would have returned (act_dim,)


@pytest.mark.parametrize("squash", [False, True])
def test_stacked_sampler_equals_one_forward_per_task_to_float32_rounding(squash: bool) -> None:
    policy = make_policy(squash)
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    params = [perturbed(theta, k) for k in range(5)]
    obs = 3 * torch.randn(5, 7, 17, generator=torch.Generator().manual_seed(4))
    for tasks in (slice(0, 5), slice(1, 3)):
        mean, std = stacked_gaussian_sampler(policy, params)(obs[tasks], tasks)
        assert mean.shape == (tasks.stop - tasks.start, 7, 6) and std.shape == (tasks.stop - tasks.start, 1, 6)
        for k, b in enumerate(range(tasks.start, tasks.stop)):
            want_mean, want_std = gaussian_sampler(policy, params[b])(obs[b])
            torch.testing.assert_close(mean[k], want_mean, rtol=1e-6, atol=1e-6)
            assert torch.equal(std[k, 0], want_std)
    with pytest.raises(ValueError, match="plain"):
        stacked_gaussian_sampler(StateDependentStdPolicy(17, 6, hidden_sizes=(8,)), params)


@pytest.mark.parametrize("squash", [False, True])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("deterministic", [False, True])
def test_sample_trajectories_equals_the_naive_per_step_loop(squash: bool, shared: bool, deterministic: bool) -> None:
    policy = make_policy(squash)
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    params = theta if shared else [perturbed(theta, k) for k in range(len(TASKS))]
    n, horizon = 4, 30
    kwargs = dict(n=n, horizon=horizon, seed=7, deterministic=deterministic)
    envs = make_task_vector_env([Task.backward()] * (len(TASKS) * n))
    try:
        batch = sample_trajectories(
            policy, params, envs, TASKS, num_trajectories=n, horizon=horizon,
            generator=torch.Generator().manual_seed(3), seed=7, deterministic=deterministic,
        )  # fmt: skip
        obs, raw, rewards, logp = naive_sample(
            policy, params, envs, TASKS, generator=torch.Generator().manual_seed(3), **kwargs
        )
    finally:
        envs.close()
    if not shared:
        # One batched product per layer for the B dicts instead of B products: float32 rounding (1e-7) at each
        # step, which the chaotic dynamics then amplify (to 1e-2 by step 30): compare the first steps.
        early = slice(0, 4)
        for got, want in ((batch.observations, obs), (batch.raw_actions, raw), (batch.rewards, rewards)):
            torch.testing.assert_close(got[:, :, early], want[:, :, early], rtol=0, atol=1e-5)
        torch.testing.assert_close(batch.log_probs[:, :, early], logp[:, :, early], rtol=0, atol=1e-4)
        return
    # Same noise draws in the same order, same arithmetic: the trajectories are bitwise equal.
    assert torch.equal(batch.observations, obs)
    assert torch.equal(batch.raw_actions, raw)
    assert torch.equal(batch.rewards, rewards)
    if squash:
        # The tanh correction is vectorized over the whole batch at the end: float32 rounding only.
        torch.testing.assert_close(batch.log_probs, logp, rtol=0, atol=1e-5)
    else:
        assert torch.equal(batch.log_probs, logp)


@pytest.mark.parametrize("num_threads", [1, 2])
def test_vector_env_step_equals_a_checked_mujoco_rollout(num_threads: int) -> None:
    import mujoco  # after hw14_lib, which imports it with its OpenGL back end disabled
    from mujoco import rollout

    envs = HalfCheetahVectorEnv(TASKS * 2, num_threads=num_threads)
    try:
        envs.reset(seed=0)
        actions = np.random.default_rng(0).uniform(-1.5, 1.5, (envs.num_envs, 6))  # some outside the box
        for _ in range(3):
            state = envs._state.copy()
            control = np.clip(actions, *envs.model.actuator_ctrlrange.T)[:, None, :]
            expected, _ = rollout.rollout(envs.model, mujoco.MjData(envs.model), state, control, nstep=FRAME_SKIP)
            envs.step(actions)
            np.testing.assert_array_equal(envs._state, expected[:, -1])
    finally:
        envs.close()
    with pytest.raises(RuntimeError, match="closed"):
        envs.step(actions)
