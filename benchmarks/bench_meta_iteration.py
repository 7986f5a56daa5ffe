"""Env steps per second of one MAML meta-iteration: the seed's loop, hw14_lib, and the physics limits.

Every case does the same work per environment step (HalfCheetah backward task, 64-64 Tanh MLP,
T = 200, meta-batch B = 5, one second-order inner step, Adam outer step) and is timed end to end:
sampling the support and query sets, the losses, the meta-gradient and the optimizer step.

* ``seed``: :mod:`benchmarks.seed_style`, one environment, one trajectory per support/query set.
* ``hw14 N=n threads=k``: ``hw14_lib.rl.maml.sample_meta_batch`` + ``AdamMetaOptimizer.step`` with
  ``n`` trajectories per task and ``k`` physics threads (the real training code path).
* ``gymnasium step``: ``gym.make("HalfCheetah-v5").step`` with random actions, one core.
* ``mj_step x5``: ``mujoco.mj_step(model, data, nstep=5)``, the physics alone, one core.

The cases run round-robin in one process (one warm-up round, then up to ``--rounds`` timed rounds
within ``--budget-s`` seconds), so a slow-down from other processes on the machine hits every case
alike; each figure is the median over the timed rounds, and the ratios are ratios of those
medians. Steps per CPU-second and the cores each case actually got are reported too: on a shared
machine they show what the wall-clock figures cannot. A subprocess measures the peak RSS of one
second-order meta-iteration at B = 20, N = 20, T = 200.

Usage: ``python benchmarks/bench_meta_iteration.py [--rounds 5] [--budget-s 170] [--out PATH]``
(``make bench``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: `python benchmarks/bench_meta_iteration.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.seed_style import SeedMAML  # noqa: E402
from hw14_lib.config import TrainConfig  # noqa: E402
from hw14_lib.rl.tasks import Task  # noqa: E402
from hw14_lib.rl.vector_env import make_task_vector_env  # noqa: E402
from hw14_lib.training import draw_meta_batch, make_outer_optimizer, make_policy  # noqa: E402

META_BATCH = 5
HORIZON = 200
RAW_STEPS = 5000  # steps per timed run of the raw Gymnasium / MuJoCo cases
EPISODE = 1000  # HalfCheetah-v5's time limit
Case = Callable[[], int]  # runs one unit of work, returns the env steps it took


def hw14_config(n: int, threads: int, *, meta_batch: int = META_BATCH) -> TrainConfig:
    """The benchmarked training configuration: the seed's task, sizes and second-order MAML."""
    return TrainConfig(
        task="backward",
        meta_batch_size=meta_batch,
        horizon=HORIZON,
        inner_steps=1,
        first_order=False,
        trajectories_per_task=n,
        physics_threads=threads,
    )


def hw14_case(cfg: TrainConfig, sampling_share: list[float] | None = None) -> Case:
    """One meta-iteration of hw14_lib's training loop (sampling + losses + meta-gradient + Adam).

    When given, ``sampling_share`` receives the fraction of each iteration's wall time spent in
    ``sample_meta_batch`` (rollouts, advantages and the detached inner step for the query policy).
    """
    policy = make_policy(cfg)
    optimizer = make_outer_optimizer(cfg, policy)
    envs = make_task_vector_env(
        [Task.backward()] * (cfg.meta_batch_size * cfg.trajectories_per_task), num_threads=cfg.physics_threads
    )
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    inner = cfg.inner_loop

    def run() -> int:
        start = time.perf_counter()
        batch = draw_meta_batch(cfg, policy, envs, rng, generator)
        sampled = time.perf_counter()
        optimizer.step(policy, batch, inner)
        if sampling_share is not None:
            sampling_share.append((sampled - start) / (time.perf_counter() - start))
        return sum(s.num_steps for s in batch.supports) + batch.query.num_steps

    return run


def seed_case() -> Case:
    """One meta-iteration of the seed's loop."""
    maml = SeedMAML()
    return lambda: int(maml.meta_iteration()["env_steps"])


