"""The experiment grid on a Ray cluster: each experiment one Ray task, resumable and fault tolerant.

``python -m hw14_lib results ray ADDRESS`` connects to an existing cluster (it starts no Ray service of its own)
and submits every unfinished experiment as a task that asks for as many CPUs as it has physics threads. A task
trains into ``STORAGE/<name>/`` with the same run-folder code as the local path (:func:`run_configured`), so a
finished folder cannot be told apart from a local one; ``STORAGE`` (``--storage``, default ``--root``) must be a
path every node reaches, and finished folders are copied to ``--root`` when it is another one.

Fault tolerance comes from the run folders, not from Ray's object store: every meta-iteration is checkpointed
atomically, so a task whose worker dies is retried by Ray (on any node) and resumes from the last checkpoint, and a
new driver after a killed one skips finished experiments and resumes the others; either way the metrics equal an
uninterrupted run's (the local crash-safety guarantee). The driver follows the tasks through the shared folders:
one line when an experiment starts, at each tenth of its iterations, and when it finishes.

Ray is imported inside these functions only: ``import hw14_lib`` never imports it, and nothing but the
``results ray`` needs it (``requirements-cluster.txt``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw14_lib.run.config import TrainConfig
from hw14_lib.run.folder_lock import LOCK_NAME, FolderInUseError
from hw14_lib.run.run_folder import CONFIG, METRICS, is_finished
from hw14_lib.study.experiment_runs import run_configured
from hw14_lib.study.experiments import Experiment

TASK_RETRIES = 3
"""Times Ray re-runs a task whose worker process died (each run resumes from the last checkpoint)."""
LOCK_WAIT_S = 120.0
"""How long a task waits for a folder that a dying worker (of a killed driver) still holds."""
LOOPBACK_ENV: dict[str, str] = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
"""With these, every process of a Ray cluster started on Linux with ``--node-ip-address=127.0.0.1`` binds to the
loopback interface (without the first, Ray replaces the address by the machine's outward one)."""


class ClusterError(RuntimeError):
    """A cluster problem found before anything started: unreachable address, no Ray, unwritable storage."""


@dataclass(frozen=True)
class GridTask:
    """One experiment as a Ray task receives it: its configuration and absolute output folder (a worker's working
    directory need not be the driver's, so no relative path crosses)."""

    name: str
    config: dict[str, Any]
    out: str
    train: bool


def check_address(address: str, *, timeout: float = 3.0) -> None:
    """Fail fast, before ``ray.init`` (which retries for a minute), when ``address`` cannot be a running cluster.

    ``"auto"`` needs ``RAY_ADDRESS`` or the address file that ``ray start`` leaves on this machine; ``HOST:PORT``
    must accept a TCP connection within ``timeout`` seconds.

    Raises:
        ClusterError: with one line saying what was tried.
    """
    if address == "auto":
        if os.environ.get("RAY_ADDRESS"):
            return check_address(os.environ["RAY_ADDRESS"], timeout=timeout)
        if not Path("/tmp/ray/ray_current_cluster").is_file():
            raise ClusterError(
                "results ray auto: no Ray cluster runs on this machine (start one with `ray start --head`)"
            )
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"results ray {address!r}: expected HOST:PORT (the head's GCS address) or 'auto'")
    try:
        connection = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as exc:
        raise ClusterError(f"results ray {address}: cannot reach a Ray cluster there ({exc.strerror or exc})") from None
    with connection:  # any listener accepts the connection; only a gRPC server answers HTTP/2's preface
        reply = b""
        try:
            connection.sendall(HTTP2_PREFACE)
            while len(reply) < 9:  # TCP may deliver the frame header in pieces
                chunk = connection.recv(9 - len(reply))
                if not chunk:
                    break
                reply += chunk
        except OSError:
            pass
    if len(reply) < 9 or reply[3] != HTTP2_SETTINGS:
        raise ClusterError(
            f"results ray {address}: something listens there, but not a Ray cluster "
            f"(no gRPC reply within {timeout:g} s)"
        )
    return None


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
"""HTTP/2's client preface and an empty SETTINGS frame: a Ray head's GCS (a gRPC server) answers with its own
SETTINGS frame, which a listener of another kind does not send."""
HTTP2_SETTINGS = 4


def check_storage(storage: Path) -> None:
    """``storage`` exists or can be made, and a file can be written there.

    Raises:
        ClusterError: naming the folder and the operating system's reason.
    """
    try:
        storage.mkdir(parents=True, exist_ok=True)
        probe = storage / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ClusterError(f"--storage {storage}: not writable ({exc.strerror or exc})") from None


def grid_tasks(experiments: Sequence[Experiment], storage: Path, *, physics_threads: int) -> list[GridTask]:
    """The unfinished ``experiments`` as tasks writing into ``storage`` (their configurations read here, on the
    driver, so a bad one fails before anything starts)."""
    return [
        GridTask(
            exp.name,
            exp.load_config(physics_threads=physics_threads).to_dict(),
            str((storage / exp.name).resolve()),
            exp.train,
        )
        for exp in experiments
        if not is_finished(storage / exp.name)
    ]


def run_grid_task(task: GridTask) -> str:
    """What a Ray worker runs: train (resuming from a checkpoint) and evaluate one experiment into ``task.out``.

    A folder still locked by the worker of a killed driver is waited for (up to :data:`LOCK_WAIT_S`), since Ray
    stops those workers only shortly after a new driver may start.
    """
    cfg = TrainConfig.from_dict(task.config)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            run_configured(cfg, Path(task.out), train=task.train, progress=False)
            return task.name
        except FolderInUseError:
            if Path(task.out).is_file() or time.monotonic() > deadline:  # a file where the folder goes: no wait
                raise
            time.sleep(1.0)


