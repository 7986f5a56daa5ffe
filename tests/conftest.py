"""What the tests share: the repository's paths, the command line in a child process, and one smoke run.

Markers (``pyproject.toml``): ``slow`` for tests that start processes, a kernel, a browser or LaTeX, or
train, so ``pytest -m "not slow"`` is the quick loop over the algorithm; ``regression`` for the golden
test that retrains committed runs and compares their metrics line for line.

Test modules import the constants as ``from conftest import REPO`` (pytest puts this folder on
``sys.path``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hw14_lib.run.config import TrainConfig
from hw14_lib.run.run_folder import CHECKPOINT, METRICS
from hw14_lib.run.training import train

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs" / "smoke.yaml"
"""A three-iteration configuration that trains in seconds."""
CLI_TIMEOUT_S = 300.0
ITERATIONS = 10
"""Iterations of the crash-safety runs: the smoke config's 3, raised so that a kill can land mid-run."""


def run_cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT_S):
    """``python -m hw14_lib ARGS`` in a child process in ``cwd``; returns the finished process (its
    ``returncode``, ``stdout`` and ``stderr``), whatever the status."""
    return subprocess.run(
        [sys.executable, "-m", "hw14_lib", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"} if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """``result`` when it exited 0 with no warning and no traceback on stderr; fails naming both streams."""
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Warning" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="session")
def smoke_cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One ``train --config configs/smoke.yaml`` through the command line, in a folder outside the repository
    (so nothing can litter it): the finished run folder and the process. Tests read it, never change it
    (copy it first)."""
    workdir = tmp_path_factory.mktemp("cli")
    out = workdir / "run"
    result = check_ok(run_cli("train", "--config", str(SMOKE), "--out", str(out), "--no-progress", cwd=workdir))
    return out, result


@pytest.fixture(scope="session")
def smoke_run(smoke_cli_run: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    """The finished smoke run's folder (see :func:`smoke_cli_run`)."""
    return smoke_cli_run[0]


# --- the crash-safety runs: the smoke config with ITERATIONS iterations, no final evaluation ---------------------


def smoke_config(**overrides: Any) -> TrainConfig:
    """The smoke configuration with :data:`ITERATIONS` iterations and ``overrides``."""
    return TrainConfig.from_yaml(SMOKE, **{"iterations": ITERATIONS, **overrides})


def train_argv(out: Path, *extra: str) -> list[str]:
    """The command line that trains :func:`smoke_config` into ``out`` without the final evaluation."""
    fixed = ["--config", str(SMOKE), "--out", str(out), "--no-progress", "--no-eval"]
    return ["train", *fixed, "--set", f"iterations={ITERATIONS}", *extra]


def comparable(path: Path) -> list[dict[str, Any]]:
    """The metrics lines without ``wall_seconds`` (the one wall-clock field); every line must be whole."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), "metrics.jsonl ends with a torn line"
    return [{k: v for k, v in json.loads(line).items() if k != "wall_seconds"} for line in text.splitlines()]


def line_count(path: Path) -> int:
    """Newline-terminated lines in ``path`` (0 when it does not exist yet)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def checkpoint_iteration(folder: Path) -> int:
    """The iteration ``folder``'s ``checkpoint.pt`` holds."""
    import torch

    return int(torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True)["iteration"])


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every folder (None) and file (its bytes) under ``root``: what a refused command must leave as it was."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """An uninterrupted :func:`smoke_config` run, trained in this process: its folder (copy it before changing
    anything) and its :func:`comparable` metrics."""
    out = tmp_path_factory.mktemp("reference") / "run"
    train(smoke_config(), out, progress=False, evaluate=False)
    return out, comparable(out / METRICS)


def unfinished_copy(reference: Path, out: Path) -> None:
    """``reference``'s run folder without its final files: a run to resume."""
    shutil.copytree(reference, out)
    for name in ("summary.json", "policy.pt", "meta_loss.png", "query_return.png"):
        (out / name).unlink(missing_ok=True)
