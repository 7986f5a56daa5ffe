"""Crash safety: a run killed (SIGKILL, between a checkpoint and its metrics line), interrupted (Ctrl-C, SIGTERM,
in the final evaluation) or left with a torn metrics line resumes to the same ``metrics.jsonl``, line for line
(except ``wall_seconds``), as the uninterrupted reference run; a run folder is never overwritten silently.

Subprocess tests run the real entry point, ``python -m hw14_lib``, from the repository root.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hw14_lib.cli import main
from hw14_lib.rl.outer import AdamMetaOptimizer
from hw14_lib.run.folder_lock import LOCK_NAME
from hw14_lib.run.run_folder import CHECKPOINT, CONFIG, METRICS, RunFolderError
from hw14_lib.run.training import TrainingInterrupted, train

from conftest import (
    ITERATIONS,
    REPO,
    checkpoint_iteration,
    comparable,
    line_count,
    run_cli,
    smoke_config,
    snapshot,
    train_argv,
)

pytestmark = pytest.mark.slow

WAIT_S = 180.0


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen, what: str) -> None:
    start = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() - start > WAIT_S:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def wait_for_iteration(out: Path, k: int, proc: subprocess.Popen) -> None:
    """Until ``out`` holds the checkpoint of iteration 0 (k = 0) or k metrics lines."""
    if k == 0:
        wait_until(lambda: (out / CHECKPOINT).exists(), proc, "the first checkpoint")
    else:
        wait_until(lambda: line_count(out / METRICS) >= k, proc, f"iteration {k}")


# --- 1. resume after a kill ------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, ITERATIONS // 2])  # before the first iteration, after it, mid-run
def test_sigkill_at_iteration_k_then_resume_gives_identical_metrics(
    k: int, reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hw14_lib", *train_argv(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_iteration(out, k, proc)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    lines_at_kill = line_count(out / METRICS)
    assert lines_at_kill < ITERATIONS, f"k={k}: the run finished before the kill"

    assert main(train_argv(out, "--resume")) == 0, f"k={k}, {lines_at_kill} lines at the kill"
    assert capsys.readouterr().err == ""
    assert comparable(out / METRICS) == reference[1], f"killed at iteration {k} ({lines_at_kill} lines)"


def test_kill_between_the_checkpoint_and_its_metrics_line(reference, tmp_path: Path) -> None:
    """The narrowest window: checkpoint k has landed, its metrics line has not."""
    k, out = 3, tmp_path / "run"
    die_at_append = (
        "import os, sys\n"
        "import hw14_lib.run.training as training\n"
        "append, calls = training.append_jsonl, []\n"
        "def dying(path, record):\n"
        f"    calls.append(1)\n    if len(calls) == {k}:\n        os._exit(137)\n"
        "    append(path, record)\n"
        "training.append_jsonl = dying\n"
        "from hw14_lib.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", die_at_append, *train_argv(out)], cwd=REPO, capture_output=True, text=True
    )
    assert killed.returncode == 137, killed.stderr
    assert checkpoint_iteration(out) == k
    assert line_count(out / METRICS) == k - 1

    assert main(train_argv(out, "--resume")) == 0
    assert comparable(out / METRICS) == reference[1]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_or_sigterm_saves_a_checkpoint_and_resume_gives_identical_metrics(
    reference, tmp_path: Path, capsys: pytest.CaptureFixture[str], signum: int, status: int
) -> None:
    out = tmp_path / "run"
    # A shell may start background jobs with SIGINT ignored; install Python's default handler.
    entry = (
        "import runpy, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "sys.argv[0] = 'hw14_lib'\n"
        "runpy.run_module('hw14_lib', run_name='__main__')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", entry, *train_argv(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_iteration(out, 3, proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    message = stderr.strip()
    saved = checkpoint_iteration(out)
    assert f"the checkpoint of iteration {saved} is saved" in message
    assert "--resume" in message and f"--out {out}" in message
    assert f"Resume with: {sys.executable} -m hw14_lib train" in message  # works outside the venv too
    assert line_count(out / METRICS) == saved
    assert saved < ITERATIONS
    assert not [p for p in out.glob(".*") if p.name != LOCK_NAME], "an interrupted atomic write left its temporary file"

    # What a SIGKILL in the middle of a checkpoint write leaves; resuming removes it.
    stale = out / f".{CHECKPOINT}.k1a2b3.tmp.pt"
    stale.write_bytes(b"half a checkpoint")
    assert main(train_argv(out, "--resume")) == 0
    capsys.readouterr()
    assert not stale.exists()
    assert comparable(out / METRICS) == reference[1]


def test_sigterm_to_parallel_results_stops_every_job_at_a_checkpoint(tmp_path: Path) -> None:
    """``results --jobs 2`` runs each experiment in a child process; a SIGTERM to the parent (as from
    ``kill``) must not leave the children training on, orphaned."""
    root = tmp_path / "results"
    names = ["dir_maml_s0", "vel_maml_s0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hw14_lib", "results", "--root", str(root), "--jobs", "2", "--only", *names],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for name in names:
        wait_until(lambda name=name: (root / name / CHECKPOINT).exists(), proc, f"{name}'s first checkpoint")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    children = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout.split()
    assert children == [], "child jobs outlived the SIGTERM"
    for name in names:
        assert checkpoint_iteration(root / name) >= 0
        assert not [p for p in (root / name).glob(".*") if p.name != LOCK_NAME]


def test_interrupt_in_process_then_torn_line_is_dropped_with_one_warning(
    reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    real_step, calls = AdamMetaOptimizer.step, []

    def interrupted_step(self, batch, inner):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_step(self, batch, inner)

    with monkeypatch.context() as patch:
        patch.setattr(AdamMetaOptimizer, "step", interrupted_step)
        with pytest.raises(TrainingInterrupted, match=r"checkpoint of iteration 3 is saved.*--resume"):
            train(smoke_config(), out, progress=False, evaluate=False)
    assert checkpoint_iteration(out) == 3 and line_count(out / METRICS) == 3

    with open(out / METRICS, "a", encoding="utf-8") as handle:
        handle.write('{"env_steps": 960, "grad_n')  # what a crash mid-write of an older version leaves
    resumed = run_cli(*train_argv(out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "torn last line" in lines[0], resumed.stderr
    assert comparable(out / METRICS) == reference[1]


def test_interrupt_during_the_final_evaluation_resumes_into_it(
    reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hw14_lib.run.training as training

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(training, "finish_run", interrupted)
        with pytest.raises(TrainingInterrupted, match=rf"checkpoint of iteration {ITERATIONS} is saved"):
            train(smoke_config(), out, progress=False, evaluate=False)
    assert not (out / "summary.json").exists()
    summary = train(smoke_config(), out, resume=True, progress=False, evaluate=False)
    assert summary["iterations"] == ITERATIONS and (out / "summary.json").exists()
    assert comparable(out / METRICS) == reference[1]


# --- 3. no silent overwrite ------------------------------------------------------------------------


def test_existing_run_folder_is_not_overwritten(reference, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    shutil.copytree(reference[0], out)
    before = snapshot(tmp_path)
    assert main(train_argv(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert snapshot(tmp_path) == before


def test_out_that_is_a_file_is_rejected(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.write_text("not a folder")
    assert main(train_argv(out)) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert out.read_text() == "not a folder"


def test_resume_keeps_the_runs_config_file(reference, tmp_path: Path) -> None:
    """Resuming never rewrites config.yaml (a different config is refused, an equal one is kept)."""
    out = tmp_path / "run"
    shutil.copytree(reference[0], out)
    before = (out / CONFIG).read_bytes()
    with pytest.raises(RunFolderError, match="differs from the run's"):
        train(smoke_config(gamma=0.9), out, resume=True)
    assert (out / CONFIG).read_bytes() == before
