"""Running the experiments of :mod:`hw14_lib.study.experiments`: train (resuming) and evaluate one, several at once in
their own processes, evaluate an unfinished one's checkpoint, and write ``results/STATUS.md``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from hw14_lib.common.io_utils import atomic_write_json, atomic_write_text
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.evaluation import evaluate_meta_policy
from hw14_lib.run.folder_lock import check_not_in_use, exclusive_folder
from hw14_lib.run.run_folder import CHECKPOINT, INTERIM_SUMMARY, prepare_run_folder, read_checkpoint, read_metrics
from hw14_lib.run.run_folder import is_finished as run_is_finished
from hw14_lib.run.training import finish_run, make_policy
from hw14_lib.run.training import train as train_run
from hw14_lib.study.experiments import EXPERIMENTS, RESULTS_ROOT, Experiment, experiment_by_name, suite_experiments
from hw14_lib.study.jobs import run_in_subprocesses


def is_finished(exp: Experiment, root: Path = RESULTS_ROOT) -> bool:
    """Whether ``results/<name>/summary.json`` exists (the last file an experiment writes)."""
    return run_is_finished(root / exp.name)


def run_experiment(
    exp: Experiment,
    root: Path = RESULTS_ROOT,
    *,
    progress: bool = True,
    deadline: float | None = None,
    physics_threads: int = 2,
) -> bool:
    """Train (resuming when a checkpoint exists) and evaluate one experiment.

    Returns:
        ``True`` when it is finished, ``False`` when ``deadline`` stopped it first.
    """
    if is_finished(exp, root):
        return True
    cfg = exp.load_config(physics_threads=physics_threads)
    return run_configured(cfg, root / exp.name, train=exp.train, progress=progress, deadline=deadline)


def run_configured(
    cfg: TrainConfig, out: Path, *, train: bool = True, progress: bool = True, deadline: float | None = None
) -> bool:
    """Train ``cfg`` into ``out`` (resuming when a checkpoint exists) and evaluate it; with ``train=False`` only
    evaluate its initialization (the random baseline). Shared by the local and the Ray paths.

    Returns:
        ``True`` when it is finished, ``False`` when ``deadline`` stopped it first.
    """
    if run_is_finished(out):
        return True
    if not train:
        with exclusive_folder(out):
            prepare_run_folder(cfg, out, resume=False, overwrite=True)
            finish_run(cfg, out, make_policy(cfg))
        return True
    resume = (out / CHECKPOINT).exists()
    summary = train_run(cfg, out, resume=resume, overwrite=not resume, progress=progress, deadline=deadline)
    if summary is not None:
        (out / INTERIM_SUMMARY).unlink(missing_ok=True)  # superseded by summary.json
    return summary is not None


def evaluate_interim(exp: Experiment, root: Path = RESULTS_ROOT, *, physics_threads: int = 2) -> Path | None:
    """Evaluate an unfinished run's last checkpoint with the final protocol and write
    ``results/<name>/interim_summary.json`` (marked with its iteration and env steps).

    Returns:
        The file written, or ``None`` when the run is finished or has no checkpoint yet.
    """
    out = root / exp.name
    if is_finished(exp, root) or not (out / CHECKPOINT).exists():
        return None
    cfg = exp.load_config(physics_threads=physics_threads)
    checkpoint = read_checkpoint(out / CHECKPOINT)
    policy = make_policy(cfg)
    policy.load_state_dict(checkpoint["policy"])
    evaluation, _, _ = evaluate_meta_policy(cfg, policy)
    summary = {
        "interim": True,
        "config": cfg.to_dict(),
        "iterations": int(checkpoint["iteration"]),
        "env_steps": int(checkpoint["env_steps"]),
        "wall_seconds": float(checkpoint["wall_seconds"]),
        **evaluation,
    }
    return atomic_write_json(out / INTERIM_SUMMARY, summary)


def physics_threads_per_job(jobs: int, requested: int | None = None) -> int:
    """``requested``, or by default ``2 // jobs`` (at least 1): this machine has two cores."""
    return requested if requested is not None else max(1, 2 // jobs)


def run_experiments(
    names: Sequence[str] | None = None,
    root: Path = RESULTS_ROOT,
    *,
    jobs: int = 1,
    physics_threads: int | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
    suite: str = "report",
) -> list[str]:
    """Run the named experiments (default: all), ``jobs`` at a time, each in its own process
    with ``physics_threads`` physics threads (default ``2 // jobs``: this machine has two cores).

    Ctrl-C or SIGTERM stops every job at its last checkpoint (SIGTERM is passed on to the jobs).

    Returns:
        Names still unfinished (stopped by ``max_minutes``).

    Raises:
        FolderInUseError: another process writes one of the experiments' folders; nothing started.
    """
    selected = [experiment_by_name(n, suite) for n in names] if names else list(suite_experiments(suite))
    pending = [e for e in selected if not is_finished(e, root)]
    check_not_in_use([root / e.name for e in pending])  # another `results` or training: refuse before starting
    threads = physics_threads_per_job(jobs, physics_threads)
    deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
    if jobs <= 1:
        for exp in pending:
            run_experiment(exp, root, progress=progress, deadline=deadline, physics_threads=threads)
    else:
        run_in_subprocesses(
            [e.name for e in pending], root, jobs=jobs, physics_threads=threads, max_minutes=max_minutes, suite=suite
        )
    return [e.name for e in selected if not is_finished(e, root)]


def write_status(root: Path = RESULTS_ROOT, experiments: Sequence[Experiment] = EXPERIMENTS) -> Path:
    """Write ``results/STATUS.md``: which ``experiments`` are finished and how far the others got."""
    lines = ["# Experiment status", "", "| experiment | state | iterations | env steps |", "|---|---|---|---|"]
    for exp in experiments:
        folder = root / exp.name
        metrics = read_metrics(folder)
        target = exp.load_config().iterations if exp.train else 0
        state = "finished" if is_finished(exp, root) else ("in progress" if metrics else "not started")
        steps = metrics[-1]["env_steps"] if metrics else 0
        lines.append(f"| {exp.name} | {state} | {len(metrics)}/{target} | {steps:,} |")
    return atomic_write_text(root / "STATUS.md", "\n".join(lines) + "\n")
