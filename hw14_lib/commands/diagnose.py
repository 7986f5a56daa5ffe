"""``diagnose`` (what one inner step does, per step size) and ``later-steps`` (finished runs re-evaluated
with the steps after the first scaled by ``c``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from hw14_lib.commands.common import DEFAULT_CONFIG, UsageError, parse_overrides


def add_diagnose_parser(subparsers: Any) -> None:
    """The ``diagnose`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "diagnose",
        help="measure what one inner step does (KL, return gain) for several step sizes",
        description="For a policy (or a fresh initialization) and a config's task distribution: the mean "
        "KL(pi_theta || pi_theta') of one inner step, its size, and the return before/after it, per alpha.",
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"YAML config (default: {DEFAULT_CONFIG})")
    parser.add_argument("--policy", default=None, help="policy file (default: a fresh initialization from the config)")
    parser.add_argument("--alphas", default="0.1", help="comma-separated inner step sizes (default: 0.1)")
    parser.add_argument("--tasks", type=int, default=8, help="tasks to average over (default: 8)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument(
        "--gradient-variance",
        type=int,
        default=0,
        metavar="BATCHES",
        help="instead: the meta-gradient's variance under the REINFORCE, LVC and DiCE inner estimators, on the "
        "same BATCHES meta-batches of the config at the policy's theta (ProMP's claim: LVC's is below DiCE's)",
    )
    parser.set_defaults(handler=diagnose_command)


def diagnose_command(args: argparse.Namespace) -> int:
    """``diagnose``: what one inner step does to a policy, per step size."""
    import numpy as np

    from hw14_lib.rl.policy import load_policy
    from hw14_lib.run.config import TrainConfig
    from hw14_lib.run.training import make_policy
    from hw14_lib.study.diagnostics import inner_step_report

    cfg = TrainConfig.from_yaml(args.config, **parse_overrides(args.set))
    try:
        alphas = [float(a) for a in args.alphas.split(",")]
    except ValueError as exc:
        raise UsageError(f"--alphas {args.alphas!r} must be comma-separated numbers") from exc
    if not all(math.isfinite(a) and a > 0 for a in alphas):
        raise UsageError(f"--alphas {args.alphas!r}: allowed finite step sizes > 0")
    policy = load_policy(args.policy) if args.policy else make_policy(cfg)
    if args.gradient_variance:
        return _gradient_variance(args, cfg, policy)
    tasks = cfg.task_distribution.sample(args.tasks, np.random.default_rng(cfg.seed))
    rows = inner_step_report(policy, tasks, cfg, alphas=alphas, seed=cfg.seed)
    print(f"{'alpha':>7} {'KL':>10} {'|step|':>8} {'before':>9} {'after':>9} {'gain':>8} {'std':>6}")
    for r in rows:
        print(
            f"{r['alpha']:7.3f} {r['kl']:10.4f} {r['step_norm']:8.4f} {r['return_before']:9.1f} "
            f"{r['return_after']:9.1f} {r['gain']:8.1f} {r['std']:6.3f}"
        )
    if args.json:
        from hw14_lib.common.io_utils import atomic_write_json

        atomic_write_json(args.json, {"config": cfg.to_dict(), "policy": args.policy, "rows": rows})
    return 0


def _gradient_variance(args: argparse.Namespace, cfg: Any, policy: Any) -> int:
    from hw14_lib.study.diagnostics import meta_gradient_variance

    if args.gradient_variance < 2:
        raise UsageError(f"--gradient-variance {args.gradient_variance} must be >= 2 (a variance needs two batches)")
    result = meta_gradient_variance(policy, cfg, batches=args.gradient_variance, seed=cfg.seed)
    print(f"{'inner estimator':>16} {'trace Cov g':>12} {'||mean g||':>11} {'SNR':>7}")
    for estimator, r in result.items():
        print(f"{estimator:>16} {r['trace_cov']:12.4g} {r['mean_norm']:11.4g} {r['snr']:7.3f}")
    ratios = {other: result["ratio"]["trace_cov"] / result[other]["trace_cov"] for other in ("reinforce", "dice")}
    print(
        f"LVC / REINFORCE variance: {ratios['reinforce']:.3f}, LVC / DiCE variance: {ratios['dice']:.3f} "
        f"({args.gradient_variance} meta-batches)"
    )
    if args.json:
        from hw14_lib.common.io_utils import atomic_write_json

        record = {"config": cfg.to_dict(), "policy": args.policy, "batches": args.gradient_variance, **result}
        atomic_write_json(args.json, {**record, **{f"variance_ratio_lvc_over_{k}": v for k, v in ratios.items()}})
    return 0


def add_later_steps_parser(subparsers: Any) -> None:
    """The ``later-steps`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "later-steps",
        help="re-evaluate finished runs with the steps after the first scaled by c",
        description="For each finished run folder: its final evaluation (same held-out tasks and seeds, "
        "k = 0..K) once per scale c, with step sizes alpha, c*alpha, c*alpha, ... Writes OUT/<run>.json.",
    )
    parser.add_argument("runs", nargs="+", help="run folders holding config.yaml and policy.pt")
    parser.add_argument("--scales", default="1,0.5,0.25", help="comma-separated scales c (default: 1,0.5,0.25)")
    parser.add_argument("--out", default="results/later_steps", help="output folder (default: results/later_steps)")
    parser.add_argument(
        "--validation",
        action="store_true",
        help="evaluate on validation tasks and seeds (those of seed + 1000) instead of the held-out ones; "
        "writes OUT/<run>_validation.json",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="first inner step size instead of the run's inner_lr (a baseline's best step need not be "
        "MAML's); writes OUT/<run>_alpha<A>[_validation].json",
    )
    parser.add_argument("--physics-threads", type=int, default=2, help="physics threads (default: 2)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(handler=later_steps_command)


def later_steps_command(args: argparse.Namespace) -> int:
    """``later-steps``: finished runs re-evaluated with the steps after the first scaled by ``c``."""
    from dataclasses import replace

    import torch

    from hw14_lib.common.io_utils import atomic_write_json
    from hw14_lib.rl.policy import load_policy
    from hw14_lib.run.config import TrainConfig
    from hw14_lib.run.run_folder import CONFIG, POLICY
    from hw14_lib.study.diagnostics import later_step_study

    try:
        scales = [float(c) for c in args.scales.split(",")]
    except ValueError as exc:
        raise UsageError(f"--scales {args.scales!r} must be comma-separated numbers") from exc
    if args.alpha is not None and not (math.isfinite(args.alpha) and args.alpha > 0):
        raise UsageError(f"--alpha {args.alpha!r} must be a finite number > 0")
    folders = [Path(r) for r in args.runs]
    for folder in folders:  # check every input before the first (minutes-long) evaluation
        for name in (CONFIG, POLICY):
            if not (folder / name).is_file():
                raise UsageError(f"{folder / name} does not exist; is {folder} a finished run folder?")
    for folder in folders:
        cfg = TrainConfig.from_yaml(folder / CONFIG, physics_threads=args.physics_threads)
        if args.alpha is not None:
            cfg = replace(cfg, inner_lr=args.alpha)
        torch.set_num_threads(cfg.torch_threads)  # as in training, whose final evaluation c = 1 repeats
        rows = later_step_study(
            cfg,
            load_policy(folder / POLICY),
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
