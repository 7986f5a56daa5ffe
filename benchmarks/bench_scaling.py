"""How sampling throughput scales with the number of parallel trajectories M = B * N and with threads.

For each M in 1, 10, 50, 100, 200, 400, 800 (N = min(M, 20) trajectories per task, B = M / N tasks, backward
task, T = 200, a fresh 64-64 policy): env steps per wall second of ``sample_trajectories`` with 1 and 2
physics threads, and of the physics alone (``mujoco.rollout`` of M copies on one thread, the same case as
``bench_meta_iteration.py``), whose double is the 2-core ceiling. Round-robin, median of ``--rounds``
rounds after a warm-up round. Prints a markdown table and writes ``benchmarks/scaling.json``.

Usage: ``python benchmarks/bench_scaling.py [--rounds 3]`` (``make bench-scaling``, about 3 minutes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_meta_iteration import HORIZON, Case, machine_info, physics_case, time_rounds  # noqa: E402
from hw14_lib.rl.make_env import make_task_vector_env  # noqa: E402
from hw14_lib.rl.policy import policy_params  # noqa: E402
from hw14_lib.rl.sampling import sample_trajectories  # noqa: E402
from hw14_lib.rl.tasks import Task  # noqa: E402
from hw14_lib.run.config import TrainConfig  # noqa: E402
from hw14_lib.run.training import make_policy  # noqa: E402

COPIES = (1, 10, 50, 100, 200, 400, 800)


def sampling_case(copies: int, threads: int) -> Case:
    """One ``sample_trajectories`` call of ``copies`` trajectories (T = 200) at the initial parameters."""
    n = min(copies, 20)
    tasks = [Task.backward()] * (copies // n)
    policy = make_policy(TrainConfig())
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    envs = make_task_vector_env([t for t in tasks for _ in range(n)], num_threads=threads)
    generator = torch.Generator().manual_seed(0)

    def run() -> int:
        batch = sample_trajectories(
            policy, theta, envs, tasks, num_trajectories=n, horizon=HORIZON, generator=generator, seed=0
        )
        return batch.num_steps

    return run


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up round")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "scaling.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cases: dict[str, Case] = {}
    for m in COPIES:
        cases[f"physics M={m}"] = physics_case(m, 1)
        for threads in (1, 2):
            cases[f"sampling M={m} threads={threads}"] = sampling_case(m, threads)
    timings = time_rounds(cases, args.rounds, budget_s=600.0, log=lambda msg: print(msg, file=sys.stderr))
    rate = {name: statistics.median(t.wall) for name, t in timings.items()}
    rows = []
    for m in COPIES:
        ceiling = 2 * rate[f"physics M={m}"]
        row = {"copies": m, "physics_1thread": rate[f"physics M={m}"]}
        for threads in (1, 2):
            row[f"sampling_{threads}thread"] = rate[f"sampling M={m} threads={threads}"]
            row[f"of_ceiling_{threads}thread"] = rate[f"sampling M={m} threads={threads}"] / ceiling
        rows.append(row)
    result = {"machine": machine_info(), "rounds": args.rounds, "horizon": HORIZON, "rows": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        "| M = B·N | physics, 1 thread | sampling, 1 thread | sampling, 2 threads | 2 threads / 1 "
        "| of the 2-core ceiling |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['copies']} | {row['physics_1thread']:,.0f} | {row['sampling_1thread']:,.0f} | "
            f"{row['sampling_2thread']:,.0f} | {row['sampling_2thread'] / row['sampling_1thread']:.2f} | "
            f"{row['of_ceiling_2thread']:.0%} |"
        )
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
