"""``render``: a finished run's ``video.mp4`` rendered again, checked against its ``summary.json``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from hw14_lib.commands.common import UsageError


def add_render_parser(subparsers: Any) -> None:
    """The ``render`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "render",
        help="render the video of finished runs again",
        description="Render video.mp4 of each finished run folder again (tracking camera): its first held-out "
        "task after one inner step, as the final evaluation renders it. The episode's return must equal "
        "summary.json's video_return, else the old video is kept and the command fails.",
    )
    parser.add_argument("runs", nargs="+", help="finished run folders (config.yaml, policy.pt, summary.json)")
    parser.set_defaults(handler=render_command)


def render_command(args: argparse.Namespace) -> int:
    """``render``: a finished run's ``video.mp4`` rendered again, from its policy and configuration.

    The video shows the run's first held-out task after one inner step, as training's final evaluation
    renders it; the adapted parameters are recomputed with the evaluation's seeds, so the episode's
    return must equal the one ``summary.json`` recorded (checked: a mismatch is an error, and the old
    video is kept).
    """
    import json

    import torch

    from hw14_lib.rl.policy import load_policy
    from hw14_lib.run.config import TrainConfig
    from hw14_lib.run.evaluation import evaluate_meta_policy
    from hw14_lib.run.run_folder import CONFIG, POLICY, SUMMARY, VIDEO
    from hw14_lib.run.video import record_video

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
        ret = record_video(policy, history[1][0], tasks[0], out, horizon=cfg.horizon, seed=cfg.seed, env=cfg.env_spec)
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
