"""The run folder: its file names, the checks before training writes into it, the resumable state, and
the readers the report, the notebook and the command line use.

A run folder holds ``config.yaml``, ``metrics.jsonl`` (one JSON line per meta-iteration),
``checkpoint.pt`` (everything needed to resume bit for bit: policy, optimizer, every RNG, the iteration
and env-step counters) and, once finished, ``policy.pt``, ``summary.json``, the two training plots and
``video.mp4``. An unfinished experiment may also hold ``interim_summary.json`` (its last checkpoint
evaluated with the final protocol). Every file is written atomically (:mod:`hw14_lib.common.io_utils`).

Crash safety: ``checkpoint.pt`` is written at iteration 0 and after every iteration, *before* that
iteration's metrics line, and it carries that line. On resume, lines past the checkpoint's iteration and a
torn last line are dropped (with a warning), and a line the kill prevented from being appended is restored
from the checkpoint (:func:`restore_metrics`), so ``metrics.jsonl`` never has a duplicated, missing or
torn line.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from hw14_lib.common.io_utils import (
    append_jsonl,
    atomic_torch_save,
    atomic_write_text,
    read_jsonl,
    remove_stale_temporaries,
    truncate_jsonl,
)
from hw14_lib.rl.outer import OuterOptimizer
from hw14_lib.rl.policy import GaussianMLPPolicy, check_finite_parameters
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.config_digest import RUNTIME_FIELDS

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
POLICY = "policy.pt"
SUMMARY = "summary.json"
INTERIM_SUMMARY = "interim_summary.json"
"""An unfinished run's last checkpoint evaluated with the final protocol; removed once it finishes."""
VIDEO = "video.mp4"
TRAINING_PLOTS = ("meta_loss.png", "query_return.png")
"""The starter code's two plots, drawn from ``metrics.jsonl`` (:func:`hw14_lib.run.plots.plot_training_curves`)."""
RUN_FILES = (CONFIG, METRICS, SUMMARY)
"""A folder holding any of these is a run (started, finished, or evaluated without training)."""


class RunFolderError(ValueError):
    """The output folder cannot be used as asked (exists without --resume, nothing to resume, ...)."""


# --- before training writes -------------------------------------------------------------------------


def check_run_folder(cfg: TrainConfig, out: Path, *, resume: bool, overwrite: bool) -> None:
    """Check, without writing anything, that ``out`` may be used as asked.

    Raises:
        RunFolderError: ``out`` holds a run and neither ``resume`` nor ``overwrite`` is set;
            ``resume`` without a checkpoint; ``resume`` with a different configuration.
    """
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite exclude each other")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {str(out)!r} is a file, not a folder")
    # config.yaml alone is a run stopped before its first checkpoint: nothing to lose, so it may start again.
    has_run = any((out / name).exists() for name in (METRICS, CHECKPOINT, SUMMARY))
    if resume:
        if not (out / CHECKPOINT).exists():
            restart = "again with --overwrite" if has_run else "without --resume"
            raise RunFolderError(f"--resume: no checkpoint in {str(out)!r}; start the run {restart}")
        saved = TrainConfig.from_yaml(out / CONFIG)
        if saved != cfg:
            before = saved.to_dict()
            changed = [
                f"{k}={v!r} (the run has {before[k]!r})"
                for k, v in cfg.to_dict().items()
                if before[k] != v and k not in RUNTIME_FIELDS
            ]
            raise RunFolderError(
                f"--resume: the config differs from the run's: {', '.join(changed)}; "
                f"resume with --config {str(out / CONFIG)!r} or train into a new folder"
            )
        return
    if has_run and not overwrite:
        raise RunFolderError(
            f"{str(out)!r} already holds a run; pass --resume to continue it or --overwrite to replace it"
        )


