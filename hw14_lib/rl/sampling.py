"""Batched trajectory collection: N trajectories for each of B tasks, all stepped at once.

Every time step costs one physics call for the ``B x N`` environments and one policy forward
(:mod:`hw14_lib.rl.step_forward`: one product per layer for ``theta``, one batched product per layer for the B
adapted ``theta'_b``), under ``torch.no_grad()``: nothing is differentiated while stepping. Log-probabilities
are recomputed later in a single batched forward pass under whichever parameters the loss needs
(:func:`hw14_lib.rl.losses.log_probs`); the value equals the one seen while sampling, and its gradient
equals the gradient of the graph the starter code kept alive while stepping, at a fraction of the cost.

The copies are stepped by :func:`hw14_lib.rl.blocks.roll_out`: in this process, in one block or in ``k`` blocks
of their own Python threads, or in worker processes. The exploration noise is drawn up front in the order of the
serial loop, and a copy's trajectory does not depend on its block, so the batch is bitwise the serial one
(``tests/rl/test_perf_paths.py``, ``tests/rl/test_parallel.py``, ``tests/rl/test_workers.py``).

The per-step forward bypasses ``functional_call`` and ``torch.distributions``, whose Python cost exceeds the
arithmetic of a small MLP, and the recorded ``log pi`` is evaluated once per rollout from the stored means; they
give the numbers of the plain per-step path, bitwise for one shared dict and to float32 rounding for the batched
per-task product (``tests/rl/test_perf_paths.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from hw14_lib.rl.blocks import Allocate, Copies, Steps, new_tensor, roll_out
from hw14_lib.rl.policy import GaussianMLPPolicy
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.workers import ProcessVectorEnv


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
    obs_dim, act_dim = _check_sizes(policy, params, envs, b, n)
    copies = [task for task in tasks for _ in range(n)]
    envs.set_attr("task", copies)
    # Worker processes write into shared memory, kept by envs from one call to the next.
    allocate = envs.shared_tensor if isinstance(envs, ProcessVectorEnv) else new_tensor
    steps = Steps.empty(horizon, b * n, obs_dim, act_dim, allocate)
    # The noise does not depend on the states, so it is drawn up front, in the order (and shapes) the
    # per-step draws had: for each t, one block per parameter dict, as policy.sample draws it.
    noise = None if deterministic else _draw_noise(generator, horizon, b, n, act_dim, shared=shared, out=allocate)
    roll_out(envs, policy, params, Copies(copies, seed, noise, steps, n))
    return _trajectory_batch(policy, steps, tasks, n)


def _check_sizes(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
    envs: gym.vector.VectorEnv,
    b: int,
    n: int,
) -> tuple[int, int]:
    """The observation and action sizes, after checking ``envs``, ``params`` and the policy agree with B and N."""
    if not isinstance(params, Mapping) and len(params) != b:
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
    return obs_dim, act_dim


def _trajectory_batch(policy: GaussianMLPPolicy, steps: Steps, tasks: Sequence[Task], n: int) -> TrajectoryBatch:
    """The records in the batch's ``(B, N, T, ...)`` layout, with ``log pi(u_t | s_t)`` evaluated once."""
    horizon, b = steps.rewards.shape[0], len(tasks)
    with torch.no_grad():
        # Elementwise, so equal to evaluating policy.log_prob step by step, in one call.
        gaussian = Independent(Normal(steps.means, steps.stds, validate_args=False), 1, validate_args=False)
        log_probs = policy.log_prob(gaussian, steps.raw_actions)

    def layout(x: Tensor) -> Tensor:  # (T, B * N, ...) -> (B, N, T, ...)
        x = x.view(horizon, b, n, *x.shape[2:])
        # A copy even where the permuted view is contiguous (B = N = 1): the records may be reused by the next call.
        return x.permute(1, 2, 0, *range(3, x.dim())).clone(memory_format=torch.contiguous_format)

    return TrajectoryBatch(
        observations=layout(steps.observations),
        raw_actions=layout(steps.raw_actions),
        rewards=layout(steps.rewards.to(torch.float32)),
        log_probs=layout(log_probs),
        tasks=tuple(tasks),
    )


def _draw_noise(
    generator: torch.Generator, horizon: int, b: int, n: int, act_dim: int, *, shared: bool, out: Allocate = new_tensor
) -> Tensor:
    """The exploration noise ``eps ~ N(0, I)`` of every step, ``(T, B * N, act_dim)``: for each ``t``, one
    ``(B, N, act_dim)`` draw for a shared parameter dict, else one ``(N, act_dim)`` draw per task, in task order."""
    noise = out("noise", (horizon, b * n, act_dim), torch.float32).view(horizon, b, n, act_dim)
    for t in range(horizon):
        if shared:
            noise[t] = torch.randn((b, n, act_dim), generator=generator)
        else:
            for i in range(b):
                noise[t, i] = torch.randn((n, act_dim), generator=generator)
    return noise.view(horizon, b * n, act_dim)
