"""``evaluate``: returns of a policy before and after k inner steps, optional video and JSON."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from hw14_lib.commands.common import DEFAULT_CONFIG, UsageError

MAX_STEPS = 20
"""Inner steps ``evaluate`` measures at most (each samples a fresh support set per task)."""


def add_evaluate_parser(subparsers: Any) -> None:
    """The ``evaluate`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained policy before and after adaptation",
        description="Deterministic returns of a policy before and after k adaptation steps.",
    )
    parser.add_argument("--policy", required=True, help="policy file written by training (policy.pt)")
    parser.add_argument(
        "--config",
        default=None,
        help="config giving the task and inner-loop settings (default: config.yaml beside the policy, "
        f"else {DEFAULT_CONFIG})",
    )
    parser.add_argument("--steps", type=int, default=None, help="adaptation steps to measure (default: from config)")
    parser.add_argument(
        "--later-scale",
        type=float,
        default=None,
        metavar="C",
        help="take the steps after the first at C * alpha (default: 1; the report finds 0.25 better)",
    )
    parser.add_argument("--video", default=None, help="write an mp4 of one deterministic episode after one step")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.set_defaults(handler=evaluate_command)


def evaluate_command(args: argparse.Namespace) -> int:
    """``evaluate``: returns of a policy before and after k inner steps, optional video and JSON."""
    from hw14_lib.rl.envs import ACT_DIM
    from hw14_lib.rl.policy import load_policy
    from hw14_lib.run.config import TrainConfig
    from hw14_lib.run.evaluation import evaluate_meta_policy, later_step_sizes
    from hw14_lib.run.run_folder import CONFIG
    from hw14_lib.run.run_identity import check_config_matches_run
    from hw14_lib.run.video import record_video

    policy_path = Path(args.policy)
    policy = load_policy(policy_path)
    config_path = args.config
    if config_path is None:
        beside = policy_path.parent / CONFIG
        config_path = beside if beside.exists() else DEFAULT_CONFIG
    cfg = TrainConfig.from_yaml(config_path)
    if args.config is None and Path(config_path).parent == policy_path.parent:
        check_config_matches_run(cfg, policy_path.parent)
    if (policy.obs_dim, policy.act_dim) != (cfg.observation_dim, ACT_DIM):
        where = "HalfCheetah" if cfg.env == "gymnasium" else "the paper's HalfCheetah"
        raise UsageError(
            f"policy {str(policy_path)!r} has observation/action sizes {policy.obs_dim}/{policy.act_dim}; "
            f"{where} needs {cfg.observation_dim}/{ACT_DIM}"
        )
    steps = cfg.eval_adaptation_steps if args.steps is None else args.steps
    if not 0 <= steps <= MAX_STEPS:
        raise UsageError(f"--steps {steps}: allowed an integer in [0, {MAX_STEPS}]")
    if args.json and Path(args.json).is_dir():
        raise UsageError(f"--json {args.json!r} is a folder; name a file")
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
        from hw14_lib.common.io_utils import atomic_write_json

        atomic_write_json(args.json, curve)
    return 0
