"""Fault injection: ``train`` killed (``os._exit``, no cleanup, as SIGKILL) at each write step of the first
iterations, then started again the way ``make run`` does (``--resume`` when ``checkpoint.pt`` exists, the same
command otherwise), must end with the metrics of an uninterrupted run.

The write steps, in order: ``config.yaml`` (temporary written, fsync, rename), the checkpoint of iteration 0,
then per iteration the checkpoint (temporary written, fsync, rename) and its metrics line (written, fsync)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hw14_lib.cli import main
from hw14_lib.run.run_folder import CHECKPOINT, METRICS

from conftest import REPO, comparable, train_argv

DIE_AT = """
import os, sys
name, n = sys.argv[1], int(sys.argv[2])
real, calls = getattr(os, name), []
def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == n:
        os._exit(137)  # no cleanup, no flush: as SIGKILL
    return real(*args, **kwargs)
setattr(os, name, dying)
from hw14_lib.cli import main
sys.exit(main(sys.argv[3:]))
"""
"""Runs the CLI with ``os.<name>`` dying at its ``n``-th call."""

# os.fsync: 1 config.yaml, 2 checkpoint 0, then per iteration 2i+1 its checkpoint and 2i+2 its metrics line.
# os.replace: 1 config.yaml, 2 checkpoint 0, then i+2 the checkpoint of iteration i.
CASES = [("fsync", n) for n in range(1, 8)] + [("replace", n) for n in range(1, 5)]


@pytest.mark.slow
@pytest.mark.parametrize(("call", "n"), CASES, ids=[f"{c}-{n}" for c, n in CASES])
def test_killed_at_a_write_step_then_restarted_equals_an_uninterrupted_run(
    call: str, n: int, reference, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, "-c", DIE_AT, call, str(n), *train_argv(out)], cwd=REPO, capture_output=True, text=True
    )
    assert killed.returncode == 137, f"os.{call} call {n} was never reached: {killed.stderr}"
    again = train_argv(out, "--resume") if (out / CHECKPOINT).exists() else train_argv(out)
    assert main(again) == 0, f"killed at os.{call} call {n}: the restart was refused"
    assert comparable(out / METRICS) == reference[1], f"killed at os.{call} call {n}"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and ".tmp" in p.name], "a stale temporary"
