"""What each sub-command of :mod:`hw14_lib.cli` does, given its parsed arguments.

Each ``*_command(args)`` returns the exit status; bad input raises :class:`UsageError` (or
``ValueError``, ``TypeError``, ``FileNotFoundError``), which :func:`hw14_lib.cli.main` reports in one
line. Heavy modules are imported inside each command, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_CONFIG = "configs/backward.yaml"
"""The config ``train`` and ``diagnose`` use, and ``evaluate`` falls back on."""


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def parse_overrides(pairs: Sequence[str]) -> dict[str, object]:
    """``["key=value", ...]`` (``--set``) -> ``{key: YAML value}``."""
    import yaml

    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {pair!r} must look like KEY=VALUE")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {pair!r}: the value is not valid YAML") from exc
    return overrides


def train_command(args: argparse.Namespace) -> int:
    """``train``: meta-train a configuration into a run folder (resumable)."""
    from hw14_lib.config import TrainConfig
    from hw14_lib.training import METRICS, POLICY, SUMMARY, train

    cfg = TrainConfig.from_yaml(args.config, **parse_overrides(args.set))
    summary = train(
        cfg,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        evaluate=not args.no_eval,
    )
    out = Path(args.out)
    written = [METRICS, SUMMARY, POLICY, "meta_loss.png", "query_return.png"]
    written += [summary["video"]] if summary.get("video") else []
    print(f"results in {out}/: {', '.join(written)}")
    print(f"env steps {summary['env_steps']:,}, training time {summary['wall_seconds']:.0f} s")
    if "pre_adaptation_return" in summary:
        print(
            f"deterministic return before adaptation {summary['pre_adaptation_return']:.1f}, "
            f"after one step {summary['post_adaptation_return']:.1f}"
        )
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    """``evaluate``: returns of a policy before and after k inner steps, optional video and JSON."""
    from hw14_lib.config import TrainConfig
    from hw14_lib.evaluation import later_step_sizes
    from hw14_lib.policy import load_policy
    from hw14_lib.training import ACT_DIM, OBS_DIM, evaluate_meta_policy
    from hw14_lib.video import record_video

    policy_path = Path(args.policy)
    policy = load_policy(policy_path)
    if (policy.obs_dim, policy.act_dim) != (OBS_DIM, ACT_DIM):
        raise UsageError(
            f"policy {str(policy_path)!r} has observation/action sizes {policy.obs_dim}/{policy.act_dim}; "
            f"HalfCheetah needs {OBS_DIM}/{ACT_DIM}"
        )
    config_path = args.config
    if config_path is None:
        beside = policy_path.parent / "config.yaml"
        config_path = beside if beside.exists() else DEFAULT_CONFIG
    cfg = TrainConfig.from_yaml(config_path)
    steps = cfg.eval_adaptation_steps if args.steps is None else args.steps
    if steps < 0:
        raise UsageError(f"--steps {steps} must be >= 0")
    step_sizes = None
    if args.later_scale is not None:
        if not (math.isfinite(args.later_scale) and args.later_scale >= 0):
            raise UsageError(f"--later-scale {args.later_scale} must be a finite number >= 0")
        step_sizes = later_step_sizes(cfg.inner_lr, max(1, steps), args.later_scale)
    evaluation, tasks, history = evaluate_meta_policy(cfg, policy, steps=steps, step_sizes=step_sizes)
    curve = evaluation["adaptation_curve"]
    for k, (det, sto) in enumerate(zip(curve["mean_deterministic"], curve["mean_stochastic"], strict=True)):
        if k > steps:
            break
        print(f"after {k} step(s): deterministic return {det:8.1f}   stochastic return {sto:8.1f}")
    if args.video:
        ret = record_video(policy, history[1][0], tasks[0], args.video, horizon=cfg.horizon, seed=cfg.seed)
        if ret is not None:
            print(f"video of task {tasks[0].label()} after one step: {args.video} (return {ret:.1f})")
    if args.json:
        from hw14_lib.io_utils import atomic_write_json

        atomic_write_json(args.json, curve)
    return 0


def results_command(args: argparse.Namespace) -> int:
    """``results``: train and evaluate the report's experiments, list them, or evaluate checkpoints."""
    from hw14_lib.experiments import (
        EXPERIMENTS,
        evaluate_interim,
        experiment_by_name,
        physics_threads_per_job,
        run_experiment,
        run_experiments,
        write_status,
    )

    root = Path(args.root)
    if args.jobs < 1 or (args.physics_threads is not None and args.physics_threads < 1):
        raise UsageError("--jobs and --physics-threads must be >= 1")
    threads = physics_threads_per_job(args.jobs, args.physics_threads)
    if args.list:
        print(write_status(root).read_text(encoding="utf-8"))
        return 0
    if args.interim:
        for name in args.only or [e.name for e in EXPERIMENTS]:
            written = evaluate_interim(experiment_by_name(name), root, physics_threads=threads)
            if written is not None:
                print(f"wrote {written}")
        return 0
    if args.only and len(args.only) == 1 and args.jobs == 1:
        deadline = None if args.max_minutes is None else time.monotonic() + 60.0 * args.max_minutes
        exp = experiment_by_name(args.only[0])
        run_experiment(exp, root, progress=not args.no_progress, deadline=deadline, physics_threads=threads)
        unfinished = [] if (root / exp.name / "summary.json").exists() else [exp.name]
    else:
        names = args.only or [e.name for e in EXPERIMENTS]
        unfinished = run_experiments(
            names,
            root,
            jobs=args.jobs,
            physics_threads=threads,
            max_minutes=args.max_minutes,
            progress=not args.no_progress,
        )
    write_status(root)
    comparison_figures_of(root)
    if unfinished:
        print(f"unfinished (run again to resume): {', '.join(unfinished)}")
    else:
        print(f"all requested experiments are finished; see {root}/")
    return 0


