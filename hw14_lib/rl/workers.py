"""Worker processes for the sampler: each holds a replica of the vector environment and rolls out one block of its
copies whole, so that no block's Python work waits on another block's GIL.

:class:`ProcessVectorEnv` starts ``k`` processes once, when it is built (``spawn``: a fresh interpreter each, never
a fork of a process whose threads may hold locks); a sampling call sends each worker one message, the function to
run on its replica and its arguments (its block of rows, the tasks, the parameters; the records go into shared
memory), and waits for the ``k`` replies. A copy's trajectory depends only on its task, its reset seed, its noise and
the policy's parameters, not on the process that steps it, so the records are the in-process sampler's bit for bit
(``tests/rl/test_workers.py``). Stepping and resetting the whole batch (:meth:`ProcessVectorEnv.step`) stays in this
process, on the environment the workers replicate.

A worker that dies (killed, out of memory) ends the call with :class:`WorkerDied`, one line that names it and how
it ended; the other workers are stopped, and a training run stops there and resumes from its last checkpoint.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, NoReturn

import gymnasium as gym
import torch
from torch import Tensor

from hw14_lib.rl.tasks import Task

EnvBuilder = Callable[..., gym.vector.VectorEnv]
"""``builder(tasks, num_threads=k)``: the vector environment every process holds (a picklable callable, e.g. a
``functools.partial`` of :func:`~hw14_lib.rl.make_env.make_task_vector_env`)."""
STOP_SECONDS = 5.0
"""How long :meth:`ProcessVectorEnv.close` waits for a worker to exit before terminating it."""


class WorkerDied(ChildProcessError):
    """A worker process ended while this process waited on it."""


class ProcessVectorEnv(gym.vector.VectorEnv):
    """``builder(tasks, num_threads=workers)``, stepped here as before, with ``workers`` processes that each hold
    ``builder(tasks, num_threads=1)`` for :meth:`map_blocks`.

    Args:
        builder: makes the environment (see :data:`EnvBuilder`).
        tasks: one task per copy, M = ``len(tasks)``.
        workers: processes (and the sampler's blocks of copies), at least 1.

    Raises:
        ValueError: ``workers < 1``.
        WorkerDied: a process ended before it was ready.
    """

    def __init__(self, builder: EnvBuilder, tasks: Sequence[Task], *, workers: int):
        if workers < 1:
            raise ValueError(f"workers={workers!r}; allowed: an integer >= 1")
        self.env = builder(list(tasks), num_threads=workers)
        self.num_envs = self.env.num_envs
        self.num_threads = workers
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.metadata = self.env.metadata
        self._shared: dict[str, Tensor] = {}
        context = multiprocessing.get_context("spawn")
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._connections: list[Connection] = []
        for i in range(workers):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_serve, args=(theirs, builder, list(tasks)), name=f"hw14-sampler-{i}", daemon=True
            )
            process.start()
            theirs.close()
            self._processes.append(process)
            self._connections.append(mine)
        try:
            self._receive_all("starting")
        except BaseException:
            self._stop()
            raise

    def shared_tensor(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        """An uninitialised tensor in shared memory, kept for the next call with the same ``name`` (reused while the
        shape and dtype stay the same), so that every sampling call does not allocate and share its records anew."""
        kept = self._shared.get(name)
        if kept is None or kept.shape != shape or kept.dtype != dtype:
            kept = self._shared[name] = torch.empty(shape, dtype=dtype).share_memory_()
        return kept

    @property
    def pids(self) -> list[int]:
        """The workers' process ids, in block order."""
        return [int(p.pid) for p in self._processes if p.pid is not None]

    def map_blocks(self, function: Callable[..., Any], arguments: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``[function(replica_i, *arguments[i]) for each worker i]``, the workers in parallel.

        ``function`` must be importable by name (a module-level function); arguments go by pickle, and tensors in
        shared memory (``share_memory_()``) arrive as views of the same memory.

        Raises:
            ValueError: not one argument tuple per worker.
            WorkerDied: a worker ended during the call (the others are then stopped).
            Exception: the first exception a worker raised, after every worker has replied.
        """
        if not self._connections:
            raise RuntimeError("map_blocks() called on a closed ProcessVectorEnv")
        if len(arguments) != len(self._connections):
            raise ValueError(f"got {len(arguments)} argument tuples for {len(self._connections)} workers")
        doing = getattr(function, "__name__", "a call")
        for i, (connection, args) in enumerate(zip(self._connections, arguments, strict=True)):
            try:
                connection.send((function, tuple(args)))
            except OSError:  # its end of the pipe is closed: it has died
                self._died(i, doing)
        return self._receive_all(doing)

    def _receive_all(self, doing: str) -> list[Any]:
        """Every worker's reply, in worker order; raises :class:`WorkerDied` or the first worker's exception."""
        results: list[Any] = [None] * len(self._connections)
        error: BaseException | None = None
        for i, (connection, process) in enumerate(zip(self._connections, self._processes, strict=True)):
            ready = wait([connection, process.sentinel])
            try:
                if connection not in ready:
                    raise EOFError
                status, value = connection.recv()
            except (EOFError, OSError):
                self._died(i, doing)
            if status == "error" and error is None:
                error = value
            results[i] = value
        if error is not None:
            raise error
        return results

    def _died(self, i: int, doing: str) -> NoReturn:
        """Stop every worker and raise :class:`WorkerDied` for worker ``i``, which has ended."""
        process = self._processes[i]
        process.join(STOP_SECONDS)
        self._stop()
        raise WorkerDied(f"sampling worker {i} (pid {process.pid}) {_ending(process.exitcode)} while {doing}") from None

    # -- the environment, stepped in this process ------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """The environment's own reset."""
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Any) -> tuple[Any, ...]:
        """The environment's own step (all copies, in this process)."""
        return self.env.step(actions)

    def set_attr(self, name: str, values: Any) -> None:
        """The environment's own ``set_attr`` (the workers take their tasks with each call)."""
        self.env.set_attr(name, values)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """The environment's own ``get_attr``."""
        return self.env.get_attr(name)

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the workers, then close the environment."""
        self._stop()
        self.env.close()

    def _stop(self) -> None:
        for connection in self._connections:
            try:
                connection.send(None)
            except (OSError, ValueError):  # a dead worker's pipe
                pass
        for process in self._processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.terminate()
                process.join()
        for connection in self._connections:
            connection.close()
        self._connections, self._processes = [], []


def _ending(exitcode: int | None) -> str:
    """How a process ended, in words."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        return f"was killed by signal {-exitcode} ({signal.Signals(-exitcode).name})"
    return f"exited with code {exitcode}"


def _serve(connection: Connection, builder: EnvBuilder, tasks: list[Task]) -> None:
    """A worker's loop: build the replica, then run each ``(function, args)`` received on it until ``None``.

    Ctrl-C reaches the whole process group; the parent handles it (and stops the workers), so workers ignore it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    try:
        env = builder(tasks, num_threads=1)
    except Exception as exc:
        connection.send(("error", _portable(exc)))
        return
    connection.send(("ok", None))
    while True:
        try:
            message = connection.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            env.close()
            return
        function, args = message
        try:
            reply = ("ok", function(env, *args))
        except Exception as exc:
            reply = ("error", _portable(exc))
        try:
            connection.send(reply)
        except Exception as exc:  # an unpicklable result
            connection.send(("error", _portable(exc)))


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling (the parent raises it as it is), else a ``RuntimeError`` with its type and
    message (an exception whose constructor takes other arguments than its message does not)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