def prepare_run_folder(cfg: TrainConfig, out: Path, *, resume: bool, overwrite: bool) -> None:
    """Check ``out`` (:func:`check_run_folder`), remove a kill's temporaries; a new run: clear it, write its config."""
    check_run_folder(cfg, out, resume=resume, overwrite=overwrite)
    if out.is_dir():
        remove_stale_temporaries(out)  # what a kill between a write and its rename left
    if resume:
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in (METRICS, CHECKPOINT, SUMMARY, INTERIM_SUMMARY, POLICY, VIDEO, *TRAINING_PLOTS):
        (out / name).unlink(missing_ok=True)
    atomic_write_text(out / CONFIG, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


# --- the resumable state ----------------------------------------------------------------------------


@dataclass
class RunState:
    """Everything that changes during training and must survive a restart."""

    policy: GaussianMLPPolicy
    optimizer: OuterOptimizer
    rng: np.random.Generator
    generator: torch.Generator
    iteration: int = 0
    env_steps: int = 0
    wall_seconds: float = 0.0
    config_digest: str | None = None
    """:attr:`TrainConfig.digest` of the run's configuration, written into every checkpoint and checked on load."""

    def save(self, path: Path, record: dict[str, Any] | None = None) -> None:
        """Write the checkpoint atomically, with ``record``, the metrics line of this iteration."""
        atomic_torch_save(
            {
                "policy": self.policy.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "numpy_rng": self.rng.bit_generator.state,
                "torch_generator": self.generator.get_state(),
                "iteration": self.iteration,
                "env_steps": self.env_steps,
                "wall_seconds": self.wall_seconds,
                "config_digest": self.config_digest,
                "record": record,
            },
            path,
        )

    def load(self, path: Path) -> dict[str, Any] | None:
        """Restore from a checkpoint written by :meth:`save`; returns its metrics line (if any).

        Raises:
            RunFolderError: the checkpoint is damaged, or records another configuration than this run's (a
                checkpoint of older versions records none and is taken as it is).
        """
        data = read_checkpoint(path)
        saved = data.get("config_digest")
        if saved is not None and self.config_digest is not None and saved != self.config_digest:
            raise RunFolderError(
                f"{str(path)!r} was trained with another configuration than {str(path.parent / CONFIG)!r}; "
                "it belongs to another run (or config.yaml was changed); nothing was written"
            )
        try:
            self.policy.load_state_dict(data["policy"])
            check_finite_parameters(self.policy, str(path))
            self.optimizer.load_state_dict(data["optimizer"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:  # another architecture, a damaged state
            raise RunFolderError(
                f"{str(path)!r} does not fit this run's policy ({type(exc).__name__}: {exc})"
            ) from None
        self.rng.bit_generator.state = data["numpy_rng"]
        self.generator.set_state(data["torch_generator"])
        self.iteration = int(data["iteration"])
        self.env_steps = int(data["env_steps"])
        self.wall_seconds = float(data["wall_seconds"])
        return data.get("record")


CHECKPOINT_KEYS = frozenset(
    {"policy", "optimizer", "numpy_rng", "torch_generator", "iteration", "env_steps", "wall_seconds"}
)
"""What :meth:`RunState.load` reads from a checkpoint; a file without one of them is refused by name."""


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The dict :meth:`RunState.save` wrote; :class:`RunFolderError` names a foreign or corrupt file."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or corrupt files
        raise RunFolderError(f"{str(path)!r} is not a readable checkpoint (torch.load: {type(exc).__name__})") from exc
    if not isinstance(data, dict) or not CHECKPOINT_KEYS <= data.keys():
        raise RunFolderError(f"{str(path)!r} is not a checkpoint of this project (it lacks the training state)")
    return data


def restore_metrics(out: Path, record: dict[str, Any] | None, iteration: int) -> None:
    """Make ``metrics.jsonl`` hold exactly the lines of iterations ``1..iteration`` after a crash.

    Lines past the checkpoint (from a version that appended before checkpointing) and a torn last
    line are dropped; the checkpoint's own line, lost when a kill fell between the checkpoint and
    the append, is restored from the checkpoint.
    """
    kept = truncate_jsonl(out / METRICS, iteration)
    if len(kept) == iteration - 1 and record is not None:
        append_jsonl(out / METRICS, record)
    elif len(kept) < iteration:
        warnings.warn(
            f"{out / METRICS} has {len(kept)} lines but the checkpoint is at iteration {iteration}; "
            "the missing lines cannot be recovered",
            stacklevel=3,
        )


# --- readers ----------------------------------------------------------------------------------------


def is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run (any of :data:`RUN_FILES`)."""
    return any((folder / name).is_file() for name in RUN_FILES)


def is_finished(folder: Path) -> bool:
    """Whether ``summary.json``, the last file a run writes, exists."""
    return (folder / SUMMARY).is_file()


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The ``metrics.jsonl`` records, one per finished iteration; ``[]`` when there is none yet."""
    return read_jsonl(folder / METRICS) if (folder / METRICS).is_file() else []


def read_summary(folder: Path, *, interim: bool = False) -> dict[str, Any] | None:
    """``summary.json``, or ``None`` when it is missing (the run is unfinished).

    With ``interim``, an unfinished run's ``interim_summary.json`` (the evaluation of its last
    checkpoint, marked ``"interim": true``) stands in for the missing summary.
    """
    for name in (SUMMARY, INTERIM_SUMMARY) if interim else (SUMMARY,):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text(encoding="utf-8"))
    return None


def read_config_dict(path: Path) -> dict[str, Any]:
    """A YAML config merged over :class:`TrainConfig`'s defaults; the defaults alone if unreadable
    (lenient: the report reads whatever a run left)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        data = None
    return {**TrainConfig().to_dict(), **(data if isinstance(data, dict) else {})}


@dataclass(frozen=True)
class Run:
    """One run folder, as read.

    Attributes:
        name: the folder's name, e.g. ``dir_maml_s0``.
        config: the run's configuration (every field, defaults filled in); empty if unknown.
        metrics: the ``metrics.jsonl`` records, one per finished iteration.
        summary: ``summary.json``, or ``None`` while the run is unfinished.
        interim: ``interim_summary.json`` of an unfinished run (its last checkpoint evaluated with
            the final protocol), or ``None``.
    """

    name: str
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    summary: dict[str, Any] | None
    interim: dict[str, Any] | None = None

    @property
    def evaluation(self) -> dict[str, Any] | None:
        """The summary, or for an unfinished run its interim evaluation."""
        return self.summary if self.summary is not None else self.interim

    @property
    def finished(self) -> bool:
        """Whether ``summary.json`` exists."""
        return self.summary is not None

    @property
    def env_steps(self) -> int:
        """Environment steps of training so far (of the evaluated checkpoint, when there is one)."""
        if self.evaluation is not None:
            return int(self.evaluation.get("env_steps", 0))
        return int(self.metrics[-1]["env_steps"]) if self.metrics else 0

    @property
    def wall_seconds(self) -> float:
        """Training wall-clock time so far, in seconds (of the evaluated checkpoint, when there is one)."""
        if self.evaluation is not None:
            return float(self.evaluation.get("wall_seconds", 0.0))
        return float(self.metrics[-1]["wall_seconds"]) if self.metrics else 0.0

    def curve(self, kind: str = "stochastic") -> list[float] | None:
        """Mean over held-out tasks of the return after k = 0, 1, ... inner steps, or ``None``.

        Args:
            kind: ``"stochastic"`` (sampled actions, the paper's metric) or ``"deterministic"``.
        """
        curve = (self.evaluation or {}).get("adaptation_curve")
        if not curve or f"mean_{kind}" not in curve:
            return None
        return [float(v) for v in curve[f"mean_{kind}"]]

    def task_return(self, task: str, k: int, kind: str = "stochastic") -> float | None:
        """The held-out return on ``task`` (a label such as ``"forward"``) after ``k`` inner steps, or
        ``None`` when the evaluation lacks that task or step."""
        curve = (self.evaluation or {}).get("adaptation_curve") or {}
        tasks, returns = curve.get("tasks") or [], curve.get(kind) or []
        if task not in tasks or k >= len(returns):
            return None
        return float(returns[k][tasks.index(task)])


def load_run(folder: Path) -> Run:
    """Read one run folder (any file may be missing)."""
    summary = read_summary(folder)
    interim = None if summary is not None else read_summary(folder, interim=True)
    if summary is not None and isinstance(summary.get("config"), dict):
        config = {**TrainConfig().to_dict(), **summary["config"]}
    elif (folder / CONFIG).is_file():
        config = read_config_dict(folder / CONFIG)
    else:
        config = {}
    return Run(folder.name, config, read_metrics(folder), summary, interim)


def load_runs(results: str | Path) -> dict[str, Run]:
    """Every run folder under ``results`` (:func:`is_run`), by name."""
    root = Path(results)
    if not root.is_dir():
        return {}
    return {folder.name: load_run(folder) for folder in sorted(p for p in root.iterdir() if p.is_dir() and is_run(p))}
