"""The sampler's worker processes (:mod:`hw14_lib.rl.workers`): the same records as the in-process sampler, bit
for bit; a worker's exception raised as it is; a killed worker reported in one line; a training run whose worker is
killed stops with one line and resumes from its checkpoint to an uninterrupted run's metrics."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from torch import Tensor

from hw14_lib.cli import main
from hw14_lib.rl.blocks import row_blocks
from hw14_lib.rl.make_env import make_task_vector_env
from hw14_lib.rl.policy import policy_params
from hw14_lib.rl.sampling import TrajectoryBatch, sample_trajectories
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.workers import ProcessVectorEnv, WorkerDied
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.run_folder import METRICS

from conftest import REPO, comparable, train_argv
from helpers import tiny_policy

pytestmark = pytest.mark.slow  # each environment starts two Python processes

B, N, T = 4, 24, 10
"""96 copies: two blocks of 48 for one shared parameter dict (cut at a multiple of 48) and for one dict per task
(cut at a task boundary)."""
TASKS = [Task.backward(), Task("velocity", goal_velocity=1.0), Task("direction", direction=1.0), Task.backward()]


@pytest.fixture(scope="module", params=["gymnasium", "paper"])
def envs(request: pytest.FixtureRequest) -> Iterator[tuple[str, ProcessVectorEnv, gym.vector.VectorEnv]]:
    """The environment ``request.param`` with two worker processes, beside the same with two threads."""
    copies = [TASKS[0]] * (B * N)
    processes = make_task_vector_env(copies, num_threads=2, env=request.param, processes=True)
    threads = make_task_vector_env(copies, num_threads=2, env=request.param)
    yield request.param, processes, threads
    processes.close()
    threads.close()


def sample(policy, params, envs, *, deterministic: bool = False, seed: int = 3) -> TrajectoryBatch:
    generator = torch.Generator().manual_seed(seed)
    return sample_trajectories(
        policy, params, envs, TASKS, num_trajectories=N, horizon=T, generator=generator, seed=seed,
        deterministic=deterministic,
    )  # fmt: skip


def records(batch: TrajectoryBatch) -> dict[str, Tensor]:
    return {"observations": batch.observations, "raw_actions": batch.raw_actions, "rewards": batch.rewards,
            "log_probs": batch.log_probs}  # fmt: skip


@pytest.mark.parametrize("shared", [True, False], ids=["one dict", "a dict per task"])
@pytest.mark.parametrize("deterministic", [False, True], ids=["sampled", "mean action"])
def test_worker_processes_give_the_in_process_records_bit_for_bit(envs, shared: bool, deterministic: bool) -> None:
    env, processes, threads = envs
    torch.set_num_threads(1)  # as training runs: the in-process sampler's blocks need it
    policy = tiny_policy(obs_dim=processes.single_observation_space.shape[0], act_dim=6, hidden_sizes=(16, 8),
                         double=False)  # fmt: skip
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    params = theta if shared else [{k: v + 0.05 * i for k, v in theta.items()} for i in range(B)]
    assert len(row_blocks(processes, B, N, shared=shared)) == 2, "the case must split the copies over both workers"
    by_processes = records(sample(policy, params, processes, deterministic=deterministic))
    by_threads = records(sample(policy, params, threads, deterministic=deterministic))
    for name, value in by_threads.items():
        assert torch.equal(by_processes[name], value), f"{env}: {name} differ"
    # The shared records are reused by the next call: the batch returned before must not change with it.
    again = records(sample(policy, params, processes, deterministic=deterministic, seed=4))
    assert not torch.equal(again["observations"], by_processes["observations"])
    assert torch.equal(by_processes["observations"], by_threads["observations"])


def test_with_several_pytorch_threads_one_worker_samples_as_this_process_does(envs) -> None:
    """The in-process sampler then steps one block (its products split over the threads round differently); the
    workers follow: one block, in a worker with this process's PyTorch thread count."""
    _, processes, threads = envs
    policy = tiny_policy(obs_dim=processes.single_observation_space.shape[0], act_dim=6, hidden_sizes=(64, 64),
                         double=False)  # fmt: skip
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    calls = []
    real = processes.map_blocks

    def spy(function, arguments):
        calls.append(arguments)
        return real(function, arguments)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    processes.map_blocks = spy
    try:
        by_processes, by_threads = records(sample(policy, theta, processes)), records(sample(policy, theta, threads))
    finally:
        torch.set_num_threads(before)
        del processes.map_blocks
    for name, value in by_threads.items():
        assert torch.equal(by_processes[name], value), name
    (requests,) = calls
    assert requests[1] == (None,) and requests[0][0].rows == slice(0, B * N) and requests[0][0].torch_threads == 2


def test_worker_processes_step_and_reset_the_whole_batch_as_the_environment_does(envs) -> None:
    _, processes, threads = envs
    actions = torch.linspace(-1.5, 1.5, B * N * 6).view(B * N, 6).numpy()
    first, _ = processes.reset(seed=7)
    assert (first == threads.reset(seed=7)[0]).all()
    for _ in range(3):
        ours, theirs = processes.step(actions), threads.step(actions)
        for a, b in zip(ours[:4], theirs[:4], strict=True):
            assert (a == b).all()


def failing(env: gym.vector.VectorEnv, value: int) -> int:
    """Run in a worker: raise with ``value`` in the message (or return it, for 0)."""
    if value:
        raise ValueError(f"worker refused {value}")
    return value


class Unpicklable(Exception):
    def __init__(self, code: int, why: str):  # not the message alone: it does not survive pickling
        super().__init__(f"{why} ({code})")