def run_grid(
    experiments: Sequence[Experiment],
    *,
    address: str,
    root: Path,
    storage: Path | None = None,
    physics_threads: int = 1,
    report: Callable[[str], None] = print,
    poll_s: float = 1.0,
) -> list[str]:
    """Run ``experiments`` on the Ray cluster at ``address``; returns the names still unfinished (those whose task
    failed: each failure is reported in one line, and the other tasks go on).

    Raises:
        ClusterError: unreachable address, Ray missing or storage not writable (nothing started).
        KeyboardInterrupt: Ctrl-C; every task is cancelled (each keeps its last checkpoint) before it is raised.
    """
    storage = root if storage is None else storage
    check_address(address)
    check_storage(storage)
    check_storage(root)
    for exp in experiments:  # finished in storage by an earlier driver that died before publishing them
        if is_finished(storage / exp.name) and not is_finished(root / exp.name):
            _publish(storage / exp.name, root / exp.name)
    tasks = grid_tasks(experiments, storage, physics_threads=physics_threads)
    done_before = len(experiments) - len(tasks)
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "results ray needs Ray: pip install -r requirements-cluster.txt (or `make cluster-venv`)"
        ) from None
    ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=True)
    try:
        remote = ray.remote(num_cpus=physics_threads, max_retries=TASK_RETRIES)(run_grid_task)
        refs = {remote.options(name=f"hw14:{t.name}").remote(t): t for t in tasks}
        report(f"submitted {len(tasks)} experiments to {address} ({done_before} already finished)")
        watch = {t.name: _Progress(t) for t in tasks}
        pending, failed = list(refs), 0
        start = time.monotonic()
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=poll_s)
                for name in watch:
                    watch[name].report(report)
                for ref in ready:
                    task = refs[ref]
                    try:
                        ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # the others go on; the folder keeps its checkpoint
                        cause = exc.cause if exc.cause is not None else exc
                        report(f"{task.name}: failed ({type(cause).__name__}: {str(cause).splitlines()[0]})")
                        failed += 1
                        continue
                    watch[task.name].report(report)
                    _publish(Path(task.out), root / task.name)
                    report(f"{task.name}: finished")
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, recursive=True)
            raise
        ran = f"{len(tasks)} ran" + (f" ({failed} failed)" if failed else "")
        report(f"grid done: {ran}, {done_before} were already finished, {time.monotonic() - start:.0f} s")
    finally:
        ray.shutdown()
    return [e.name for e in experiments if not is_finished(root / e.name)]


class _Progress:
    """What the driver has said about one task, read from its shared run folder."""

    def __init__(self, task: GridTask):
        self.task, self.started, self.said = task, False, 0
        self.total = int(task.config["iterations"]) if task.train else 0

    def report(self, say: Callable[[str], None]) -> None:
        folder = Path(self.task.out)
        if not self.started and (folder / CONFIG).is_file():
            self.started = True
            say(f"{self.task.name}: started")
        done = _lines(folder / METRICS)
        step = max(1, self.total // 10)
        if self.total and done >= self.said + step:
            self.said = done
            say(f"{self.task.name}: checkpoint at iteration {done}/{self.total}")


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def _publish(source: Path, target: Path) -> None:
    """Copy a finished folder from shared storage to the results folder (nothing when they are the same)."""
    if source.resolve() == target.resolve():
        return
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(LOCK_NAME))


@dataclass(frozen=True)
class LocalCluster:
    """A running one-node cluster of :func:`local_cluster`: its address and the session of its processes."""

    address: str
    session: int
    log: Path


@contextlib.contextmanager
def local_cluster(num_cpus: int, temp_dir: Path, *, start_timeout: float = 90.0) -> Iterator[LocalCluster]:
    """A one-node Ray cluster on 127.0.0.1 for tests and benchmarks: ``ray start --head --block`` on a free port,
    no dashboard, in a session of its own that is killed on exit (everything it started with it).

    Drivers that connect to it need :data:`LOOPBACK_ENV` in their environment as well. ``temp_dir`` must be short:
    Ray puts its sockets there.

    Raises:
        ClusterError: the head did not accept connections within ``start_timeout`` seconds (its log is named).
    """
    port = free_port()
    ray_cli = str(Path(sys.executable).parent / "ray")
    command = [ray_cli, "start", "--head", "--block", f"--port={port}", f"--num-cpus={num_cpus}",
               "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
               f"--temp-dir={temp_dir}"]  # fmt: skip
    temp_dir.mkdir(parents=True, exist_ok=True)
    log_path = temp_dir / "head.log"
    with log_path.open("w") as log:
        head = subprocess.Popen(
            command,
            env={**os.environ, **LOOPBACK_ENV},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise ClusterError(f"ray start --head did not come up; see {log_path}") from None
                time.sleep(0.5)
        yield LocalCluster(f"127.0.0.1:{port}", head.pid, log_path)
    finally:
        head.terminate()  # `ray start --block` stops the processes it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=5)
        for pid in session_pids(head.pid):  # whatever is left of the session
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        head.wait()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def session_pids(session: int) -> list[int]:
    """The live processes of ``session`` (Linux ``/proc``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry.name)) == session:
                    pids.append(int(entry.name))
    return pids
