"""The experiment grid on a real Ray cluster (``results ray``), started here on the loopback interface only.

The head is ``ray start --head --block`` in its own session (:func:`hw14_lib.study.cluster.local_cluster`), with
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so that every Ray process binds to 127.0.0.1 (checked: the node's address,
and every listening socket of the cluster's processes); the session is killed at the end. Against the local path
on the smoke suite: the same metrics, also after the worker running a trial is killed mid-run, and after the
driver is killed (or stopped with Ctrl-C) and started again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw14_lib.study.cluster import LOOPBACK_ENV, LocalCluster, free_port, local_cluster, session_pids

from conftest import REPO, check_ok, run_cli

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="requirements-cluster.txt is not installed")

SMOKE = ("smoke_s0", "smoke_s1")
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
DRIVER_TIMEOUT_S = 240.0


def listening_addresses(pids: list[int]) -> set[str]:
    """The local addresses of every listening TCP socket that ``pids`` hold (from ``/proc``)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in (Path("/proc") / str(pid) / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / table
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                hex_ip = fields[1].split(":")[0]
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_ip)[::-1]))
                else:
                    words = [bytes.fromhex(hex_ip[i : i + 8])[::-1] for i in range(0, 32, 8)]
                    found.add(socket.inet_ntop(socket.AF_INET6, b"".join(words)))
    return found


@pytest.fixture(scope="module")
def cluster_info() -> Iterator[LocalCluster]:
    """A one-node Ray cluster on 127.0.0.1 with two CPUs (:func:`hw14_lib.study.cluster.local_cluster`)."""
    temp = Path(f"/tmp/hw14-ray-{os.getpid()}")  # Ray's socket paths must stay short
    try:
        with local_cluster(2, temp) as running:
            yield running
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(cluster_info: LocalCluster) -> str:
    return cluster_info.address


def driver_env() -> dict[str, str]:
    return {**os.environ, **LOOPBACK_ENV, "PYTHONUNBUFFERED": "1"}


def grid(address: str, root: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "hw14_lib", "results", "ray", address, "--suite", "smoke", "--root", str(root)]
    return subprocess.Popen(
        [*command, *extra], cwd=REPO, env=driver_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=DRIVER_TIMEOUT_S)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in err and "Warning" not in err, err
    return out, err


def metrics(folder: Path) -> list[dict]:
    """``metrics.jsonl`` without the wall times (the only field allowed to differ between paths)."""
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in rows]


