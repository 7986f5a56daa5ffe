"""The meta-training loop (Algorithm 3 of Finn et al. 2017): sample, adapt, step the outer optimizer,
log, checkpoint; then the final evaluation, plots and video.

The run folder's format, its checks and the resumable state are :mod:`hw14_lib.run.run_folder`'s.

Determinism: with the same seed, two runs write identical ``metrics.jsonl`` lines except for the
``wall_seconds`` field (the only wall-clock quantity); a run killed at any point and resumed
continues the same sequence.

A non-finite meta-loss or meta-gradient raises :class:`~hw14_lib.rl.outer.NonFiniteError` before the
optimizer step and before any write, so the checkpoint on disk stays the last good one.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from hw14_lib.common.io_utils import append_jsonl, atomic_write_json
from hw14_lib.rl.envs import ACT_DIM
from hw14_lib.rl.make_env import make_task_vector_env
from hw14_lib.rl.maml import MetaBatch, sample_meta_batch
from hw14_lib.rl.meta_learners import meta_learner
from hw14_lib.rl.outer import NonFiniteError, OuterOptimizer
from hw14_lib.rl.policy import GaussianMLPPolicy, save_policy
from hw14_lib.rl.workers import WorkerDied
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.config_checks import check_fits_in_memory
from hw14_lib.run.evaluation import evaluate_meta_policy
from hw14_lib.run.folder_lock import exclusive_folder
from hw14_lib.run.plots import plot_training_curves
from hw14_lib.run.progress import in_jupyter_kernel, progress_bar
from hw14_lib.run.run_folder import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    POLICY,
    SUMMARY,
    VIDEO,
    RunFolderError,
    RunState,
    check_run_folder,
    prepare_run_folder,
    read_checkpoint,
    read_metrics,
    restore_metrics,
)
from hw14_lib.run.run_identity import code_version
from hw14_lib.run.video import record_video


def make_policy(cfg: TrainConfig) -> GaussianMLPPolicy:
    """A freshly initialized policy, seeded by ``cfg.seed``; the global torch RNG is left as it was."""
    # nn.Linear's initializer only reads the global generator: seed it inside a fork that is undone on exit.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return GaussianMLPPolicy(
            cfg.observation_dim,
            ACT_DIM,
            hidden_sizes=cfg.hidden_sizes,
            init_log_std=cfg.init_log_std,
            squash=cfg.squash,
            step_sizes=cfg.step_size_settings,
        )


def draw_meta_batch(
    cfg: TrainConfig,
    policy: GaussianMLPPolicy,
    envs: gym.vector.VectorEnv,
    rng: np.random.Generator,
    generator: torch.Generator,
) -> MetaBatch:
    """One meta-iteration's data as ``cfg`` says: B tasks drawn from ``p(T)``, then their support and query
    sets (:func:`~hw14_lib.rl.maml.sample_meta_batch`)."""
    tasks = cfg.task_distribution.sample(cfg.meta_batch_size, rng)
    return sample_meta_batch(
        policy,
        envs,
        tasks,
        inner=cfg.inner_loop,
        advantages=cfg.advantage_settings,
        inner_steps=cfg.training_inner_steps,
        num_trajectories=cfg.trajectories_per_task,
        horizon=cfg.horizon,
        rng=rng,
        generator=generator,
        workers=cfg.physics_threads,
    )


def make_outer_optimizer(cfg: TrainConfig, policy: GaussianMLPPolicy) -> OuterOptimizer:
    """The meta-learner ``cfg.outer_optimizer`` names (Adam, TRPO or ProMP), with its settings from ``cfg``."""
    return meta_learner(cfg.outer_optimizer).build(policy, cfg.meta_learner_settings, cfg.physics_threads)


def train(
    cfg: TrainConfig,
    out: str | os.PathLike[str],
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    evaluate: bool = True,
    deadline: float | None = None,
) -> dict[str, Any] | None:
    """Meta-train a policy as ``cfg`` says, writing everything into ``out``.

    Args:
        resume: continue from ``out/checkpoint.pt``.
        overwrite: replace a run already in ``out``.
        evaluate: run the final held-out evaluation and video.
        deadline: a ``time.monotonic()`` value; past it, training stops after the current
            iteration (checkpointed, resumable) and ``None`` is returned.

    Returns:
        The summary (also written to ``summary.json``), or ``None`` when stopped by ``deadline``.

    Raises:
        FolderInUseError: another process is writing ``out`` (nothing is written then).
    """
    out = Path(out)
    if not str(out).strip() or out == Path():
        raise RunFolderError(f"--out {str(out)!r} must name a run folder (e.g. runs/NAME)")
    check_fits_in_memory(cfg)
    check_run_folder(cfg, out, resume=resume, overwrite=overwrite)  # bad input: refused before any write
    with exclusive_folder(out):
        try:
            return _train_locked(
                cfg, out, resume=resume, overwrite=overwrite, progress=progress, evaluate=evaluate, deadline=deadline
            )
        except TrainingInterrupted:
            raise
        except KeyboardInterrupt:  # before the loop: while preparing the folder or resuming
            if (out / CHECKPOINT).is_file():
                raise TrainingInterrupted(out, int(read_checkpoint(out / CHECKPOINT)["iteration"])) from None
            raise TrainingInterrupted(out, None) from None


def _train_locked(
    cfg: TrainConfig,
    out: Path,
    *,
    resume: bool,
    overwrite: bool,
    progress: bool,
    evaluate: bool,
    deadline: float | None,
) -> dict[str, Any] | None:
    """:func:`train`'s work, while it holds ``out``'s lock."""
    prepare_run_folder(cfg, out, resume=resume, overwrite=overwrite)
    torch.set_num_threads(cfg.torch_threads)
    policy = make_policy(cfg)
    state = RunState(
        policy=policy,
        optimizer=make_outer_optimizer(cfg, policy),
        rng=np.random.default_rng(cfg.seed),
        generator=torch.Generator().manual_seed(cfg.seed),
        config_digest=cfg.digest,
    )
    if resume:
        restore_metrics(out, state.load(out / CHECKPOINT), state.iteration)
    else:
        state.save(out / CHECKPOINT)  # iteration 0: a run stopped before its first iteration resumes too
    saved_iteration = state.iteration  # the iteration checkpoint.pt holds

    inner = cfg.inner_loop
    envs = make_task_vector_env(
        [cfg.task_distribution.placeholder] * (cfg.meta_batch_size * cfg.trajectories_per_task),
        backend=cfg.backend,
        num_threads=cfg.physics_threads,
        env=cfg.env_spec,
        processes=cfg.sampler == "processes",
    )
    bar = progress_bar(total=cfg.iterations, initial=state.iteration, desc="meta-training", disable=not progress)
    try:
        while state.iteration < cfg.iterations:
            if deadline is not None and time.monotonic() > deadline:
                return None
            start = time.perf_counter()
            batch = draw_meta_batch(cfg, policy, envs, state.rng, state.generator)
            try:
                info = state.optimizer.step(batch, inner)
            except NonFiniteError as exc:
                raise NonFiniteError(
                    exc.quantity,
                    f"iteration {state.iteration + 1} stopped before the optimizer step; "
                    f"{str(out / CHECKPOINT)!r} keeps iteration {saved_iteration}",
                ) from exc
            state.iteration += 1
            state.env_steps += sum(s.num_steps for s in batch.supports) + batch.query.num_steps
            state.wall_seconds += time.perf_counter() - start
            record = {
                "iteration": state.iteration,
                # Return at theta: the first support set, or the query set when pretraining (no supports).
                "support_return": float((batch.supports or (batch.query,))[0].episode_returns().mean()),
                "query_return": float(batch.query.episode_returns().mean()),
                "env_steps": state.env_steps,
                "wall_seconds": round(state.wall_seconds, 3),
                "log_std_mean": float(policy.log_std.detach().mean()),
                **info,
            }
            state.save(out / CHECKPOINT, record)
            saved_iteration = state.iteration
            append_jsonl(out / METRICS, record)
            bar.update(1)
            bar.set_postfix(query=f"{record['query_return']:.1f}", loss=f"{record['meta_loss']:.3f}")
    except KeyboardInterrupt:
        bar.close()
        raise TrainingInterrupted(out, saved_iteration) from None
    except WorkerDied as exc:
        raise WorkerDied(f"{exc}; {resume_hint(out, saved_iteration)}") from None
    finally:
        bar.close()
        envs.close()
    try:
        return finish_run(cfg, out, policy, evaluate=evaluate, announce=progress and not in_jupyter_kernel())
    except KeyboardInterrupt:
        raise TrainingInterrupted(out, saved_iteration) from None


def resume_hint(out: Path, iteration: int) -> str:
    """Where a stopped run's last checkpoint is and the command that resumes it."""
    return (
        f"the checkpoint of iteration {iteration} is saved in {out}. Resume with: "
        f"{sys.executable} -m hw14_lib train --config {out / CONFIG} --out {out} --resume"
    )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the last finished iteration is checkpointed."""

    def __init__(self, out: Path, iteration: int | None):
        if iteration is None and not (out / CONFIG).is_file():
            message = f"interrupted before training started; nothing was written to {out}"
        elif iteration is None:  # stopped before the first checkpoint: the folder starts again as it is
            message = (
                f"interrupted before the first checkpoint; nothing to resume in {out}. Start it again with: "
                f"{sys.executable} -m hw14_lib train --config {out / CONFIG} --out {out}"
            )
        else:
            message = f"interrupted; {resume_hint(out, iteration)}"
        super().__init__(message)
        self.out, self.iteration = out, iteration


def finish_run(
    cfg: TrainConfig, out: Path, policy: GaussianMLPPolicy, *, evaluate: bool = True, announce: bool = False
) -> dict[str, Any]:
    """Save ``policy.pt``, evaluate on held-out tasks, write ``summary.json``, plots and video; with ``announce``,
    print a line as each phase after training starts (they take seconds to a minute, after the bar is full)."""

    def phase(message: str) -> None:
        if announce:
            print(message, flush=True)

    save_policy(policy, out / POLICY)
    metrics = read_metrics(out)
    summary: dict[str, Any] = {
        "config": cfg.to_dict(),
        "iterations": len(metrics),
        "env_steps": metrics[-1]["env_steps"] if metrics else 0,
        "wall_seconds": metrics[-1]["wall_seconds"] if metrics else 0.0,
        "code": code_version(),
    }
    if evaluate:
        phase(
            f"evaluating: {cfg.eval_trajectories} trajectories per held-out task, "
            f"k = 0..{max(1, cfg.eval_adaptation_steps)} inner steps"
        )
        evaluation, tasks, history = evaluate_meta_policy(cfg, policy)
        summary.update(evaluation)
        if cfg.video:
            phase(f"rendering {out / VIDEO}: one episode after one inner step")
            first_step = history[1][0]
            video_return = record_video(
                policy, first_step, tasks[0], out / VIDEO, horizon=cfg.horizon, seed=cfg.seed, env=cfg.env_spec
            )
            summary["video"] = None if video_return is None else VIDEO
            summary["video_return"] = video_return
    atomic_write_json(out / SUMMARY, summary)
    if metrics:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a plotting warning is a bug here, not noise to print
            plot_training_curves(metrics, out)
    return summary
