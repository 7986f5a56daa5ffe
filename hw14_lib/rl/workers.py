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
import traceback
import weakref
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
        Exception: what the builder raised in a worker (nothing is left running then).

    The workers stop with :meth:`close`, or when the environment is garbage-collected. A call that does not finish
    (Ctrl-C, an argument that cannot be pickled, a worker that dies) stops them too, so that no reply of an
    unfinished call is ever read as the next call's: the next call then says so.
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
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._connections: list[Connection] = []
        self._stop = weakref.finalize(self, _stop_workers, self._connections, self._processes)
        try:
            self._start(builder, list(tasks), workers)
            _, error = self._receive_all("starting")
            if error is not None:
                raise error
        except BaseException:
            self._stop()
            self.env.close()
            raise

    def _start(self, builder: EnvBuilder, tasks: list[Task], workers: int) -> None:
        """Spawn the workers, with Ctrl-C blocked until each has set its own handling (a fresh interpreter takes
        seconds to import PyTorch and MuJoCo; the signal mask is inherited)."""
        context = multiprocessing.get_context("spawn")
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for i in range(workers):
                mine, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs, builder, tasks), name=f"hw14-sampler-{i}")
                process.daemon = True
                self._connections.append(mine)
                process.start()
                self._processes.append(process)
                theirs.close()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

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
            RuntimeError: the workers were stopped (closed, or an earlier call did not finish).
            ValueError: not one argument tuple per worker.
            WorkerDied: a worker ended during the call (the others are then stopped).
            Exception: the first exception a worker raised, after every worker has replied (the workers stay).
        """
        if not self._connections:
            raise RuntimeError(
                "the sampling workers were stopped (closed, or an earlier call did not finish); "
                "build the environment again"
            )
        if len(arguments) != len(self._connections):
            raise ValueError(f"got {len(arguments)} argument tuples for {len(self._connections)} workers")
        doing = f"running {getattr(function, '__name__', 'a call')}"
        try:
            for i, (connection, args) in enumerate(zip(self._connections, arguments, strict=True)):
                try:
                    connection.send((function, tuple(args)))
                except OSError:  # its end of the pipe is closed: it has died
                    self._died(i, doing)
            results, error = self._receive_all(doing)
        except BaseException:  # the workers may still be busy with this call: never read its replies as the next's
            self._stop()
            raise
        if error is not None:
            raise error
        return results

    def _receive_all(self, doing: str) -> tuple[list[Any], BaseException | None]:
        """Every worker's reply, in worker order, and the first exception a worker raised (or None); raises
        :class:`WorkerDied` when a worker ends first."""
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
        return results, error

    def _died(self, i: int, doing: str) -> NoReturn:
        """Stop every worker and raise :class:`WorkerDied` for worker ``i``, which has ended."""
        process = self._processes[i]
        process.join(STOP_SECONDS)
        pid, ending = process.pid, _ending(process.exitcode)
        self._stop()
        raise WorkerDied(f"sampling worker {i} (pid {pid}) {ending} while {doing}") from None

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


def _stop_workers(connections: list[Connection], processes: list[multiprocessing.process.BaseProcess]) -> None:
    """Ask every worker to exit, terminate any that does not within :data:`STOP_SECONDS`, and empty both lists."""
    for connection in connections:
        try:
            connection.send(None)
        except (OSError, ValueError):  # a dead worker's pipe
            pass
    for process in processes:
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.terminate()
            process.join()
    for connection in connections:
        connection.close()
    connections.clear()
    processes.clear()


def _ending(exitcode: int | None) -> str:
    """How a process ended, in words."""
    if exitcode is None:
        return "stopped answering"
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:  # a signal without a name (a real-time one)
        return f"was killed by signal {-exitcode}"
    hint = ": killed from outside, or by the system for want of memory" if name == "SIGKILL" else ""
    return f"was killed by signal {-exitcode} ({name}{hint})"


def _serve(connection: Connection, builder: EnvBuilder, tasks: list[Task]) -> None:
    """A worker's loop: build the replica, then run each ``(function, args)`` received on it until ``None``.

    Ctrl-C reaches the whole process group; the parent handles it (and stops the workers), so workers ignore it
    (it arrives blocked, :meth:`ProcessVectorEnv._start`).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    torch.set_num_threads(1)
    try:
        env = builder(tasks, num_threads=1)
    except Exception as exc:
        _reply(connection, ("error", _portable(exc)))
        return
    if not _reply(connection, ("ok", None)):
        return
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            env.close()
            return
        function, args = message
        try:
            reply = ("ok", function(env, *args))
        except Exception as exc:
            reply = ("error", _portable(exc))
        if not _reply(connection, reply):
            return


def _reply(connection: Connection, reply: tuple[str, Any]) -> bool:
    """Send ``reply`` (an unpicklable result is sent as a ``RuntimeError``); False when the parent is gone."""
    try:
        connection.send(reply)
    except OSError:
        return False
    except Exception as exc:  # pickling the result failed
        try:
            connection.send(("error", _portable(exc)))
        except OSError:
            return False
    return True


def _portable(exc: Exception) -> Exception:
    """``exc`` with the worker's traceback as a note, if it survives pickling (the parent raises it as it is), else a
    ``RuntimeError`` with its type, message and traceback (an exception whose constructor takes other arguments than
    its message does not survive)."""
    where = "in the sampling worker:\n" + traceback.format_exc()
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        exc = RuntimeError(f"{type(exc).__name__}: {exc}")
    exc.add_note(where)
    return exc
