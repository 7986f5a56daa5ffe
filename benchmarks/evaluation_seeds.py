"""The spread of a run's final evaluation over sampling seeds: two policies of one configuration (a committed run
and its retraining, say), each evaluated as the final evaluation does (2 deterministic episodes and
``eval_trajectories`` stochastic trajectories per task, before and after one inner step) under ``--seeds`` other
sampling seeds, so the difference between the two runs can be read against the evaluation's own noise.

Usage: ``python benchmarks/evaluation_seeds.py OLD_RUN NEW_RUN --out FILE [--seeds 10]`` (a minute for backward).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hw14_lib.common.seeds import EVALUATION_TASK_SEED_OFFSET  # noqa: E402
from hw14_lib.rl.maml import policy_step_sizes  # noqa: E402
from hw14_lib.rl.policy import load_policy  # noqa: E402
from hw14_lib.run.config import TrainConfig  # noqa: E402
from hw14_lib.run.evaluation import adaptation_curve  # noqa: E402

FIRST_SEED = 1000
"""The sampling seeds are FIRST_SEED, FIRST_SEED + 1, ...: none of them the final evaluation's own."""


def returns_over_seeds(folder: Path, seeds: int) -> list[list[float]]:
    """``[deterministic k=0, deterministic k=1, stochastic k=0, stochastic k=1]`` of the run in ``folder`` under each
    of ``seeds`` sampling seeds (the final evaluation's tasks)."""
    cfg = TrainConfig.from_yaml(folder / "config.yaml")
    policy = load_policy(folder / "policy.pt")
    tasks = cfg.task_distribution.evaluation(cfg.eval_tasks, seed=cfg.seed + EVALUATION_TASK_SEED_OFFSET)
    rows = []
    for seed in range(FIRST_SEED, FIRST_SEED + seeds):
        curve, _ = adaptation_curve(
            policy, tasks, steps=1, num_trajectories=cfg.eval_trajectories, horizon=cfg.horizon,
            inner=cfg.inner_loop, advantages=cfg.advantage_settings, seed=seed, physics_threads=2, env=cfg.env_spec,
            step_sizes=policy_step_sizes(policy, 1, detach=True),
        )  # fmt: skip
        rows.append([*curve.mean_deterministic(), *curve.mean_stochastic()])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="run folder of the first policy")
    parser.add_argument("new", type=Path, help="run folder of the second policy (same configuration)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--seeds", type=int, default=10, help="sampling seeds per policy (default: 10)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = {
        "columns": ["deterministic k=0", "deterministic k=1", "stochastic k=0", "stochastic k=1"],
        "seeds": list(range(FIRST_SEED, FIRST_SEED + args.seeds)),
        "old": returns_over_seeds(args.old, args.seeds),
        "new": returns_over_seeds(args.new, args.seeds),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for name in ("old", "new"):
        values = np.asarray(result[name])
        cells = [f"{m:.1f} ± {s:.1f}" for m, s in zip(values.mean(0), values.std(0, ddof=1), strict=True)]
        print(f"{name}: " + ", ".join(f"{c} {v}" for c, v in zip(result["columns"], cells, strict=True)))


if __name__ == "__main__":
    main()
