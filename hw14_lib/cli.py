"""Command line: ``python -m hw14_lib COMMAND ...``, COMMAND one of train, evaluate, results, diagnose,
later-steps, protocol, plot, render, report-assets, package.

Bad input (a missing or malformed config, an unknown key, a bad value, a policy file that is not
one, a run folder that cannot be used) prints one line ``error: ...`` on stderr and exits with
status 2, without a traceback and before anything is written. A non-finite meta-loss or
meta-gradient (:class:`~hw14_lib.rl.outer.NonFiniteError`) prints ``error: <quantity> is not finite ...``
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
from typing import NoReturn

from hw14_lib.commands import diagnose, evaluate, plot, protocol, render, report, results, train
from hw14_lib.commands.common import UsageError
from hw14_lib.study.jobs import ExperimentFailed

SUB_COMMANDS = (
    train.add_train_parser,
    evaluate.add_evaluate_parser,
    results.add_results_parser,
    diagnose.add_diagnose_parser,
    diagnose.add_later_steps_parser,
    protocol.add_protocol_parser,
    plot.add_plot_parser,
    render.add_render_parser,
    report.add_report_assets_parser,
    report.add_package_parser,
)
"""Each adds one sub-command (in this order in ``--help``), its handler set as the ``handler`` default."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error of the command line (argparse
    prints the whole usage first); its sub-command parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = OneLineParser(
        prog="python -m hw14_lib",
        description="MAML (Finn et al. 2017) for MuJoCo HalfCheetah: train, evaluate, plot.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in SUB_COMMANDS:
        add_parser(subparsers)
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
        return args.handler(args)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # NonFiniteError: a fault of the run, not of the input
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ExperimentFailed as exc:  # a failed experiment of results --jobs N (its own error was printed above)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, read-only folder, a path under a file: the path and the cause
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"\n{str(exc) or 'interrupted'}", file=sys.stderr)
        return 130
