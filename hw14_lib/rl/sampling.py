"""Batched trajectory collection: N trajectories for each of B tasks, all stepped at once.

Every time step costs one physics call for the ``B x N`` environments and one policy forward
(:mod:`hw14_lib.rl.step_forward`: one product per layer for ``theta``, one batched product per layer for the B
adapted ``theta'_b``), under ``torch.no_grad()``: nothing is differentiated while stepping. Log-probabilities
are recomputed later in a single batched forward pass under whichever parameters the loss needs
(:func:`hw14_lib.rl.losses.log_probs`); the value equals the one seen while sampling, and its gradient
equals the gradient of the graph the starter code kept alive while stepping, at a fraction of the cost.

With a :class:`~hw14_lib.rl.vector_env.HalfCheetahVectorEnv` of ``k > 1`` physics threads (and one PyTorch
thread, as training runs), the copies are split into ``k`` contiguous blocks, each stepped by its own Python
thread (:meth:`step_rows`): the physics of
one block runs without the GIL while another block's policy forward runs, so the Python work between physics
calls no longer leaves a core idle. The exploration noise is drawn up front in the order of the serial loop,
and a copy's trajectory does not depend on its block, so the batch is bitwise the serial one
(``tests/rl/test_perf_paths.py``).

The per-step forward bypasses ``functional_call`` and ``torch.distributions``, whose Python cost exceeds the
arithmetic of a small MLP, and the recorded ``log pi`` is evaluated once per rollout from the stored means; they
give the numbers of the plain per-step path, bitwise for one shared dict and to float32 rounding for the batched
per-task product (``tests/rl/test_perf_paths.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from hw14_lib.rl.envs import MAX_EPISODE_STEPS
from hw14_lib.rl.parallel import map_in_threads
from hw14_lib.rl.policy import GaussianMLPPolicy, has_plain_forward
from hw14_lib.rl.step_forward import Forward, policy_forward
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


@dataclass(frozen=True)
class _Steps:
    """The flat ``(T, M, ...)`` records of one sampling call (copy ``b * N + j`` runs task ``b``)."""

    observations: Tensor
    raw_actions: Tensor
    means: Tensor
    stds: Tensor
    rewards: Tensor

    @classmethod
    def empty(cls, horizon: int, m: int, obs_dim: int, act_dim: int) -> _Steps:
        actions = (horizon, m, act_dim)
        return cls(
            torch.empty(horizon, m, obs_dim),
            torch.empty(actions),
            torch.empty(actions),
            torch.empty(actions),
            torch.empty(horizon, m, dtype=torch.float64),
        )


def _roll_out(
    envs: gym.vector.VectorEnv,
    policy: GaussianMLPPolicy,
    forward: Forward,
    first_obs: np.ndarray,
    noise: Tensor | None,
    steps: _Steps,
    rows: slice,
    worker: int | None,
) -> None:
    """Steps ``1..T`` of the copies ``rows`` into ``steps``; ``worker`` None: the whole batch with ``envs.step``,
    else the block with ``envs.step_rows`` on that physics worker (a Python thread of its own)."""
    horizon = steps.rewards.shape[0]
    obs_t = torch.from_numpy(first_obs[rows])
    with torch.no_grad():  # thread-local: set in each thread
        for t in range(horizon):
            steps.observations[t, rows] = obs_t  # float64 -> float32 copy
            mean, std = forward(steps.observations[t, rows], rows)
            steps.means[t, rows] = mean
            steps.stds[t, rows] = std
            steps.raw_actions[t, rows] = mean if noise is None else mean + std * noise[t, rows]
            env_actions = policy.to_env_action(steps.raw_actions[t, rows]).numpy()
            if worker is None:
                next_obs, reward, terminated, truncated, _ = envs.step(env_actions)
            else:
                next_obs, reward, terminated, truncated, _ = envs.step_rows(rows, env_actions, worker=worker)
            if np.any(terminated) or (t < horizon - 1 and np.any(truncated)):
                raise ValueError(
                    f"an episode ended at step {t + 1} < horizon {horizon}; horizons above the "
                    f"environment's time limit ({MAX_EPISODE_STEPS}) are not supported"
                )
            steps.rewards[t, rows] = torch.from_numpy(np.asarray(reward, dtype=np.float64))
            obs_t = torch.from_numpy(next_obs)


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
    envs.set_attr("task", [task for task in tasks for _ in range(n)])
    first_obs, _ = envs.reset(seed=seed)
    steps = _Steps.empty(horizon, b * n, obs_dim, act_dim)
    # The noise does not depend on the states, so it is drawn up front, in the order (and shapes) the
    # per-step draws had: for each t, one block per parameter dict, as policy.sample draws it.
    noise = None if deterministic else _draw_noise(generator, horizon, b, n, act_dim, shared=shared)
    forward = policy_forward(policy, params, n)
    # functional_call (the generic forward) swaps the module's parameters, and with several PyTorch threads a
    # product is split over them by its row count: then one block, stepped by this thread.
    parallel = has_plain_forward(policy) and torch.get_num_threads() == 1
    blocks = _row_blocks(envs, b, n, shared=shared) if parallel else [slice(0, b * n)]
    if len(blocks) == 1:
        _roll_out(envs, policy, forward, first_obs, noise, steps, blocks[0], None)
    else:
        map_in_threads(
            lambda block: _roll_out(envs, policy, forward, first_obs, noise, steps, block[1], block[0]),
            list(enumerate(blocks)),
            workers=len(blocks),
        )
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


def _trajectory_batch(policy: GaussianMLPPolicy, steps: _Steps, tasks: Sequence[Task], n: int) -> TrajectoryBatch:
    """The records in the batch's ``(B, N, T, ...)`` layout, with ``log pi(u_t | s_t)`` evaluated once."""
    horizon, b = steps.rewards.shape[0], len(tasks)
    with torch.no_grad():
        # Elementwise, so equal to evaluating policy.log_prob step by step, in one call.
        gaussian = Independent(Normal(steps.means, steps.stds, validate_args=False), 1, validate_args=False)
        log_probs = policy.log_prob(gaussian, steps.raw_actions)

    def layout(x: Tensor) -> Tensor:  # (T, B * N, ...) -> (B, N, T, ...)
        x = x.view(horizon, b, n, *x.shape[2:])
        return x.permute(1, 2, 0, *range(3, x.dim())).contiguous()

    return TrajectoryBatch(
        observations=layout(steps.observations),
        raw_actions=layout(steps.raw_actions),
        rewards=layout(steps.rewards.to(torch.float32)),
        log_probs=layout(log_probs),
        tasks=tuple(tasks),
    )


