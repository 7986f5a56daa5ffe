"""How the copies of a sampling call are stepped: the per-step loop over one block of copies, where the blocks are
cut, and the blocks run in this process (serially or one Python thread each) or in worker processes.

:func:`roll_out` fills a call's records (:class:`Steps`, ``(T, M, ...)``) from the reset states, the noise drawn
up front and the policy's parameters. With a :class:`~hw14_lib.rl.vector_env.HalfCheetahVectorEnv` of ``k > 1``
physics threads (and one PyTorch thread, as training runs) the copies are split into ``k`` contiguous blocks
(:func:`row_blocks`), each stepped by its own Python thread (:meth:`step_rows`): the physics of one block runs
without the GIL while another block's policy forward runs. With a :class:`~hw14_lib.rl.workers.ProcessVectorEnv`
each block is rolled out whole by one worker process (:func:`roll_out_block`), on a replica of the environment
reset with the same seeds, into shared memory, so no block's Python work waits on another's. A copy's trajectory
does not depend on its block, its thread or its process, so the records are the serial loop's bit for bit
(``tests/rl/test_parallel.py``, ``tests/rl/test_workers.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from hw14_lib.rl.envs import MAX_EPISODE_STEPS
from hw14_lib.rl.parallel import map_in_threads
from hw14_lib.rl.policy import GaussianMLPPolicy, has_plain_forward
from hw14_lib.rl.step_forward import Forward, policy_forward
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.workers import ProcessVectorEnv

Allocate = Callable[[str, tuple[int, ...], torch.dtype], Tensor]
"""``(name, shape, dtype) -> an uninitialised tensor``: where a sampling call's records go."""


