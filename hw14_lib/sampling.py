"""Batched trajectory collection: N trajectories for each of B tasks, all stepped at once.

Every time step costs one physics call for all ``B x N`` environments and one policy forward per
distinct parameter dict (one for ``theta``, B for the adapted ``theta'_b``), under
``torch.no_grad()``: nothing is differentiated while stepping. Log-probabilities are recomputed
later in a single batched forward pass under whichever parameters the loss needs
(:func:`hw14_lib.losses.log_probs`); the value equals the one seen while sampling, and its gradient
equals the gradient of the graph the seed kept alive while stepping, at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from hw14_lib.policy import GaussianMLPPolicy, distribution, gaussian_part
from hw14_lib.tasks import Task


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
    observations = torch.empty(horizon, b, n, obs_dim)
    raw_actions = torch.empty(horizon, b, n, act_dim)
    log_probs = torch.empty(horizon, b, n)
    rewards = np.empty((horizon, b * n))
    with torch.no_grad():
        for t in range(horizon):
            obs = torch.as_tensor(obs_np, dtype=torch.float32).view(b, n, obs_dim)
            if shared:
                dists = [distribution(policy, params, obs)]
            else:
                dists = [distribution(policy, p, obs[i]) for i, p in enumerate(params)]
            raw, env_actions, logp = [], [], []
            for dist in dists:
                if deterministic:
                    u = gaussian_part(dist).mean
                    a = policy.to_env_action(u)
                else:
                    u, a = policy.sample(dist, generator)
                raw.append(u)
                env_actions.append(a)
                logp.append(policy.log_prob(dist, u))
            observations[t] = obs
            raw_actions[t] = torch.stack(raw) if not shared else raw[0]
            log_probs[t] = torch.stack(logp) if not shared else logp[0]
            action_batch = (torch.stack(env_actions) if not shared else env_actions[0]).reshape(b * n, act_dim)
            obs_np, reward, terminated, truncated, _ = envs.step(action_batch.numpy())
            if np.any(terminated) or (t < horizon - 1 and np.any(truncated)):
                raise ValueError(
                    f"an episode ended at step {t + 1} < horizon {horizon}; horizons above the "
                    "environment's time limit (1000) are not supported"
                )
            rewards[t] = reward
    return TrajectoryBatch(
        observations=observations.permute(1, 2, 0, 3).contiguous(),
        raw_actions=raw_actions.permute(1, 2, 0, 3).contiguous(),
        rewards=torch.as_tensor(rewards, dtype=torch.float32).view(horizon, b, n).permute(1, 2, 0).contiguous(),
        log_probs=log_probs.permute(1, 2, 0).contiguous(),
        tasks=tuple(tasks),
    )
