"""The meta-training loop: sample, adapt, step the outer optimizer, log, checkpoint.

A run folder holds ``config.yaml``, ``metrics.jsonl`` (one JSON line per iteration),
``checkpoint.pt`` (everything needed to resume bit-for-bit: policy, optimizer, every RNG, the
iteration and env-step counters) and, at the end, ``policy.pt``, ``summary.json``, the two plots
and ``video.mp4``. Every file is written atomically (:mod:`hw14_lib.io_utils`).

Determinism: with the same seed, two runs write identical ``metrics.jsonl`` lines except for the
``wall_seconds`` field (the only wall-clock quantity); a run killed at any point and resumed
continues the same sequence.

Crash safety: ``checkpoint.pt`` is written at iteration 0 and after every iteration, *before* that
iteration's metrics line, and it carries that line. On resume, lines past the checkpoint's iteration
and a torn last line are dropped (with a warning), and a line the kill prevented from being appended
is restored from the checkpoint, so ``metrics.jsonl`` never has a duplicated, missing or torn line.
A non-finite meta-loss or meta-gradient raises :class:`~hw14_lib.outer.NonFiniteError` before the
optimizer step and before any write, so the checkpoint on disk stays the last good one.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from hw14_lib.config import TrainConfig
from hw14_lib.evaluation import AdaptationCurve, AdvantageSettings, adaptation_curve
from hw14_lib.folder_lock import exclusive_folder
from hw14_lib.io_utils import (
    append_jsonl,
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    read_jsonl,
    remove_stale_temporaries,
    truncate_jsonl,
)
from hw14_lib.maml import InnerLoop, MetaBatch, adapt_all
from hw14_lib.outer import AdamMetaOptimizer, NonFiniteError, TRPOMetaOptimizer
from hw14_lib.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, Params, policy_params, save_policy
from hw14_lib.progress import progress_bar
from hw14_lib.sampling import TrajectoryBatch, sample_trajectories
from hw14_lib.tasks import Task, evaluation_tasks, sample_tasks
from hw14_lib.vector_env import make_task_vector_env
from hw14_lib.video import record_video

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
CONFIG = "config.yaml"
SUMMARY = "summary.json"
POLICY = "policy.pt"
VIDEO = "video.mp4"
OBS_DIM, ACT_DIM = 17, 6  # HalfCheetah-v5; checked against the environment when sampling


class RunFolderError(ValueError):
    """The output folder cannot be used as asked (exists without --resume, nothing to resume, ...)."""


def inner_loop(cfg: TrainConfig) -> InnerLoop:
    """The :class:`InnerLoop` a configuration describes."""
    return InnerLoop(
        alpha=cfg.inner_lr,
        first_order=cfg.first_order,
        l2=cfg.inner_l2,
        entropy_coef=cfg.entropy_coef,
        estimator=cfg.inner_estimator,  # type: ignore[arg-type]
    )


def advantage_settings(cfg: TrainConfig) -> AdvantageSettings:
    """The :class:`AdvantageSettings` a configuration describes."""
    return AdvantageSettings(
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        baseline=cfg.baseline,
        normalize_advantages=cfg.normalize_advantages,
    )


def make_policy(cfg: TrainConfig) -> GaussianMLPPolicy:
    """A freshly initialized policy, seeded by ``cfg.seed``; the global torch RNG is left as it was."""
    # nn.Linear's initializer only reads the global generator: seed it inside a fork that is undone on exit.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return GaussianMLPPolicy(
            OBS_DIM, ACT_DIM, hidden_sizes=cfg.hidden_sizes, init_log_std=cfg.init_log_std, squash=cfg.squash
        )


def make_outer_optimizer(cfg: TrainConfig, policy: GaussianMLPPolicy) -> AdamMetaOptimizer | TRPOMetaOptimizer:
    """Adam or TRPO, as ``cfg.outer_optimizer`` says."""
    if cfg.outer_optimizer == "trpo":
        return TRPOMetaOptimizer(
            max_kl=cfg.trpo_max_kl,
            cg_iterations=cfg.trpo_cg_iterations,
            cg_damping=cfg.trpo_cg_damping,
            line_search_steps=cfg.trpo_line_search_steps,
            backtrack_ratio=cfg.trpo_backtrack_ratio,
            curvature_trajectories=cfg.trpo_curvature_trajectories,
        )
    return AdamMetaOptimizer(policy, lr=cfg.outer_lr, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip)


@dataclass
class RunState:
    """Everything that changes during training and must survive a restart."""

    policy: GaussianMLPPolicy
    optimizer: AdamMetaOptimizer | TRPOMetaOptimizer
    rng: np.random.Generator
    generator: torch.Generator
    iteration: int = 0
    env_steps: int = 0
    wall_seconds: float = 0.0

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
                "record": record,
            },
            path,
        )

    def load(self, path: Path) -> dict[str, Any] | None:
        """Restore from a checkpoint written by :meth:`save`; returns its metrics line (if any)."""
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # torch raises several types for foreign or corrupt files
            raise RunFolderError(
                f"--resume: {str(path)!r} is not a readable checkpoint (torch.load: {type(exc).__name__})"
            ) from exc
        self.policy.load_state_dict(data["policy"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.rng.bit_generator.state = data["numpy_rng"]
        self.generator.set_state(data["torch_generator"])
        self.iteration = int(data["iteration"])
        self.env_steps = int(data["env_steps"])
        self.wall_seconds = float(data["wall_seconds"])
        return data.get("record")


def sample_meta_batch(
    cfg: TrainConfig,
    policy: GaussianMLPPolicy,
    envs: Any,
    rng: np.random.Generator,
    generator: torch.Generator,
) -> MetaBatch:
    """Draw B tasks, their support sets (one per inner step) and their query sets."""
    tasks = sample_tasks(
        cfg.meta_batch_size, rng, distribution=cfg.task, velocity_range=cfg.velocity_range, ctrl_weight=cfg.ctrl_weight
    )  # type: ignore[arg-type]
    inner, advantages = inner_loop(cfg), advantage_settings(cfg)
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    sampling_params: Params | list[Params] = theta
    supports: list[TrajectoryBatch] = []
    support_advantages = []

    def sample(params: Params | list[Params]) -> TrajectoryBatch:
        return sample_trajectories(
            policy,
            params,
            envs,
            tasks,
            num_trajectories=cfg.trajectories_per_task,
            horizon=cfg.horizon,
            generator=generator,
            seed=int(rng.integers(2**31)),
        )

    for _ in range(cfg.training_inner_steps):
        supports.append(sample(sampling_params))
        support_advantages.append(advantages(supports[-1]))
        sampling_params = adapt_all(policy, theta, supports, support_advantages, inner, create_graph=False)
    query = sample(sampling_params)
    return MetaBatch(tuple(supports), tuple(support_advantages), query, advantages(query))


def prepare_run_folder(cfg: TrainConfig, out: Path, *, resume: bool, overwrite: bool) -> None:
    """Check that ``out`` may be used (:func:`check_run_folder`) and write ``config.yaml``."""
    check_run_folder(cfg, out, resume=resume, overwrite=overwrite)
    if resume:
        remove_stale_temporaries(out)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in (METRICS, CHECKPOINT, SUMMARY, POLICY, VIDEO, "meta_loss.png", "query_return.png"):
        (out / name).unlink(missing_ok=True)
    atomic_write_text(out / CONFIG, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


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
    has_run = (out / CONFIG).exists() or (out / METRICS).exists() or (out / CHECKPOINT).exists()
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
                if before[k] != v and k not in ("notes", "physics_threads")
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
    check_run_folder(cfg, out, resume=resume, overwrite=overwrite)  # bad input: refused before any write
    with exclusive_folder(out):
        return _train_locked(
            cfg, out, resume=resume, overwrite=overwrite, progress=progress, evaluate=evaluate, deadline=deadline
        )


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
    )
    if resume:
        _restore_metrics(out, state.load(out / CHECKPOINT), state.iteration)
    else:
        state.save(out / CHECKPOINT)  # iteration 0: a run stopped before its first iteration resumes too
    saved_iteration = state.iteration  # the iteration checkpoint.pt holds

    inner = inner_loop(cfg)
    envs = make_task_vector_env(
        [Task.backward()] * (cfg.meta_batch_size * cfg.trajectories_per_task),
        backend=cfg.backend,  # type: ignore[arg-type]
        num_threads=cfg.physics_threads,
    )
    bar = progress_bar(total=cfg.iterations, initial=state.iteration, desc="meta-training", disable=not progress)
    try:
        while state.iteration < cfg.iterations:
            if deadline is not None and time.monotonic() > deadline:
                return None
            start = time.perf_counter()
            batch = sample_meta_batch(cfg, policy, envs, state.rng, state.generator)
            try:
                info = state.optimizer.step(policy, batch, inner)
            except NonFiniteError as exc:
                raise NonFiniteError(
                    exc.quantity,
                    f"iteration {state.iteration + 1} stopped before the optimizer step; "
                    f"{str(out / CHECKPOINT)!r} keeps iteration {saved_iteration}",
                ) from exc
            project_log_std(policy)
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
    finally:
        bar.close()
        envs.close()
    try:
        return finish_run(cfg, out, policy, evaluate=evaluate)
    except KeyboardInterrupt:
        raise TrainingInterrupted(out, saved_iteration) from None


def project_log_std(policy: GaussianMLPPolicy) -> None:
    """Clamp the ``log_std`` parameter into ``LOG_STD_BOUNDS`` in place (a projection after each step).

    ``forward`` already clamps ``log sigma``, so the policy's distribution is unchanged; but the clamp
    has zero gradient outside the bounds, so a parameter pushed past them (by Adam's momentum or a
    TRPO step) would stay stuck there, and with no weight decay drift without limit. Projecting keeps
    it on the boundary, where the gradient flows again.
    """
    with torch.no_grad():
        policy.log_std.clamp_(*LOG_STD_BOUNDS)


def _restore_metrics(out: Path, record: dict[str, Any] | None, iteration: int) -> None:
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


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the last finished iteration is checkpointed."""

    def __init__(self, out: Path, iteration: int):
        super().__init__(
            f"interrupted; the checkpoint of iteration {iteration} is saved in {out}. Resume with: "
            f"{sys.executable} -m hw14_lib train --config {out / CONFIG} --out {out} --resume"
        )
        self.out, self.iteration = out, iteration


