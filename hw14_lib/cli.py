"""Command line: ``python -m hw14_lib COMMAND ...``, COMMAND one of train, evaluate, results, diagnose,
later-steps, plot, render, report-assets, package.

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
import signal
import sys
import warnings
from collections.abc import Sequence

from hw14_lib.commands import COMMANDS, DEFAULT_CONFIG, UsageError


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
    later.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="first inner step size instead of the run's inner_lr (a baseline's best step need not be "
        "MAML's); writes OUT/<run>_alpha<A>[_validation].json",
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

    render = sub.add_parser(
        "render",
        help="render the video of finished runs again",
        description="Render video.mp4 of each finished run folder again (tracking camera): its first held-out "
        "task after one inner step, as the final evaluation renders it. The episode's return must equal "
        "summary.json's video_return, else the old video is kept and the command fails.",
    )
    render.add_argument("runs", nargs="+", help="finished run folders (config.yaml, policy.pt, summary.json)")

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
        "PDF, the LaTeX sources (HW14_Solution.zip) and Notebooks/ (the notebook, hw14_lib, configs, results and a "
        "README). The notebook must hold the outputs of a full-mode run: a copy saved after Run All in quick mode "
        "(HW14_QUICK=1), or with a code cell not executed or showing an error, is refused (exit 2, nothing written); "
        "`git checkout Notebooks/HW14_MAML.ipynb` restores the committed one.",
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
        return COMMANDS[args.command](args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # NonFiniteError: a fault of the run, not of the input
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"\n{exc or 'interrupted'}", file=sys.stderr)
        return 130
