"""Seconds per TRPO direction solve: the Gauss-Newton curvature product against the direct route.

The TRPO meta-step solves ``F s = -g`` by conjugate gradient, ``F`` the Hessian of the mean query KL
(:mod:`hw14_lib.rl.trust_region`). Three routes to ``F v`` are timed on the same sampled direction-task
meta-batch (B tasks, N = 20 trajectories of T = 200 steps, ``K`` inner steps, second order):

* ``autograd``: :func:`hw14_lib.rl.trust_region.kl_hessian_by_autograd`, the KL differentiated twice
  through the inner loop (third-order graphs), all trajectories;
* ``gauss-newton all``: :func:`hw14_lib.rl.trust_region.meta_fisher_vector_product` on all trajectories
  (the same matrix, so the solved directions must agree);
* ``gauss-newton n=5``: the same on the first 5 trajectories per task, as the configs use.

Each case times the meta-gradient ``g`` (the same work in every route), building the product and
10 conjugate-gradient iterations, so the ratios understate the product's own speed-up; the cases
run round-robin (median of ``--rounds``), so load from
other processes hits them alike. Sampling one batch and a whole default TRPO step are timed once,
for scale.

Usage: ``python benchmarks/bench_trpo_curvature.py [--meta-batch 8] [--rounds 3] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from hw14_lib.rl.make_env import make_task_vector_env  # noqa: E402
from hw14_lib.rl.maml import MetaBatch, meta_objective  # noqa: E402
from hw14_lib.rl.policy import GaussianMLPPolicy, policy_params  # noqa: E402
from hw14_lib.rl.tasks import Task  # noqa: E402
from hw14_lib.rl.trust_region import (  # noqa: E402
    conjugate_gradient,
    kl_hessian_by_autograd,
    meta_fisher_vector_product,
)
from hw14_lib.run.config import TrainConfig  # noqa: E402
from hw14_lib.run.training import draw_meta_batch, make_outer_optimizer, make_policy  # noqa: E402

ROUTES = ("autograd", "gauss-newton all", "gauss-newton n=5")


def solve_direction(route: str, cfg: TrainConfig, policy: GaussianMLPPolicy, batch: MetaBatch) -> torch.Tensor:
    """Build ``v -> F v`` by ``route`` and solve ``(F + damping) s = -g``; returns ``s``."""
    inner = cfg.inner_loop
    theta = policy_params(policy)
    loss, adapted = meta_objective(policy, theta, batch, inner, estimator="ratio")
    g = torch.nn.utils.parameters_to_vector(torch.autograd.grad(loss, list(theta.values()), retain_graph=True))
    if route == "autograd":
        product = kl_hessian_by_autograd(policy, theta, adapted, batch)
    else:
        n = None if route == "gauss-newton all" else cfg.trpo_curvature_trajectories
        product = meta_fisher_vector_product(policy, theta, adapted, batch, inner, trajectories=n)
    return conjugate_gradient(
        lambda v: product(v) + cfg.trpo_cg_damping * v, -g.detach(), iterations=cfg.trpo_cg_iterations
    )


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meta-batch", type=int, default=8, help="tasks per meta-batch (the runs use 20)")
    parser.add_argument("--inner-steps", default="1,2", help="comma-separated K values")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "trpo_curvature.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results: dict[str, object] = {"meta_batch": args.meta_batch, "rounds": args.rounds, "by_inner_steps": {}}
    for k in (int(x) for x in args.inner_steps.split(",")):
        cfg = TrainConfig.from_yaml(ROOT / "configs" / "dir.yaml", meta_batch_size=args.meta_batch, inner_steps=k)
        policy = make_policy(cfg)
        envs = make_task_vector_env([Task.backward()] * (cfg.meta_batch_size * cfg.trajectories_per_task))
        start = time.perf_counter()
        batch = draw_meta_batch(cfg, policy, envs, np.random.default_rng(0), torch.Generator().manual_seed(0))
        sampling_s = time.perf_counter() - start
        envs.close()
        seconds: dict[str, list[float]] = {r: [] for r in ROUTES}
        directions: dict[str, torch.Tensor] = {}
        for _ in range(args.rounds):
            for route in ROUTES:
                start = time.perf_counter()
                directions[route] = solve_direction(route, cfg, policy, batch)
                seconds[route].append(time.perf_counter() - start)
        stepped = copy.deepcopy(policy)
        start = time.perf_counter()
        make_outer_optimizer(cfg, stepped).step(batch, cfg.inner_loop)
        step_s = time.perf_counter() - start
        ref = directions["autograd"]
        row = {
            "sampling_s": sampling_s,
            "default_trpo_step_s": step_s,
            "solve_s": {r: statistics.median(s) for r, s in seconds.items()},
            "relative_difference_to_autograd": {
                r: float((directions[r] - ref).norm() / ref.norm()) for r in ROUTES[1:]
            },
            # TRPO rescales the direction to the trust region, so its angle is what matters.
            "cosine_to_autograd": {r: float(torch.cosine_similarity(directions[r], ref, dim=0)) for r in ROUTES[1:]},
        }
        results["by_inner_steps"][str(k)] = row  # type: ignore[index]
        base = row["solve_s"]["autograd"]
        print(f"K = {k}: sampling {sampling_s:.1f} s, default TRPO step {step_s:.1f} s")
        for r in ROUTES:
            s = row["solve_s"][r]
            diff = row["relative_difference_to_autograd"].get(r, 0.0)
            cos = row["cosine_to_autograd"].get(r, 1.0)
            print(f"  {r:18s} {s:6.2f} s  x{base / s:4.1f}  |s - s_ag| / |s_ag| = {diff:.1e}  cos(s, s_ag) = {cos:.4f}")
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
