"""``results``: train and evaluate the report's experiments (resumable); ``results list``, ``results interim`` and
``results ray ADDRESS`` list them, evaluate unfinished ones' checkpoints, or run them on a Ray cluster."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from hw14_lib.commands.common import UsageError
from hw14_lib.commands.plot import comparison_figures_of


def add_results_parser(subparsers: Any) -> None:
    """The ``results`` command: train the experiments (no sub-command), or ``list``, ``interim``, ``ray``."""
    parser = subparsers.add_parser(
        "results",
        help="run the report's experiments (resumable); list them, evaluate checkpoints, or run them on Ray",
        description="Train and evaluate the experiments of the report into results/<name>/, resuming unfinished ones "
        "(no sub-command), or: list their state, evaluate unfinished ones' checkpoints, run them on a Ray cluster.",
    )
    _common_options(parser)
    _run_options(parser)
    actions = parser.add_subparsers(dest="action", metavar="{list,interim,ray}")
    listing = actions.add_parser("list", help="list the experiments and their state, run nothing")
    _common_options(listing, sub=True)
    interim = actions.add_parser(
        "interim", help="evaluate the last checkpoint of each unfinished experiment (interim_summary.json)"
    )
    _common_options(interim, sub=True)
    _selection_options(interim)
    ray = actions.add_parser(
        "ray",
        help="run on a Ray cluster, one task per experiment (needs requirements-cluster.txt)",
        description="Run the experiments on the Ray cluster at ADDRESS, one task per experiment, resumed from their "
        "checkpoints.",
    )
    ray.add_argument("address", metavar="ADDRESS", help="HOST:PORT of the cluster's head, or 'auto'")
    _common_options(ray, sub=True)
    _selection_options(ray)
    ray.add_argument(
        "--storage", default=None, help="a folder every node reaches, for the run folders (default: --root)"
    )
    parser.set_defaults(handler=results_command)


def _common_options(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """``--root`` and ``--suite``, before or after a sub-command (after it, an option left out keeps the value
    given before: ``argparse.SUPPRESS``)."""
    parser.add_argument(
        "--root", default=argparse.SUPPRESS if sub else "results", help="results folder (default: results)"
    )
    parser.add_argument(
        "--suite",
        default=argparse.SUPPRESS if sub else "report",
        help="which experiments: 'report' (the report's, default) or 'smoke' (seconds-long, for tests)",
    )


def _selection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="+", default=argparse.SUPPRESS, metavar="NAME", help="only these experiments")
    parser.add_argument(
        "--physics-threads", type=int, default=argparse.SUPPRESS, help="physics threads per run (default: 2, Ray: 1)"
    )


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run only these experiments")
    parser.add_argument("--jobs", type=int, default=1, help="experiments to run at once, one process each (default: 1)")
    parser.add_argument(
        "--physics-threads", type=int, default=None, help="physics threads per run (default: 2 // jobs, at least 1)"
    )
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this many minutes")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def results_command(args: argparse.Namespace) -> int:
    """``results``: train and evaluate the report's experiments, list them, or evaluate checkpoints."""
    from hw14_lib.study.experiment_runs import (
        evaluate_interim,
        is_finished,
        physics_threads_per_job,
        run_experiment,
        run_experiments,
        write_status,
    )
    from hw14_lib.study.experiments import experiment_by_name, suite_experiments

    root = Path(args.root)
    if args.max_minutes is not None and not (math.isfinite(args.max_minutes) and args.max_minutes > 0):
        raise UsageError(f"--max-minutes {args.max_minutes}: allowed a finite number > 0")
    if args.jobs < 1 or (args.physics_threads is not None and args.physics_threads < 1):
        raise UsageError("--jobs and --physics-threads must be >= 1")
    try:
        experiments = suite_experiments(args.suite)
        selected = [experiment_by_name(n, args.suite) for n in args.only] if args.only else list(experiments)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.action == "ray":
        return _run_on_ray(args, root, selected)
    threads = physics_threads_per_job(args.jobs, args.physics_threads)
    if args.action == "list":
        print(write_status(root, experiments).read_text(encoding="utf-8"))
        return 0
    if args.action == "interim":
        for exp in selected:
            written = evaluate_interim(exp, root, physics_threads=threads)
            if written is not None:
                print(f"wrote {written}")
        return 0
    if args.only and len(args.only) == 1 and args.jobs == 1:
        deadline = None if args.max_minutes is None else time.monotonic() + 60.0 * args.max_minutes
        exp = selected[0]
        run_experiment(exp, root, progress=not args.no_progress, deadline=deadline, physics_threads=threads)
        unfinished = [] if is_finished(exp, root) else [exp.name]
    else:
        unfinished = run_experiments(
            [e.name for e in selected],
            root,
            jobs=args.jobs,
            physics_threads=threads,
            max_minutes=args.max_minutes,
            progress=not args.no_progress,
            suite=args.suite,
        )
    write_status(root, experiments)
    if args.suite == "report":
        comparison_figures_of(root)
    if unfinished:
        print(f"unfinished (run again to resume): {', '.join(unfinished)}")
    else:
        print(f"all requested experiments are finished; see {root}/")
    return 0


def _run_on_ray(args: argparse.Namespace, root: Path, selected: list[Any]) -> int:
    """``results ray``: the selected experiments as Ray tasks (:mod:`hw14_lib.study.cluster`)."""
    from hw14_lib.study.cluster import ClusterError, run_grid
    from hw14_lib.study.experiment_runs import write_status
    from hw14_lib.study.experiments import suite_experiments

    if args.jobs != 1 or args.max_minutes is not None:
        raise UsageError("results ray schedules every experiment itself: it takes no --jobs or --max-minutes")
    threads = args.physics_threads or 1
    storage = Path(args.storage) if args.storage else root
    resume = f"python -m hw14_lib results ray {args.address} --suite {args.suite} --root {root}"
    if args.storage:
        resume += f" --storage {storage}"
    try:
        unfinished = run_grid(selected, address=args.address, root=root, storage=storage, physics_threads=threads)
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"stopped; every experiment keeps its last checkpoint. Resume with: {resume}", flush=True)
        return 130
    write_status(root, suite_experiments(args.suite))
    if args.suite == "report":
        comparison_figures_of(root)
    if unfinished:
        print(f"unfinished (run again to resume): {', '.join(unfinished)}")
        return 1
    return 0