def gymnasium_case() -> Case:
    """``RAW_STEPS`` calls of ``HalfCheetah-v5.step`` with uniform random actions, resetting every
    ``EPISODE`` steps (HalfCheetah-v5 truncates at 1000)."""
    env = gym.make("HalfCheetah-v5")
    env.reset(seed=0)
    space = env.action_space
    actions = np.random.default_rng(0).uniform(space.low, space.high, (EPISODE, *space.shape)).astype(space.dtype)

    def run() -> int:
        for _ in range(RAW_STEPS // EPISODE):
            env.reset()
            for action in actions:
                env.step(action)
        return RAW_STEPS

    return run


def mujoco_case() -> Case:
    """``RAW_STEPS`` env steps of bare physics: ``mj_step(model, data, nstep=5)`` (frame_skip 5)."""
    import mujoco  # after hw14_lib, which imports it with its OpenGL back end disabled

    env = gym.make("HalfCheetah-v5")
    model = env.unwrapped.model
    frame_skip = env.unwrapped.frame_skip
    data = mujoco.MjData(model)
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, (EPISODE, model.nu))

    def run() -> int:
        for _ in range(RAW_STEPS // EPISODE):
            mujoco.mj_resetData(model, data)
            for action in actions:
                data.ctrl[:] = action
                mujoco.mj_step(model, data, nstep=frame_skip)
        return RAW_STEPS

    return run


@dataclass
class Timings:
    """Steps per wall second and per CPU second (all threads of this process) of one case, per round."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    cores: list[float] = field(default_factory=list)
    """CPU seconds per wall second: how many cores the case actually got (shared machines give less)."""


def time_rounds(
    cases: dict[str, Case], rounds: int, *, budget_s: float, log: Callable[[str], None]
) -> dict[str, Timings]:
    """Time every case once per round, round-robin, after one untimed warm-up round.

    Stops before ``rounds`` when another round would not fit in ``budget_s`` seconds (at least two
    timed rounds always run).
    """
    timings = {name: Timings() for name in cases}
    start = time.perf_counter()
    for r in range(rounds + 1):
        round_start = time.perf_counter()
        for name, run in cases.items():
            wall, cpu = time.perf_counter(), time.process_time()
            steps = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if r > 0:
                timings[name].wall.append(steps / wall)
                timings[name].cpu.append(steps / cpu)
                timings[name].cores.append(cpu / wall)
        now = time.perf_counter()
        label = f"round {r}/{rounds}" + (" (warm-up)" if r == 0 else "")
        log(f"{label}: {now - round_start:.0f} s, load {os.getloadavg()[0]:.2f}")
        if r >= 2 and now - start + (now - round_start) > budget_s:
            log(f"stopping after {r} timed rounds to stay within the {budget_s:.0f} s budget")
            break
    return timings


def peak_rss_child(meta_batch: int, n: int) -> None:
    """In a fresh process: one second-order meta-iteration, then print the peak RSS in bytes."""
    torch.set_num_threads(1)
    cfg = hw14_config(n, 1, meta_batch=meta_batch)
    hw14_case(cfg)()
    # Linux reports ru_maxrss in KiB.
    print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def measure_peak_rss(meta_batch: int, n: int) -> int:
    """Peak RSS of :func:`peak_rss_child` run in its own interpreter, so the peak is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(meta_batch), str(n)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return int(json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_bytes"])


def machine_info() -> dict[str, object]:
    """What the figures were measured on."""
    import mujoco

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "mujoco": mujoco.__version__,
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
        "load_average_1min_start": os.getloadavg()[0],
    }


SEED, GYM, MJ = "seed-style", "gymnasium step (1 core)", "mj_step x5 (1 core)"
N20_1, N20_2 = "hw14_lib N=20 threads=1", "hw14_lib N=20 threads=2"


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after one warm-up round")
    parser.add_argument("--budget-s", type=float, default=170.0, help="stop adding rounds past this many seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--skip-rss", action="store_true", help="do not measure the B=20, N=20 peak RSS")
    parser.add_argument("--rss-child", nargs=2, type=int, metavar=("B", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        peak_rss_child(*args.rss_child)
        return {}
    if args.rounds < 2:
        parser.error(f"--rounds={args.rounds} must be >= 2")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    torch.set_num_threads(1)  # as training does (TrainConfig.torch_threads = 1), for every case
    info = machine_info()
    total_start = time.perf_counter()
    sampling_share: list[float] = []
    cases: dict[str, Case] = {SEED: seed_case()}
    for n in (1, 10, 20):
        for threads in (1, 2):
            share = sampling_share if (n, threads) == (20, 1) else None
            cases[f"hw14_lib N={n} threads={threads}"] = hw14_case(hw14_config(n, threads), share)
    cases[GYM] = gymnasium_case()
    cases[MJ] = mujoco_case()
    timings = time_rounds(cases, args.rounds, budget_s=args.budget_s, log=log)
    wall = {name: statistics.median(t.wall) for name, t in timings.items()}
    cpu = {name: statistics.median(t.cpu) for name, t in timings.items()}

    rows = [
        {
            "case": name,
            "steps_per_s": wall[name],
            "min": min(t.wall),
            "max": max(t.wall),
            "steps_per_cpu_s": cpu[name],
            "cores_used": statistics.median(t.cores),
            "vs_seed": wall[name] / wall[SEED],
            "vs_gymnasium": wall[name] / wall[GYM],
            "vs_mj_step": wall[name] / wall[MJ],
            "rounds_steps_per_s": t.wall,
        }
        for name, t in timings.items()
    ]
    peak_rss = None
    if not args.skip_rss:
        log("peak RSS of one meta-iteration at B=20, N=20, T=200, in a subprocess ...")
        peak_rss = measure_peak_rss(20, 20)
    info["load_average_1min_end"] = os.getloadavg()[0]
    results: dict[str, object] = {
        "workload": {
            "task": "HalfCheetah backward",
            "policy": "64-64 Tanh MLP",
            "horizon": HORIZON,
            "meta_batch": META_BATCH,
            "inner_steps": 1,
            "second_order": True,
            "outer": "Adam",
            "rounds": len(timings[SEED].wall),
            "statistic": "median over round-robin rounds of env steps per wall second, after a warm-up round",
        },
        "machine": info,
        "cases": rows,
        "ratios": {
            "hw14_N20_1thread_vs_seed": wall[N20_1] / wall[SEED],
            "hw14_N20_2threads_vs_seed": wall[N20_2] / wall[SEED],
            "hw14_N1_1thread_vs_seed": wall["hw14_lib N=1 threads=1"] / wall[SEED],
            "hw14_N20_1thread_vs_gymnasium": wall[N20_1] / wall[GYM],
            "hw14_N20_2threads_vs_gymnasium": wall[N20_2] / wall[GYM],
            "hw14_N20_best_vs_mj_step": max(wall[N20_1], wall[N20_2]) / wall[MJ],
            "hw14_N20_1thread_vs_gymnasium_cpu_time": cpu[N20_1] / cpu[GYM],
        },
        "hw14_N20_1thread_sampling_share": statistics.median(sampling_share[1:]),
        "peak_rss_bytes_B20_N20_T200": peak_rss,
        "bench_seconds": time.perf_counter() - total_start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(format_table(rows, results))
    return results


def format_table(rows: list[dict[str, object]], results: dict[str, object]) -> str:
    """The markdown table printed at the end (the one in benchmarks/README.md)."""
    lines = [
        "| case | env steps/s | min-max | x seed-style | x Gymnasium step | x mj_step | steps/CPU-s | cores used |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['steps_per_s']:,.0f} | {row['min']:,.0f}-{row['max']:,.0f} | "
            f"{row['vs_seed']:.1f} | {row['vs_gymnasium']:.2f} | {row['vs_mj_step']:.2f} | "
            f"{row['steps_per_cpu_s']:,.0f} | {row['cores_used']:.2f} |"
        )
    lines.append("")
    rss = results["peak_rss_bytes_B20_N20_T200"]
    if rss is not None:
        lines.append(f"peak RSS of one meta-iteration at B=20, N=20, T=200: {rss / 2**30:.2f} GiB")
    lines.append(
        f"share of the N=20 (1 thread) iteration spent sampling: {results['hw14_N20_1thread_sampling_share']:.0%}"
    )
    machine = results["machine"]
    lines.append(
        f"{machine['cpu_count']} CPUs, torch {machine['torch']}, mujoco {machine['mujoco']}, "
        f"gymnasium {machine['gymnasium']}; 1-min load {machine['load_average_1min_start']:.2f} -> "
        f"{machine['load_average_1min_end']:.2f}; {results['workload']['rounds']} timed rounds, "
        f"{results['bench_seconds']:.0f} s"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