def raising_unpicklable(env: gym.vector.VectorEnv, value: int) -> None:
    raise Unpicklable(value, "a custom error")


def exiting(env: gym.vector.VectorEnv, code: int) -> None:
    if code:
        os._exit(code)


def failing_builder(tasks: list[Task], *, num_threads: int) -> gym.vector.VectorEnv:
    """Builds the environment here, fails in a worker (``num_threads=1``)."""
    if num_threads == 1:
        raise ValueError("no physics in this worker")
    return make_task_vector_env(tasks, num_threads=num_threads)


def test_an_exception_in_a_worker_is_raised_as_it_is_after_every_worker_replied() -> None:
    envs = make_task_vector_env([Task.backward()] * 4, num_threads=2, processes=True)
    try:
        with pytest.raises(ValueError, match="worker refused 5"):
            envs.map_blocks(failing, [(0,), (5,)])
        assert envs.map_blocks(failing, [(0,), (0,)]) == [0, 0]  # the workers still answer, in step
    finally:
        envs.close()


def test_an_exception_that_cannot_be_pickled_arrives_as_its_type_and_message_with_the_worker_traceback() -> None:
    envs = make_task_vector_env([Task.backward()] * 4, num_threads=2, processes=True)
    try:
        with pytest.raises(RuntimeError, match=r"Unpicklable: a custom error \(7\)") as raised:
            envs.map_blocks(raising_unpicklable, [(7,), (7,)])
        assert any("raising_unpicklable" in note for note in raised.value.__notes__)
    finally:
        envs.close()


def test_a_call_that_does_not_finish_stops_the_workers_so_no_stale_reply_is_read_later() -> None:
    """An argument for worker 1 that cannot be pickled fails after worker 0 got its call: its reply must never be
    read as the next call's."""
    envs = make_task_vector_env([Task.backward()] * 4, num_threads=2, processes=True)
    pids = envs.pids
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        envs.map_blocks(failing, [(0,), (lambda: 0,)])
    with pytest.raises(RuntimeError, match="were stopped"):
        envs.map_blocks(failing, [(0,), (0,)])
    envs.close()
    assert_reaped(pids)


def test_a_worker_that_exits_is_named_with_its_exit_code() -> None:
    envs = make_task_vector_env([Task.backward()] * 4, num_threads=2, processes=True)
    with pytest.raises(WorkerDied, match=r"sampling worker 1 \(pid \d+\) exited with code 3 while running exiting"):
        envs.map_blocks(exiting, [(0,), (3,)])
    envs.close()


def test_a_builder_that_fails_in_a_worker_raises_its_error_and_leaves_no_process() -> None:
    before = set(multiprocessing.active_children())
    with pytest.raises(ValueError, match="no physics in this worker"):
        ProcessVectorEnv(failing_builder, [Task.backward()] * 4, workers=2)
    assert set(multiprocessing.active_children()) <= before


def assert_reaped(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_killed_worker_ends_the_call_with_one_line_and_stops_the_others() -> None:
    envs = make_task_vector_env([Task.backward()] * 4, num_threads=2, processes=True)
    pids = envs.pids
    os.kill(pids[1], signal.SIGKILL)
    with pytest.raises(WorkerDied) as died:
        envs.map_blocks(failing, [(0,), (0,)])
    message = str(died.value)
    assert "\n" not in message and f"sampling worker 1 (pid {pids[1]}) was killed by signal 9 (SIGKILL" in message
    with pytest.raises(RuntimeError, match="were stopped"):
        envs.map_blocks(failing, [(0,), (0,)])
    envs.close()
    assert_reaped(pids)


def test_worker_processes_need_the_mujoco_backend() -> None:
    with pytest.raises(ValueError, match="sampler"):
        TrainConfig(sampler="processes", backend="gymnasium")
    with pytest.raises(ValueError, match="'mujoco' backend"):
        make_task_vector_env([Task.backward()], backend="gymnasium", processes=True)


KILL_WORKER_AT = """
import os, signal, sys
from hw14_lib.rl.workers import ProcessVectorEnv
n, calls, real = int(sys.argv[1]), [], ProcessVectorEnv.map_blocks
def killing(self, function, arguments):
    calls.append(1)
    if len(calls) == n:
        os.kill(self.pids[0], signal.SIGKILL)
    return real(self, function, arguments)
ProcessVectorEnv.map_blocks = killing
from hw14_lib.cli import main
sys.exit(main(sys.argv[2:]))
"""
"""Runs the CLI with the first worker killed (SIGKILL, from outside) as the ``n``-th sampling call begins."""


@pytest.mark.parametrize("n", [1, 6], ids=["first sampling", "third iteration"])
def test_a_run_whose_worker_is_killed_stops_with_one_line_and_resumes_to_the_same_metrics(
    n: int, reference, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    processes = ("--set", "sampler=processes", "--set", "physics_threads=2")
    killed = subprocess.run(
        [sys.executable, "-c", KILL_WORKER_AT, str(n), *train_argv(out, *processes)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = killed.stderr.strip().splitlines()
    assert killed.returncode == 1 and len(lines) == 1, killed.stderr
    iteration = (n - 1) // 2  # two sampling calls (support, query) per iteration
    assert lines[0].startswith("error: sampling worker 0") and "SIGKILL" in lines[0], lines[0]
    assert f"the checkpoint of iteration {iteration} is saved" in lines[0] and "--resume" in lines[0], lines[0]
    assert main(train_argv(out, "--resume", *processes)) == 0
    assert comparable(out / METRICS) == reference[1]