def summary(folder: Path) -> dict:
    data = json.loads((folder / "summary.json").read_text())
    data["config"].pop("physics_threads")  # a runtime setting: results do not depend on it
    return {k: v for k, v in data.items() if k != "wall_seconds"}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite on the local path, the reference."""
    root = tmp_path_factory.mktemp("local")
    check_ok(run_cli("results", "--suite", "smoke", "--root", str(root), "--no-progress"))
    return root


def assert_same_as_local(root: Path, local: Path) -> None:
    for name in SMOKE:
        assert metrics(root / name) == metrics(local / name), name
        assert len(metrics(root / name)) == 20
        assert summary(root / name) == summary(local / name), name


def wait_for_lines(path: Path, lines: int, proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + DRIVER_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        count = path.read_bytes().count(b"\n") if path.exists() else 0
        if count >= lines:
            return count
        time.sleep(0.05)
    pytest.fail(f"{path} did not reach {lines} lines (driver exit {proc.poll()})")


def test_the_cluster_listens_on_loopback_only(cluster: str, cluster_info: LocalCluster) -> None:
    connect = f"import ray; ray.init(address={cluster!r}, logging_level='ERROR')"
    code = f"{connect}; print(ray.nodes()[0]['NodeManagerAddress'])"
    result = subprocess.run([sys.executable, "-c", code], env=driver_env(), capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "127.0.0.1", result.stderr
    pids = session_pids(cluster_info.session)
    assert len(pids) > 3  # the head, GCS, raylet, agents, workers
    addresses = listening_addresses(pids)
    assert addresses and addresses <= LOOPBACK, addresses


def test_smoke_suite_on_ray_equals_the_local_path(cluster: str, local: Path, tmp_path: Path) -> None:
    out, _ = finish(grid(cluster, tmp_path))
    assert_same_as_local(tmp_path, local)
    lines = out.splitlines()
    assert lines[0] == f"submitted 2 experiments to {cluster} (0 already finished)"
    for name in SMOKE:
        assert f"{name}: started" in lines and f"{name}: finished" in lines
        assert any(line.startswith(f"{name}: checkpoint at iteration ") for line in lines)
    assert any(line.startswith("grid done: 2 ran, 0 were already finished") for line in lines)
    again, _ = finish(grid(cluster, tmp_path))  # everything finished: nothing is submitted
    assert again.splitlines()[0] == f"submitted 0 experiments to {cluster} (2 already finished)"


def worker_pid(name: str) -> int:
    """The Ray worker process running the task of experiment ``name`` (Ray titles it ``ray::hw14:<name>``)."""
    pids = subprocess.run(["pgrep", "-f", f"ray::hw14:{name}"], capture_output=True, text=True).stdout.split()
    assert len(pids) == 1, pids
    return int(pids[0])


def test_a_killed_worker_resumes_its_trial_to_the_same_metrics(cluster: str, local: Path, tmp_path: Path) -> None:
    proc = grid(cluster, tmp_path)
    done = wait_for_lines(tmp_path / "smoke_s0" / "metrics.jsonl", 3, proc)
    os.kill(worker_pid("smoke_s0"), signal.SIGKILL)
    assert done < 20  # killed mid-run
    finish(proc)
    assert_same_as_local(tmp_path, local)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_new_driver_after_a_stopped_one_resumes_the_grid(
    cluster: str, local: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    first = grid(cluster, tmp_path)
    wait_for_lines(tmp_path / "smoke_s1" / "metrics.jsonl", 3, first)
    # The trial is seconds long: paused before the driver stops, it cannot finish in the moments Ray takes to end
    # the stopped driver's workers (a race that let it finish before the resume this test is about).
    worker = worker_pid("smoke_s1")
    os.kill(worker, signal.SIGSTOP)
    first.send_signal(stop)
    out, err = first.communicate(timeout=DRIVER_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):  # the worker of a stopped driver dies with it, if Ray has not yet
        os.kill(worker, signal.SIGKILL)
    assert (tmp_path / "smoke_s1" / "metrics.jsonl").read_bytes().count(b"\n") < 20
    if stop == signal.SIGINT:  # Ctrl-C: an orderly stop that says how to resume
        assert first.returncode == 130, err
        resume = f"Resume with: python -m hw14_lib results ray {cluster} --suite smoke --root {tmp_path}"
        assert out.splitlines()[-1].endswith(resume), out
        assert "Traceback" not in err, err
    out, _ = finish(grid(cluster, tmp_path))
    assert_same_as_local(tmp_path, local)
    assert "smoke_s1: finished" in out.splitlines()


def test_a_failing_experiment_is_one_line_and_the_others_finish(cluster: str, local: Path, tmp_path: Path) -> None:
    (tmp_path / "smoke_s1").write_text("not a folder")
    proc = grid(cluster, tmp_path)
    out, err = proc.communicate(timeout=DRIVER_TIMEOUT_S)
    assert proc.returncode == 1, err
    lines = out.splitlines()
    assert "smoke_s1: failed (RunFolderError: --out '" in out and "is a file, not a folder)" in out, out
    assert any(line.startswith("grid done: 2 ran (1 failed), 0 were already finished") for line in lines), out
    assert "smoke_s0: finished" in lines and lines[-1] == "unfinished (run again to resume): smoke_s1"
    assert metrics(tmp_path / "smoke_s0") == metrics(local / "smoke_s0")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ray", "127.0.0.1:{free}"), "cannot reach a Ray cluster there"),
        (("ray", "{cluster}", "--only", "nope"), "unknown experiment 'nope'"),
        (("ray", "{cluster}", "--storage", "{file}/sub"), "not writable"),
        (("--storage", "{tmp}"), "invalid choice"),  # --storage belongs to `results ray`
        (("--jobs", "2", "ray", "{cluster}"), "takes no --jobs or --max-minutes"),
    ],
)
def test_bad_cluster_input_is_one_error_line_and_starts_nothing(
    cluster: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "file").write_text("")
    values = {"free": free_port(), "cluster": cluster, "file": tmp_path / "file", "tmp": tmp_path / "storage"}
    root = tmp_path / "root"
    argv = [a.format(**values) for a in args]
    result = run_cli("results", "--suite", "smoke", "--root", str(root), *argv, env=driver_env())
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert not (root / "smoke_s0").exists()


def test_importing_the_package_and_its_cli_does_not_import_ray() -> None:
    code = "import sys, hw14_lib, hw14_lib.cli, hw14_lib.study.cluster; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)
