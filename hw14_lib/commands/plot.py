"""``plot``: every run's training plots and the figures comparing the experiments."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_plot_parser(subparsers: Any) -> None:
    """The ``plot`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "plot",
        help="regenerate figures from metrics.jsonl files",
        description="Regenerate meta_loss.png and query_return.png of every run folder under the given roots, "
        "and the figures comparing the experiments (adaptation curves, seeds' learning curves, ablations) "
        "in results/figures/.",
    )
    parser.add_argument(
        "roots", nargs="*", default=["runs", "results"], help="folders to search (default: runs results)"
    )
    parser.add_argument(
        "--results",
        default="results",
        help="experiments folder whose runs are compared in RESULTS/figures/ (default: results; skipped if missing)",
    )
    parser.set_defaults(handler=plot_command)


def plot_command(args: argparse.Namespace) -> int:
    """``plot``: every run's training plots and the comparison figures of ``results/figures/``."""
    from hw14_lib.common.io_utils import read_jsonl
    from hw14_lib.run.plots import plot_training_curves

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
    from hw14_lib.report.assets import comparison_figures
    from hw14_lib.run.run_folder import load_runs
    from hw14_lib.study.later_steps import load_later_steps

    later_steps = load_later_steps(results / "later_steps")
    return comparison_figures(load_runs(results), results / "figures", later_steps=later_steps)