def finish_run(cfg: TrainConfig, out: Path, policy: GaussianMLPPolicy, *, evaluate: bool = True) -> dict[str, Any]:
    """Save ``policy.pt``, evaluate on held-out tasks, write ``summary.json``, plots and video."""
    from hw14_lib.plots import plot_training_curves

    save_policy(policy, out / POLICY)
    metrics = read_jsonl(out / METRICS)
    summary: dict[str, Any] = {
        "config": cfg.to_dict(),
        "iterations": len(metrics),
        "env_steps": metrics[-1]["env_steps"] if metrics else 0,
        "wall_seconds": metrics[-1]["wall_seconds"] if metrics else 0.0,
    }
    if evaluate:
        evaluation, tasks, history = evaluate_meta_policy(cfg, policy)
        summary.update(evaluation)
        if cfg.video:
            first_step = history[1][0]
            video_return = record_video(policy, first_step, tasks[0], out / VIDEO, horizon=cfg.horizon, seed=cfg.seed)
            summary["video"] = None if video_return is None else VIDEO
            summary["video_return"] = video_return
    atomic_write_json(out / SUMMARY, summary)
    if metrics:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a plotting warning is a bug here, not noise to print
            plot_training_curves(metrics, out)
    return summary


def evaluate_meta_policy(
    cfg: TrainConfig,
    policy: GaussianMLPPolicy,
    *,
    steps: int | None = None,
    step_sizes: Sequence[float] | None = None,
) -> tuple[dict[str, Any], list[Task], list[list[Params]]]:
    """The final evaluation: returns after 0..k inner steps on the held-out tasks of ``cfg``
    (``k = steps``, by default ``cfg.eval_adaptation_steps``; at least 1), optionally with a
    step-size schedule ``step_sizes`` (one per step; see :func:`adaptation_curve`).

    Returns:
        The summary entries (``pre_/post_adaptation_return`` and ``adaptation_curve``), the tasks,
        and the adapted parameters ``history[k][i]``.
    """
    tasks = evaluation_tasks(
        cfg.task,
        cfg.eval_tasks,
        seed=cfg.seed + 10_000,
        velocity_range=cfg.velocity_range,
        ctrl_weight=cfg.ctrl_weight,
    )  # type: ignore[arg-type]
    curve, history = adaptation_curve(
        policy,
        tasks,
        steps=max(1, cfg.eval_adaptation_steps if steps is None else steps),
        num_trajectories=cfg.eval_trajectories,
        horizon=cfg.horizon,
        inner=inner_loop(cfg),
        advantages=advantage_settings(cfg),
        seed=cfg.seed + 20_000,
        physics_threads=cfg.physics_threads,
        step_sizes=step_sizes,
    )
    return _curve_summary(curve), tasks, history


def _curve_summary(curve: AdaptationCurve) -> dict[str, Any]:
    det, sto = curve.mean_deterministic(), curve.mean_stochastic()
    return {
        "pre_adaptation_return": det[0],
        "post_adaptation_return": det[1],
        "pre_adaptation_return_stochastic": sto[0],
        "post_adaptation_return_stochastic": sto[1],
        "adaptation_curve": curve.to_dict(),
    }