def diagnose_command(args: argparse.Namespace) -> int:
    """``diagnose``: what one inner step does to a policy, per step size."""
    import numpy as np

    from hw14_lib.config import TrainConfig
    from hw14_lib.diagnostics import inner_step_report
    from hw14_lib.policy import load_policy
    from hw14_lib.tasks import sample_tasks
    from hw14_lib.training import make_policy

    cfg = TrainConfig.from_yaml(args.config, **parse_overrides(args.set))
    try:
        alphas = [float(a) for a in args.alphas.split(",")]
    except ValueError as exc:
        raise UsageError(f"--alphas {args.alphas!r} must be comma-separated numbers") from exc
    policy = load_policy(args.policy) if args.policy else make_policy(cfg)
    tasks = sample_tasks(
        args.tasks, np.random.default_rng(cfg.seed), distribution=cfg.task, velocity_range=cfg.velocity_range
    )  # type: ignore[arg-type]
    rows = inner_step_report(policy, tasks, cfg, alphas=alphas, seed=cfg.seed)
    print(f"{'alpha':>7} {'KL':>10} {'|step|':>8} {'before':>9} {'after':>9} {'gain':>8} {'std':>6}")
    for r in rows:
        print(
            f"{r['alpha']:7.3f} {r['kl']:10.4f} {r['step_norm']:8.4f} {r['return_before']:9.1f} "
            f"{r['return_after']:9.1f} {r['gain']:8.1f} {r['std']:6.3f}"
        )
    if args.json:
        from hw14_lib.io_utils import atomic_write_json

        atomic_write_json(args.json, {"config": cfg.to_dict(), "policy": args.policy, "rows": rows})
    return 0


def later_steps_command(args: argparse.Namespace) -> int:
    """``later-steps``: finished runs re-evaluated with the steps after the first scaled by ``c``."""
    from dataclasses import replace

    import torch

    from hw14_lib.config import TrainConfig
    from hw14_lib.diagnostics import later_step_study
    from hw14_lib.io_utils import atomic_write_json
    from hw14_lib.policy import load_policy

    try:
        scales = [float(c) for c in args.scales.split(",")]
    except ValueError as exc:
        raise UsageError(f"--scales {args.scales!r} must be comma-separated numbers") from exc
    if args.alpha is not None and not (math.isfinite(args.alpha) and args.alpha > 0):
        raise UsageError(f"--alpha {args.alpha!r} must be a finite number > 0")
    folders = [Path(r) for r in args.runs]
    for folder in folders:  # check every input before the first (minutes-long) evaluation
        for name in ("config.yaml", "policy.pt"):
            if not (folder / name).is_file():
                raise UsageError(f"{folder / name} does not exist; is {folder} a finished run folder?")
    for folder in folders:
        cfg = TrainConfig.from_yaml(folder / "config.yaml", physics_threads=args.physics_threads)
        if args.alpha is not None:
            cfg = replace(cfg, inner_lr=args.alpha)
        torch.set_num_threads(cfg.torch_threads)  # as in training, whose final evaluation c = 1 repeats
        rows = later_step_study(
            cfg,
            load_policy(folder / "policy.pt"),
            scales=scales,
            validation=args.validation,
            progress=not args.no_progress,
            label=folder.name,
        )
        name = folder.name + (f"_alpha{args.alpha:g}" if args.alpha is not None else "")
        name += "_validation" if args.validation else ""
        record = {
            "run": folder.name,
            "validation": args.validation,
            "alpha": args.alpha,
            "config": cfg.to_dict(),
            "rows": rows,
        }
        path = atomic_write_json(Path(args.out) / f"{name}.json", record)
        tasks = "validation" if args.validation else "held-out"
        print(
            f"{folder.name} (alpha = {cfg.inner_lr:g}): mean return on the {tasks} tasks after "
            f"k = 0..{len(rows[0]['step_sizes'])} steps ({path})"
        )
        for row in rows:
            print(f"  c = {row['scale']:<5g}" + "".join(f"{v:9.1f}" for v in row["mean_stochastic"]))
    return 0