def new_tensor(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A new uninitialised tensor (the :data:`Allocate` of the in-process sampler)."""
    return torch.empty(shape, dtype=dtype)


@dataclass(frozen=True)
class Steps:
    """The flat ``(T, M, ...)`` records of one sampling call (copy ``b * N + j`` runs task ``b``): the observations
    ``s_t``, the pre-squash actions ``u_t``, the means and standard deviations they were drawn from, and the
    rewards (float64, as the environment gives them)."""

    observations: Tensor
    raw_actions: Tensor
    means: Tensor
    stds: Tensor
    rewards: Tensor

    @classmethod
    def empty(cls, horizon: int, m: int, obs_dim: int, act_dim: int, allocate: Allocate = new_tensor) -> Steps:
        """Records for ``horizon`` steps of ``m`` copies, from ``allocate``."""
        actions = (horizon, m, act_dim)
        return cls(
            allocate("observations", (horizon, m, obs_dim), torch.float32),
            allocate("raw_actions", actions, torch.float32),
            allocate("means", actions, torch.float32),
            allocate("stds", actions, torch.float32),
            allocate("rewards", (horizon, m), torch.float64),
        )


@dataclass(frozen=True)
class Copies:
    """What a sampling call rolls out, besides the environment and the policy: the copies' tasks (``n`` per task, copy
    ``b * n + j`` running task ``b``), the environments' reset seed, the exploration noise ``(T, M, act_dim)`` (None:
    the mean action) and the records to fill."""

    tasks: list[Task]
    seed: int
    noise: Tensor | None
    steps: Steps
    n: int


def roll_out(
    envs: gym.vector.VectorEnv,
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
    copies: Copies,
) -> None:
    """Steps ``1..T`` of every copy into ``copies.steps``: ``envs`` reset with ``copies.seed``, actions
    ``mu + sigma * noise`` under ``params`` (one dict, or one per task); in worker processes for a
    :class:`ProcessVectorEnv`, else here."""
    # functional_call (the generic forward) swaps the module's parameters, and with several PyTorch threads a
    # product is split over them by its row count: then one block, stepped by one thread (or one worker).
    parallel = has_plain_forward(policy) and torch.get_num_threads() == 1
    m, n = len(copies.tasks), copies.n
    blocks = row_blocks(envs, m // n, n, shared=isinstance(params, Mapping)) if parallel else [slice(0, m)]
    if isinstance(envs, ProcessVectorEnv):
        _roll_out_in_processes(envs, policy, params, copies, blocks)
        return
    first_obs, _ = envs.reset(seed=copies.seed)
    forward = policy_forward(policy, params, n)
    noise, steps = copies.noise, copies.steps
    if len(blocks) == 1:
        _roll_out_rows(envs, policy, forward, first_obs, noise, steps, blocks[0], None)
    else:
        map_in_threads(
            lambda block: _roll_out_rows(envs, policy, forward, first_obs, noise, steps, block[1], block[0]),
            list(enumerate(blocks)),
            workers=len(blocks),
        )


def _roll_out_rows(
    envs: gym.vector.VectorEnv,
    policy: GaussianMLPPolicy,
    forward: Forward,
    first_obs: np.ndarray,
    noise: Tensor | None,
    steps: Steps,
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


@dataclass(frozen=True)
class _BlockRequest:
    """What a worker process needs to roll out its block ``rows`` (:func:`roll_out_block`); ``copies``' noise and
    records live in shared memory, the parameters travel as NumPy arrays (copied, so this process's tensors stay as
    they are)."""

    architecture: dict[str, Any]
    params: dict[str, np.ndarray] | list[dict[str, np.ndarray]]
    copies: Copies
    rows: slice
    torch_threads: int


def _roll_out_in_processes(
    envs: ProcessVectorEnv,
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
    copies: Copies,
    blocks: list[slice],
) -> None:
    """Every copy's steps into ``copies.steps``, each of ``blocks`` rolled out whole by one of ``envs``' worker
    processes (on a replica reset with the same seeds, with this process's PyTorch thread count); the same records
    as in this process."""
    if not has_plain_forward(policy):
        raise ValueError(
            f"worker processes sample a plain GaussianMLPPolicy (Linear/Tanh body) only, not {type(policy).__name__}"
        )
    arrays = _as_arrays(params) if isinstance(params, Mapping) else [_as_arrays(p) for p in params]
    threads = torch.get_num_threads()
    requests: list[tuple[_BlockRequest | None]] = [
        (_BlockRequest(policy.architecture(), arrays, copies, rows, threads),) for rows in blocks
    ]
    envs.map_blocks(roll_out_block, requests + [(None,)] * (envs.num_threads - len(blocks)))


def _as_arrays(params: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
    return {name: value.detach().numpy() for name, value in params.items()}


def roll_out_block(envs: gym.vector.VectorEnv, request: _BlockRequest | None) -> None:
    """In a worker process: reset the replica ``envs`` as the sampler resets the whole batch (every copy, so that each
    has its seed's start state; resetting is a small part of a call) and roll out the block ``request.rows`` into
    ``request.steps`` (nothing for ``None``, a worker without a block). The policy module is rebuilt from its
    architecture for its forward's structure only; the parameters are the request's."""
    if request is None:
        return
    torch.set_num_threads(request.torch_threads)
    policy = GaussianMLPPolicy(**request.architecture)
    if isinstance(request.params, dict):
        params: Mapping[str, Tensor] | list[dict[str, Tensor]] = _as_tensors(request.params)
    else:
        params = [_as_tensors(p) for p in request.params]
    copies = request.copies
    envs.set_attr("task", copies.tasks)
    first_obs, _ = envs.reset(seed=copies.seed)
    forward = policy_forward(policy, params, copies.n)
    _roll_out_rows(envs, policy, forward, first_obs, copies.noise, copies.steps, request.rows, 0)


def _as_tensors(arrays: dict[str, np.ndarray]) -> dict[str, Tensor]:
    return {name: torch.from_numpy(value) for name, value in arrays.items()}


ROW_GRANULE = 48
"""Rows between the cuts of a parameter dict's forward into blocks. A float32 matrix product works on panels of
rows (4 on this machine's CPUs, 6, 8 or 16 on others) and rounds the 1 to 3 rows left after the last full
panel differently; a cut at a multiple of every panel height gives each row the panel it has in the whole
batch's product, so the blocks' numbers are the serial ones bit for bit."""
MIN_BLOCK_ROWS = 16
"""Fewest copies a parallel block takes (a smaller one costs more in thread hand-offs than it saves)."""


def row_blocks(envs: gym.vector.VectorEnv, b: int, n: int, *, shared: bool) -> list[slice]:
    """Contiguous blocks of the ``M = B * N`` copies, one per physics thread (or worker process) of ``envs``, each
    sampled by its own Python thread (or process); one block (the whole batch, stepped with ``envs.step``) when
    ``envs`` has one thread or cannot step a block, or when the blocks would be smaller than :data:`MIN_BLOCK_ROWS`.

    The cuts keep every policy forward's numbers: with one shared parameter dict (one forward of all ``M`` rows
    in the serial loop) they fall on multiples of :data:`ROW_GRANULE`; with a dict per task (one forward per
    task) on task boundaries. Within that, blocks are as even as possible."""
    m = b * n
    workers = getattr(envs, "num_threads", 1)
    unit = ROW_GRANULE if shared else n
    if workers < 2 or not (hasattr(envs, "step_rows") or isinstance(envs, ProcessVectorEnv)):
        return [slice(0, m)]
    cuts = {unit * round(k * m / workers / unit) for k in range(1, workers)}
    bounds = sorted({0, m, *(c for c in cuts if 0 < c < m)})
    blocks = [slice(lo, hi) for lo, hi in itertools.pairwise(bounds)]
    if len(blocks) < 2 or min(block.stop - block.start for block in blocks) < MIN_BLOCK_ROWS:
        return [slice(0, m)]
    return blocks
