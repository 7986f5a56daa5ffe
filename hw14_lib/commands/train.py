"""``train``: meta-train a configuration into a run folder (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hw14_lib.commands.common import DEFAULT_CONFIG, parse_overrides


def add_train_parser(subparsers: Any) -> None:
    """The ``train`` sub-command's arguments."""
    parser = subparsers.add_parser("train", help="meta-train a policy", description="Meta-train a policy with MAML.")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config file (default: {DEFAULT_CONFIG})")
    parser.add_argument("--out", required=True, help="run folder to write (e.g. runs/NAME)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    group.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (YAML value), e.g. --set iterations=10; repeatable",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--no-eval", action="store_true", help="skip the final evaluation and video")
    parser.set_defaults(handler=train_command)


def train_command(args: argparse.Namespace) -> int:
    """``train``: meta-train a configuration into a run folder (resumable)."""
    from hw14_lib.run.config import TrainConfig
    from hw14_lib.run.run_folder import METRICS, POLICY, SUMMARY, TRAINING_PLOTS
    from hw14_lib.run.training import train

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
    written = [METRICS, SUMMARY, POLICY, *TRAINING_PLOTS]
    written += [summary["video"]] if summary.get("video") else []
    print(f"results in {out}/: {', '.join(written)}")
    print(f"env steps {summary['env_steps']:,}, training time {summary['wall_seconds']:.0f} s")
    if "pre_adaptation_return" in summary:
        print(
            f"deterministic return before adaptation {summary['pre_adaptation_return']:.1f}, "
            f"after one step {summary['post_adaptation_return']:.1f}"
        )
    return 0
