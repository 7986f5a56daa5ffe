"""``results``: train and evaluate the report's experiments (resumable), list them, or evaluate checkpoints."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hw14_lib.commands.common import UsageError
from hw14_lib.commands.plot import comparison_figures_of


def add_results_parser(subparsers: Any) -> None:
    """The ``results`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "results",
        help="run the report's experiments (resumable)",
        description="Train and evaluate the experiments of the report into results/<name>/, resuming unfinished ones.",
    )
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="run only these experiments")
    parser.add_argument("--list", action="store_true", help="list the experiments and their state, run nothing")
    parser.add_argument("--root", default="results", help="results folder (default: results)")
    parser.add_argument("--jobs", type=int, default=1, help="experiments to run at once, one process each (default: 1)")
    parser.add_argument(
        "--physics-threads", type=int, default=None, help="physics threads per run (default: 2 // jobs, at least 1)"
    )
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this many minutes")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--interim",
        action="store_true",
        help="evaluate the last checkpoint of each unfinished experiment (interim_summary.json), train nothing",
    )
    parser.set_defaults(handler=results_command)


def results_command(args: argparse.Namespace) -> int:
    """``results``: train and evaluate the report's experiments, list them, or evaluate checkpoints."""
    from hw14_lib.experiments import (
        EXPERIMENTS,
        evaluate_interim,
        experiment_by_name,
        is_finished,
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
        unfinished = [] if is_finished(exp, root) else [exp.name]
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
