"""``results --jobs N``: experiments in child processes, N at a time; a failed child stops the others at their
last checkpoint, and none is left running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


class ExperimentFailed(RuntimeError):
    """A child of ``results --jobs N`` failed; the others were stopped at their last checkpoint."""


def run_in_subprocesses(
    names: list[str], root: Path, *, jobs: int, physics_threads: int, max_minutes: float | None, suite: str
) -> None:
    """Run the experiments ``names`` (of ``suite``) in child processes of ``results --only NAME``, ``jobs`` at a
    time, each with ``physics_threads`` physics threads.

    Raises:
        ExperimentFailed: a child exited with an error; the others were stopped at their last checkpoint.
        KeyboardInterrupt: Ctrl-C or SIGTERM; the children stop at their last checkpoint too.
    """
    queue = list(names)
    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        while queue or running:
            while queue and len(running) < jobs:
                name = queue.pop(0)
                cmd = [sys.executable, "-m", "hw14_lib", "results", "--only", name, "--root", str(root)]
                cmd += ["--suite", suite]
                cmd += ["--no-progress", "--physics-threads", str(physics_threads)]
                if max_minutes is not None:
                    cmd += ["--max-minutes", str(max_minutes)]
                running.append((name, subprocess.Popen(cmd)))
            time.sleep(1.0)
            for item in list(running):
                if item[1].poll() is not None:
                    running.remove(item)
                    if item[1].returncode != 0:
                        others = ", ".join(n for n, _ in running) or "none"
                        raise ExperimentFailed(
                            f"experiment {item[0]} failed with exit status {item[1].returncode} (its error is "
                            f"above); stopped the others at their last checkpoint ({others}); run again to resume"
                        )
    except KeyboardInterrupt:
        # Ctrl-C reached the jobs too (same process group) and they are stopping; SIGTERM reached
        # only this process, so the jobs still running after a grace period are sent it as well.
        _stop(running, grace=10.0)
        raise
    finally:
        _stop(running, grace=0.0)  # a failed sibling: SIGTERM checkpoints and stops the others; no orphan


def _stop(running: list[tuple[str, subprocess.Popen[bytes]]], *, grace: float) -> None:
    """Wait ``grace`` seconds for the children still running, then SIGTERM them (each stops at its last
    checkpoint) and wait for every one."""
    deadline = time.monotonic() + grace
    for _, proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
    running.clear()
