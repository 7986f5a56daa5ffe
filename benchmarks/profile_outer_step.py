"""Where a paper-direction meta-iteration spends its time, on one thread, and what that leaves for two cores.

One meta-iteration of ``configs/paper_dir.yaml`` (B = 40 tasks x N = 20 trajectories x T = 200 steps on the paper's
environment, the TRPO meta-step) is timed in its two parts, sampling and the outer step, after a warm-up iteration;
the outer step runs again under PyTorch's profiler, which counts the floating-point operations of its matrix
products (``aten::mm``, ``addmm``, ``bmm``, ``baddbmm``). The core's float32 matrix-product rate (a 1024 x 1024
``mm``) and the physics of the iteration alone (``mujoco.rollout`` of the same 800 copies, 400 steps: ``make bench``'s
physics case) are measured in the same run. From these:

* the seconds the outer step's matrix products would take at the core's rate, against the step's own (the profiler
  counts the operations; its timings are inflated by its own cost and not used): how far the step is from the
  arithmetic it must do;
* the best share of the 2-core physics ceiling a meta-iteration could reach if sampling cost nothing beyond its
  physics and the outer step split perfectly over the two cores, ``physics / (physics + outer step)`` (one thread
  each), and the same with the outer step reduced to its matrix products at the core's rate.

Usage: ``python benchmarks/profile_outer_step.py [--out benchmarks/results.json]`` (about a minute; ``make bench`` runs
it after ``bench_meta_iteration.py``): the result goes under the key ``outer_step_profile`` of that file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_meta_iteration import physics_case  # noqa: E402
from hw14_lib.rl.make_env import make_task_vector_env  # noqa: E402
from hw14_lib.rl.tasks import Task  # noqa: E402
from hw14_lib.run.config import TrainConfig  # noqa: E402
from hw14_lib.run.training import draw_meta_batch, make_outer_optimizer, make_policy  # noqa: E402

PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")
"""The profiler's names of the matrix products."""


def matmul_rate(size: int = 1024, repeats: int = 20) -> float:
    """FLOP/s of one core's float32 ``size x size`` matrix product."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def physics_seconds(copies: int, steps: int) -> float:
    """Seconds of one thread's ``mujoco.rollout`` of ``copies`` paper cheetahs (frame skip 1) for ``steps`` steps,
    one call per step as sampling makes them: ``make bench``'s physics case (:func:`bench_meta_iteration.physics_case`,
    reset states and clipped Gaussian controls), the ceiling its cases are measured against."""
    case = physics_case(copies, 1, frame_skip=1)
    case()  # warm-up
    start = time.perf_counter()
    done = 0
    while done < steps * copies:
        done += case()
    return (time.perf_counter() - start) * steps * copies / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = TrainConfig.from_yaml(ROOT / "configs" / "paper_dir.yaml", physics_threads=1)
    policy = make_policy(cfg)
    optimizer = make_outer_optimizer(cfg, policy)
    copies = cfg.meta_batch_size * cfg.trajectories_per_task
    envs = make_task_vector_env([Task.backward()] * copies, num_threads=1, env=cfg.env_spec)
    rng, generator = np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    timings: dict[str, list[float]] = {"sampling": [], "outer step": []}
    for _ in range(3):  # a warm-up iteration, then two timed
        start = time.perf_counter()
        batch = draw_meta_batch(cfg, policy, envs, rng, generator)
        sampled = time.perf_counter()
        optimizer.step(batch, cfg.inner_loop)
        timings["sampling"].append(sampled - start)
        timings["outer step"].append(time.perf_counter() - sampled)
    batch = draw_meta_batch(cfg, policy, envs, rng, generator)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_flops=True) as prof:
        optimizer.step(batch, cfg.inner_loop)
    product_flops = sum(e.flops for e in prof.key_averages() if e.key in PRODUCTS)
    steps = cfg.horizon * (cfg.training_inner_steps + 1)
    physics = physics_seconds(copies, steps)
    sampling, outer = (float(np.median(timings[k][1:])) for k in ("sampling", "outer step"))
    peak = matmul_rate()
    result = {
        "config": "configs/paper_dir.yaml",
        "threads": 1,
        "env_steps_per_iteration": copies * steps,
        "seconds_one_thread": {"sampling": sampling, "outer step": outer, "physics alone": physics},
        "core_matmul_gflops_rate": peak / 1e9,
        "outer_step_matrix_products": {
            "gflop": product_flops / 1e9,
            "seconds_at_core_rate": product_flops / peak,
            "share_of_outer_step": product_flops / peak / outer,
        },
        "best_share_of_2core_ceiling": physics / (physics + outer),
        "best_share_with_outer_step_at_core_rate": physics / (physics + product_flops / peak),
    }
    merged = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    merged["outer_step_profile"] = result
    args.out.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