def _draw_noise(generator: torch.Generator, horizon: int, b: int, n: int, act_dim: int, *, shared: bool) -> Tensor:
    """The exploration noise ``eps ~ N(0, I)`` of every step, ``(T, B * N, act_dim)``: for each ``t``, one
    ``(B, N, act_dim)`` draw for a shared parameter dict, else one ``(N, act_dim)`` draw per task, in task order."""
    noise = torch.empty(horizon, b, n, act_dim)
    for t in range(horizon):
        if shared:
            noise[t] = torch.randn((b, n, act_dim), generator=generator)
        else:
            for i in range(b):
                noise[t, i] = torch.randn((n, act_dim), generator=generator)
    return noise.view(horizon, b * n, act_dim)


ROW_GRANULE = 48
"""Rows between the cuts of a parameter dict's forward into blocks. A float32 matrix product works on panels of
rows (4 on this machine's CPUs, 6, 8 or 16 on others) and rounds the 1 to 3 rows left after the last full
panel differently; a cut at a multiple of every panel height gives each row the panel it has in the whole
batch's product, so the blocks' numbers are the serial ones bit for bit."""
MIN_BLOCK_ROWS = 16
"""Fewest copies a parallel block takes (a smaller one costs more in thread hand-offs than it saves)."""


def _row_blocks(envs: gym.vector.VectorEnv, b: int, n: int, *, shared: bool) -> list[slice]:
    """Contiguous blocks of the ``M = B * N`` copies, one per physics thread of ``envs``, each sampled by its own
    Python thread; one block (the whole batch, stepped with ``envs.step``) when ``envs`` has one thread or cannot
    step a block, or when the blocks would be smaller than :data:`MIN_BLOCK_ROWS`.

    The cuts keep every policy forward's numbers: with one shared parameter dict (one forward of all ``M`` rows
    in the serial loop) they fall on multiples of :data:`ROW_GRANULE`; with a dict per task (one forward per
    task) on task boundaries. Within that, blocks are as even as possible."""
    m = b * n
    workers = getattr(envs, "num_threads", 1)
    unit = ROW_GRANULE if shared else n
    if workers < 2 or not hasattr(envs, "step_rows"):
        return [slice(0, m)]
    cuts = {unit * round(k * m / workers / unit) for k in range(1, workers)}
    bounds = sorted({0, m, *(c for c in cuts if 0 < c < m)})
    blocks = [slice(lo, hi) for lo, hi in itertools.pairwise(bounds)]
    if len(blocks) < 2 or min(block.stop - block.start for block in blocks) < MIN_BLOCK_ROWS:
        return [slice(0, m)]
    return blocks
