"""Command line: ``python -m hw14_lib {train,evaluate,results,diagnose,later-steps,plot,report-assets,package} ...``.

Bad input (a missing or malformed config, an unknown key, a bad value, a policy file that is not
one, a run folder that cannot be used) prints one line ``error: ...`` on stderr and exits with
status 2, without a traceback and before anything is written. A non-finite meta-loss or
meta-gradient (:class:`~hw14_lib.outer.NonFiniteError`) prints ``error: <quantity> is not finite ...``
and exits with status 1: the input was valid, the run failed, and its last good checkpoint is kept.
Ctrl-C during training exits with status 130 and prints how to resume; SIGTERM (``kill``) is handled
the same way and exits with status 143. Warnings (a skipped video, a
torn metrics line dropped on resume) are printed as one line ``warning: ...``.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

DEFAULT_CONFIG = "configs/backward.yaml"


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m hw14_lib",
        description="MAML (Finn et al. 2017) for MuJoCo HalfCheetah: train, evaluate, plot.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="meta-train a policy", description="Meta-train a policy with MAML.")
    train.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config file (default: {DEFAULT_CONFIG})")
    train.add_argument("--out", required=True, help="run folder to write (e.g. runs/NAME)")
    group = train.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    group.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (YAML value), e.g. --set iterations=10; repeatable",
    )
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument("--no-eval", action="store_true", help="skip the final evaluation and video")

    ev = sub.add_parser(
        "evaluate",
        help="evaluate a trained policy before and after adaptation",
        description="Deterministic returns of a policy before and after k adaptation steps.",
    )
    ev.add_argument("--policy", required=True, help="policy file written by training (policy.pt)")
    ev.add_argument(
        "--config",
        default=None,
        help="config giving the task and inner-loop settings (default: config.yaml beside the policy, "
        f"else {DEFAULT_CONFIG})",
    )
    ev.add_argument("--steps", type=int, default=None, help="adaptation steps to measure (default: from config)")
    ev.add_argument(
        "--later-scale",
        type=float,
        default=None,
        metavar="C",
        help="take the steps after the first at C * alpha (default: 1; the report finds 0.25 better)",
    )
    ev.add_argument("--video", default=None, help="write an mp4 of one deterministic episode after one step")
    ev.add_argument("--json", default=None, help="also write the results to this JSON file")

    res = sub.add_parser(
        "results",
        help="run the report's experiments (resumable)",
        description="Train and evaluate the experiments of the report into results/<name>/, resuming unfinished ones.",
    )
    res.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run only these experiments")
    res.add_argument("--list", action="store_true", help="list the experiments and their state, run nothing")
    res.add_argument("--root", default="results", help="results folder (default: results)")
    res.add_argument("--jobs", type=int, default=1, help="experiments to run at once, one process each (default: 1)")
    res.add_argument(
        "--physics-threads", type=int, default=None, help="physics threads per run (default: 2 // jobs, at least 1)"
    )
    res.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this many minutes")
    res.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    res.add_argument(
        "--interim",
        action="store_true",
        help="evaluate the last checkpoint of each unfinished experiment (interim_summary.json), train nothing",
    )

    diag = sub.add_parser(
        "diagnose",
        help="measure what one inner step does (KL, return gain) for several step sizes",
        description="For a policy (or a fresh initialization) and a config's task distribution: the mean "
        "KL(pi_theta || pi_theta') of one inner step, its size, and the return before/after it, per alpha.",
    )
    diag.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config (default: {DEFAULT_CONFIG})")
    diag.add_argument("--policy", default=None, help="policy file (default: a fresh initialization from the config)")
    diag.add_argument("--alphas", default="0.1", help="comma-separated inner step sizes (default: 0.1)")
    diag.add_argument("--tasks", type=int, default=8, help="tasks to average over (default: 8)")
    diag.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    diag.add_argument("--json", default=None, help="also write the rows to this JSON file")

    later = sub.add_parser(
        "later-steps",
        help="re-evaluate finished runs with the steps after the first scaled by c",
        description="For each finished run folder: its final evaluation (same held-out tasks and seeds, "
        "k = 0..K) once per scale c, with step sizes alpha, c*alpha, c*alpha, ... Writes OUT/<run>.json.",
    )
    later.add_argument("runs", nargs="+", help="run folders holding config.yaml and policy.pt")
    later.add_argument("--scales", default="1,0.5,0.25", help="comma-separated scales c (default: 1,0.5,0.25)")
    later.add_argument("--out", default="results/later_steps", help="output folder (default: results/later_steps)")
    later.add_argument(
        "--validation",
        action="store_true",
        help="evaluate on validation tasks and seeds (those of seed + 1000) instead of the held-out ones; "
        "writes OUT/<run>_validation.json",
    )
    later.add_argument("--physics-threads", type=int, default=2, help="physics threads (default: 2)")
    later.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    plot = sub.add_parser(
        "plot",
        help="regenerate figures from metrics.jsonl files",
        description="Regenerate meta_loss.png and query_return.png of every run folder under the given roots, "
        "and the figures comparing the experiments (adaptation curves, seeds' learning curves, ablations) "
        "in results/figures/.",
    )
    plot.add_argument("roots", nargs="*", default=["runs", "results"], help="folders to search (default: runs results)")
    plot.add_argument(
        "--results",
        default="results",
        help="experiments folder whose runs are compared in RESULTS/figures/ (default: results; skipped if missing)",
    )

    assets = sub.add_parser(
        "report-assets",
        help="regenerate the report's figures, tables and numbers",
        description="Regenerate report/generated/ (figures, tables, numbers.tex) from results/ and "
        "benchmarks/results.json; missing inputs read n/a. With --build, also build HW14_Solution.pdf.",
    )
    assets.add_argument("--results", default="results", help="results folder (default: results)")
    assets.add_argument("--benchmarks", default="benchmarks/results.json", help="benchmark results JSON")
    assets.add_argument("--out", default="report/generated", help="output folder (default: report/generated)")
    assets.add_argument("--student-number", default=None, help="student number for the title page (digits)")
    assets.add_argument("--full-name", default=None, help="full name for the title page (CamelCase, e.g. JaneDoe)")
    assets.add_argument("--build", action="store_true", help="then build HW14_Solution.pdf with latexmk")

    package = sub.add_parser(
        "package",
        help="build the report and the course submission zip",
        description="Rebuild HW14_Solution.pdf and write dist/DRL_HW14_<StudentNumber>_<FullName>.zip with the "
        "PDF, the LaTeX sources (HW14_Solution.zip) and Notebooks/.",
    )
    package.add_argument("--student-number", required=True, help="digits only, e.g. 400123456")
    package.add_argument("--full-name", required=True, help="CamelCase without spaces, e.g. JaneDoe")
    package.add_argument("--notebook", default=None, help="notebook to submit (default: Notebooks/HW14_MAML.ipynb)")
    package.add_argument("--dist", default="dist", help="output folder (default: dist)")
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the same orderly stop as Ctrl-C (checkpoint kept, resume command printed)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    terminated: list[int] = []

    def on_sigterm(signum: int, frame: object) -> None:
        terminated.append(signum)
        raise Terminated("terminated")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            status = _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 128 + signal.SIGTERM if terminated and status == 130 else status


def _show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    """Print a warning as one line ``warning: ...`` (not Python's file:line and source line)."""
    print(f"warning: {message}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "diagnose":
            return _diagnose(args)
        if args.command == "later-steps":
            return _later_steps(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "results":
            return _results(args)
        if args.command == "report-assets":
            return _report_assets(args)
        if args.command == "package":
            return _package(args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # NonFiniteError: a fault of the run, not of the input
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"\n{exc or 'interrupted'}", file=sys.stderr)
        return 130
    raise AssertionError(args.command)  # pragma: no cover - argparse enforces the choices


def _parse_overrides(pairs: Sequence[str]) -> dict[str, object]:
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


def _train(args: argparse.Namespace) -> int:
    from hw14_lib.config import TrainConfig
    from hw14_lib.training import train

    cfg = TrainConfig.from_yaml(args.config, **_parse_overrides(args.set))
    summary = train(
        cfg,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        evaluate=not args.no_eval,
    )
    out = Path(args.out)
    print(f"results in {out}/: metrics.jsonl, summary.json, policy.pt, meta_loss.png, query_return.png")
    print(f"env steps {summary['env_steps']:,}, training time {summary['wall_seconds']:.0f} s")
    if "pre_adaptation_return" in summary:
        print(
            f"deterministic return before adaptation {summary['pre_adaptation_return']:.1f}, "
            f"after one step {summary['post_adaptation_return']:.1f}"
        )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from hw14_lib.config import TrainConfig
    from hw14_lib.evaluation import record_video
    from hw14_lib.policy import load_policy
    from hw14_lib.training import ACT_DIM, OBS_DIM, evaluate_meta_policy

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
        step_sizes = [cfg.inner_lr] + [args.later_scale * cfg.inner_lr] * (max(1, steps) - 1)
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


def _results(args: argparse.Namespace) -> int:
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
    _comparison_figures(root)
    if unfinished:
        print(f"unfinished (run again to resume): {', '.join(unfinished)}")
    else:
        print(f"all requested experiments are finished; see {root}/")
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    import numpy as np

    from hw14_lib.config import TrainConfig
    from hw14_lib.diagnostics import inner_step_report
    from hw14_lib.policy import load_policy
    from hw14_lib.tasks import sample_tasks
    from hw14_lib.training import make_policy

    cfg = TrainConfig.from_yaml(args.config, **_parse_overrides(args.set))
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


def _later_steps(args: argparse.Namespace) -> int:
    import torch

    from hw14_lib.config import TrainConfig
    from hw14_lib.diagnostics import later_step_study
    from hw14_lib.io_utils import atomic_write_json
    from hw14_lib.policy import load_policy

    try:
        scales = [float(c) for c in args.scales.split(",")]
    except ValueError as exc:
        raise UsageError(f"--scales {args.scales!r} must be comma-separated numbers") from exc
    folders = [Path(r) for r in args.runs]
    for folder in folders:  # check every input before the first (minutes-long) evaluation
        for name in ("config.yaml", "policy.pt"):
            if not (folder / name).is_file():
                raise UsageError(f"{folder / name} does not exist; is {folder} a finished run folder?")
    for folder in folders:
        cfg = TrainConfig.from_yaml(folder / "config.yaml", physics_threads=args.physics_threads)
        torch.set_num_threads(cfg.torch_threads)  # as in training, whose final evaluation c = 1 repeats
        rows = later_step_study(
            cfg,
            load_policy(folder / "policy.pt"),
            scales=scales,
            validation=args.validation,
            progress=not args.no_progress,
            label=folder.name,
        )
        name = f"{folder.name}_validation" if args.validation else folder.name
        record = {"run": folder.name, "validation": args.validation, "config": cfg.to_dict(), "rows": rows}
        path = atomic_write_json(Path(args.out) / f"{name}.json", record)
        tasks = "validation" if args.validation else "held-out"
        print(
            f"{folder.name}: mean return on the {tasks} tasks after k = 0..{len(rows[0]['step_sizes'])} steps ({path})"
        )
        for row in rows:
            print(f"  c = {row['scale']:<5g}" + "".join(f"{v:9.1f}" for v in row["mean_stochastic"]))
    return 0


def _plot(args: argparse.Namespace) -> int:
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
        figures = _comparison_figures(Path(args.results))
        print(f"wrote {len(figures)} comparison figure(s) to {Path(args.results) / 'figures'}")
    return 0


def _comparison_figures(results: Path) -> list[Path]:
    from hw14_lib.report_assets import comparison_figures
    from hw14_lib.report_data import load_later_steps, load_runs

    later_steps = load_later_steps(results / "later_steps")
    return comparison_figures(load_runs(results), results / "figures", later_steps=later_steps)


def _report_assets(args: argparse.Namespace) -> int:
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


def _package(args: argparse.Namespace) -> int:
    from hw14_lib.packaging import build_submission

    path = build_submission(
        student_number=args.student_number, full_name=args.full_name, notebook=args.notebook, dist=args.dist
    )
    print(f"wrote {path}")
    return 0
