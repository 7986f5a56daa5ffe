"""One writer per run folder: a second training or ``results`` into a folder another process is
writing exits 2 with one line naming the folder and that process, and writes nothing; a lock left
by a killed process blocks nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hw14_lib.common.io_utils import read_jsonl
from hw14_lib.run.folder_lock import LOCK_NAME, FolderInUseError, check_not_in_use, exclusive_folder

from conftest import SMOKE, snapshot

WAIT_S = 120
HOLD = "import sys, time\nfrom hw14_lib.run.folder_lock import exclusive_folder\nwith exclusive_folder(sys.argv[1]):\n"
HOLD += "    print('held', flush=True)\n    time.sleep(600)\n"


def hold_lock(folder: Path) -> subprocess.Popen[str]:
    """A process that holds ``folder``'s lock until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.slow
def test_a_held_folder_is_refused_and_a_killed_holder_blocks_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    holder = hold_lock(folder)
    try:
        with pytest.raises(
            FolderInUseError, match=rf"'{folder}' is being written by another process \(pid {holder.pid}\)"
        ):
            with exclusive_folder(folder):
                pass
        with pytest.raises(FolderInUseError):
            check_not_in_use([tmp_path / "other", folder])
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    with exclusive_folder(folder) as held:  # the kernel released the dead holder's lock
        assert held == folder and (folder / LOCK_NAME).read_text().strip() == str(os.getpid())
    check_not_in_use([folder, tmp_path / "never-created"])


@pytest.mark.slow
def test_second_training_into_a_running_folder_exits_2_and_leaves_the_metrics_intact(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "hw14_lib", "train", "--config", str(SMOKE), "--out", str(out), "--no-progress"]
    argv += ["--no-eval", "--set", "iterations=400"]
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while not (out / "metrics.jsonl").is_file() or len(read_jsonl(out / "metrics.jsonl")) < 3:
            assert first.poll() is None and time.monotonic() < deadline, "the first training did not start"
            time.sleep(0.1)
        second = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=WAIT_S)
        assert first.poll() is None, "the first training ended before the second started; the test proves nothing"
        assert second.returncode == 2, second.stderr
        assert second.stdout == ""
        assert second.stderr.count("\n") == 1 and second.stderr.startswith("error: "), second.stderr
        assert f"'{out}'" in second.stderr and f"pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=WAIT_S)
    assert resumed.returncode == 0, resumed.stderr
    assert [r["iteration"] for r in read_jsonl(out / "metrics.jsonl")] == list(range(1, 401))


@pytest.mark.slow
def test_results_into_a_folder_being_written_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    root = tmp_path / "results"
    holder = hold_lock(root / "dir_maml_s0")
    try:
        before = snapshot(root)
        command = [sys.executable, "-m", "hw14_lib", "results", "--only", "dir_maml_s0", "vel_maml_s0"]
        for jobs in ("1", "2"):
            proc = subprocess.run(
                [*command, "--root", str(root), "--jobs", jobs, "--no-progress"],
                capture_output=True,
                text=True,
                timeout=WAIT_S,
            )
            assert proc.returncode == 2, proc.stderr
            assert proc.stderr.count("\n") == 1 and f"pid {holder.pid}" in proc.stderr, proc.stderr
            assert snapshot(root) == before and not (root / "vel_maml_s0").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