def render_command(args: argparse.Namespace) -> int:
    """``render``: a finished run's ``video.mp4`` rendered again, from its policy and configuration.

    The video shows the run's first held-out task after one inner step, as training's final evaluation
    renders it; the adapted parameters are recomputed with the evaluation's seeds, so the episode's
    return must equal the one ``summary.json`` recorded (checked: a mismatch is an error, and the old
    video is kept).
    """
    import json

    import torch

    from hw14_lib.config import TrainConfig
    from hw14_lib.policy import load_policy
    from hw14_lib.training import CONFIG, POLICY, SUMMARY, VIDEO, evaluate_meta_policy
    from hw14_lib.video import record_video

    folders = [Path(r) for r in args.runs]
    for folder in folders:  # check every input before the first evaluation
        for name in (CONFIG, POLICY, SUMMARY):
            if not (folder / name).is_file():
                raise UsageError(f"{folder / name} does not exist; is {folder} a finished run folder?")
    for folder in folders:
        cfg = TrainConfig.from_yaml(folder / CONFIG)
        recorded = json.loads((folder / SUMMARY).read_text(encoding="utf-8")).get("video_return")
        torch.set_num_threads(cfg.torch_threads)  # as in training, whose evaluation this repeats
        policy = load_policy(folder / POLICY)
        _, tasks, history = evaluate_meta_policy(cfg, policy, steps=1)
        out = folder / f".{VIDEO}.rerender.mp4"
        ret = record_video(policy, history[1][0], tasks[0], out, horizon=cfg.horizon, seed=cfg.seed)
        if ret is None:
            return 1  # record_video warned why
        if recorded is not None and not math.isclose(ret, recorded, rel_tol=1e-9, abs_tol=1e-6):
            out.unlink()
            raise UsageError(
                f"{folder}: the re-rendered episode's return {ret:.6f} differs from summary.json's {recorded:.6f}; "
                "the old video is kept"
            )
        out.replace(folder / VIDEO)
        print(f"{folder / VIDEO}: task {tasks[0].label()} after one step, return {ret:.1f}")
    return 0


def plot_command(args: argparse.Namespace) -> int:
    """``plot``: every run's training plots and the comparison figures of ``results/figures/``."""
    from hw14_lib.io_utils import read_jsonl
    from hw14_lib.plots import plot_training_curves

    count = 0
    for root in args.roots:
        for metrics_path in sorted(Path(root).glob("**/metrics.jsonl")):
            records = read_jsonl(metrics_path)
            if records:
                plot_training_curves(records, metrics_path.parent)
                count += 1
    print(f"plotted {count} run(s)")
    if Path(args.results).is_dir():
        figures = comparison_figures_of(Path(args.results))
        print(f"wrote {len(figures)} comparison figure(s) to {Path(args.results) / 'figures'}")
    return 0


def comparison_figures_of(results: Path) -> list[Path]:
    """The figures comparing the runs under ``results``, written to ``results/figures/``."""
    from hw14_lib.report_assets import comparison_figures
    from hw14_lib.report_data import load_later_steps, load_runs

    later_steps = load_later_steps(results / "later_steps")
    return comparison_figures(load_runs(results), results / "figures", later_steps=later_steps)


def report_assets_command(args: argparse.Namespace) -> int:
    """``report-assets``: the report's figures, tables and numbers (optionally the PDF)."""
    from hw14_lib.latex_build import build_pdf
    from hw14_lib.packaging import display_name, validate_full_name, validate_student_number
    from hw14_lib.report_assets import generate_report_assets

    student = {}
    if args.full_name is not None:
        student["student_name"] = display_name(validate_full_name(args.full_name))
    if args.student_number is not None:
        student["student_number"] = validate_student_number(args.student_number)
    written = generate_report_assets(results=args.results, benchmarks=args.benchmarks, out=args.out, **student)
    print(f"wrote {len(written)} files to {args.out}/")
    if args.build:
        print(f"built {build_pdf('HW14_Solution.tex')}")
    return 0


def package_command(args: argparse.Namespace) -> int:
    """``package``: the report and the course's submission zip."""
    from hw14_lib.packaging import build_submission

    path = build_submission(
        student_number=args.student_number, full_name=args.full_name, notebook=args.notebook, dist=args.dist
    )
    print(f"wrote {path}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": train_command,
    "evaluate": evaluate_command,
    "results": results_command,
    "diagnose": diagnose_command,
    "later-steps": later_steps_command,
    "plot": plot_command,
    "render": render_command,
    "report-assets": report_assets_command,
    "package": package_command,
}
"""Sub-command name -> its implementation."""
