"""Batched trajectory collection: N trajectories for each of B tasks, all stepped at once.

Every time step costs one physics call for all ``B x N`` environments and one policy forward per
distinct parameter dict (one for ``theta``, B for the adapted ``theta'_b``), under
``torch.no_grad()``: nothing is differentiated while stepping. Log-probabilities are recomputed
later in a single batched forward pass under whichever parameters the loss needs
(:func:`hw14_lib.rl.losses.log_probs`); the value equals the one seen while sampling, and its gradient
equals the gradient of the graph the seed kept alive while stepping, at a fraction of the cost.

The per-step forward (:func:`gaussian_sampler`) bypasses ``functional_call`` and
``torch.distributions``, whose Python cost exceeds the arithmetic of a small MLP, and the recorded
``log pi`` is evaluated once per rollout from the stored means; both give bitwise the numbers of
the plain per-step path (``tests/test_perf_paths.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from hw14_lib.rl.envs import MAX_EPISODE_STEPS
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, distribution, gaussian_part
from hw14_lib.rl.tasks import Task


@dataclass(frozen=True)
class TrajectoryBatch:
    """Trajectories of B tasks x N rollouts x T steps.

    Attributes:
        observations: ``s_t``, ``(B, N, T, obs_dim)``.
        raw_actions: pre-squash samples ``u_t``, ``(B, N, T, act_dim)``.
        rewards: task rewards ``r_t``, ``(B, N, T)``.
        log_probs: ``log pi(u_t | s_t)`` under the sampling parameters, ``(B, N, T)``, detached.
        tasks: the B tasks.
    """

    observations: Tensor
    raw_actions: Tensor
    rewards: Tensor
    log_probs: Tensor
    tasks: tuple[Task, ...]

    @property
    def num_steps(self) -> int:
        """Environment steps in this batch, ``B * N * T``."""
        return int(self.rewards.numel())

    def episode_returns(self) -> Tensor:
        """Undiscounted return of every trajectory, ``(B, N)``."""
        return self.rewards.sum(-1)

    def task(self, b: int) -> TrajectoryBatch:
        """The slice of task ``b``, keeping a leading task axis of size 1."""
        return TrajectoryBatch(
            self.observations[b : b + 1],
            self.raw_actions[b : b + 1],
            self.rewards[b : b + 1],
            self.log_probs[b : b + 1],
            (self.tasks[b],),
        )

    def first_trajectories(self, n: int) -> TrajectoryBatch:
        """The first ``n`` trajectories of every task (the ``N`` axis cut to ``n``)."""
        return TrajectoryBatch(
            self.observations[:, :n], self.raw_actions[:, :n], self.rewards[:, :n], self.log_probs[:, :n], self.tasks
        )


def gaussian_sampler(
    policy: GaussianMLPPolicy, params: Mapping[str, Tensor]
) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """The map ``s -> (mu_params(s), sigma_params)`` of ``pi_params(. | s)``, for observations ``(..., obs_dim)``.

    For a plain :class:`GaussianMLPPolicy` (a Linear/Tanh body) it repeats ``forward``'s arithmetic
    op for op with :func:`torch.nn.functional.linear` on tensors looked up once, so its output is
    bitwise equal to the mean and standard deviation of ``distribution(policy, params, obs)``
    without the Python cost of ``functional_call`` and ``torch.distributions``, which is several
    times the arithmetic of a 64-64 MLP on 100 rows and is paid at every environment step. Any
    other policy goes through :func:`distribution`.

    Returns:
        A function of ``obs`` returning ``mean (..., act_dim)`` and ``std`` (broadcastable to it).
    """
    children = list(policy.body.named_children())
    if type(policy).forward is not GaussianMLPPolicy.forward or any(
        type(m) not in (nn.Linear, nn.Tanh) for _, m in children
    ):

        def generic(obs: Tensor) -> tuple[Tensor, Tensor]:
            gaussian = gaussian_part(distribution(policy, params, obs))
            return gaussian.mean, gaussian.stddev

        return generic

    # None stands for a Tanh layer.
    layers = [
        (params[f"body.{name}.weight"], params[f"body.{name}.bias"]) if type(m) is nn.Linear else None
        for name, m in children
    ]
    head_weight, head_bias = params["mean_head.weight"], params["mean_head.bias"]
    std = params["log_std"].clamp(*LOG_STD_BOUNDS).exp()

    def mlp(obs: Tensor) -> tuple[Tensor, Tensor]:
        x = obs
        for layer in layers:
            x = torch.tanh(x) if layer is None else nn.functional.linear(x, *layer)
        return nn.functional.linear(x, head_weight, head_bias), std

    return mlp


def sample_trajectories(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
    envs: gym.vector.VectorEnv,
    tasks: Sequence[Task],
    *,
    num_trajectories: int,
    horizon: int,
    generator: torch.Generator,
    seed: int,
    deterministic: bool = False,
) -> TrajectoryBatch:
    """Roll out ``N = num_trajectories`` episodes of ``T = horizon`` steps for each task.

    Args:
        policy: the policy module (its own parameters are not read unless passed in ``params``).
        params: one parameter dict shared by all tasks (``theta``), or one per task (``theta'_b``).
        envs: a vector environment with ``B * N`` copies; copy ``b * N + n`` runs task ``b``.
        tasks: the B tasks.
        generator: source of the Gaussian exploration noise.
        seed: seed of the environments' reset noise for this batch.
        deterministic: act with the mean action (evaluation) instead of sampling.

    Raises:
        ValueError: on a size mismatch between ``envs``, ``tasks``, ``params`` and the policy, or if
            an episode terminates early (HalfCheetah never does).
    """
    b, n = len(tasks), num_trajectories
    shared = isinstance(params, Mapping)
    if not shared and len(params) != b:
        raise ValueError(f"got {len(params)} parameter dicts for {b} tasks")
    if envs.num_envs != b * n:
        raise ValueError(f"the vector env has {envs.num_envs} copies; {b} tasks x {n} trajectories need {b * n}")
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    act_dim = int(np.prod(envs.single_action_space.shape))
    if (obs_dim, act_dim) != (policy.obs_dim, policy.act_dim):
        raise ValueError(
            f"policy expects observations of size {policy.obs_dim} and actions of size {policy.act_dim}, "
            f"the environment has {obs_dim} and {act_dim}"
        )

    envs.set_attr("task", [task for task in tasks for _ in range(n)])
    obs_np, _ = envs.reset(seed=seed)
    samplers = [gaussian_sampler(policy, p) for p in ([params] if shared else params)]
    observations = torch.empty(horizon, b, n, obs_dim)
    raw_actions = torch.empty(horizon, b, n, act_dim)
    means = torch.empty(horizon, b, n, act_dim)
    stds = torch.empty(horizon, b, n, act_dim)
    rewards = np.empty((horizon, b * n))
    with torch.no_grad():
        for t in range(horizon):
            observations[t] = torch.from_numpy(obs_np).view(b, n, obs_dim)  # float64 -> float32 copy
            obs = observations[t]
            for i, sampler in enumerate(samplers):
                rows = slice(None) if shared else i  # the shared dict acts for every task at once
                mean, std = sampler(obs[rows])
                if deterministic:
                    raw = mean
                else:
                    # Same draws, in the same order, as policy.sample: one (rows, act_dim) block per dict.
                    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
                    raw = mean + std * eps
                means[t, rows] = mean
                stds[t, rows] = std
                raw_actions[t, rows] = raw
            env_actions = policy.to_env_action(raw_actions[t]).reshape(b * n, act_dim)
            obs_np, reward, terminated, truncated, _ = envs.step(env_actions.numpy())
            if np.any(terminated) or (t < horizon - 1 and np.any(truncated)):
                raise ValueError(
                    f"an episode ended at step {t + 1} < horizon {horizon}; horizons above the "
                    f"environment's time limit ({MAX_EPISODE_STEPS}) are not supported"
                )
            rewards[t] = reward
        # Elementwise, so equal to evaluating policy.log_prob step by step, in one call.
        gaussian = Independent(Normal(means, stds, validate_args=False), 1, validate_args=False)
        log_probs = policy.log_prob(gaussian, raw_actions)
    return TrajectoryBatch(
        observations=observations.permute(1, 2, 0, 3).contiguous(),
        raw_actions=raw_actions.permute(1, 2, 0, 3).contiguous(),
        rewards=torch.as_tensor(rewards, dtype=torch.float32).view(horizon, b, n).permute(1, 2, 0).contiguous(),
        log_probs=log_probs.permute(1, 2, 0).contiguous(),
        tasks=tuple(tasks),
    )
