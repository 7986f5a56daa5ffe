"""Env steps per second of whole meta-iterations, against the physics ceiling of the machine's cores.

Every hw14_lib case is one meta-iteration of the real training path, timed end to end (sampling the
support and query sets, advantages, the inner step, the meta-objective and the outer step):

* ``backward Adam threads=k``: ``configs/backward.yaml`` (B = 5 tasks x N = 20 trajectories x T = 200,
  second-order MAML, Adam) with ``k`` physics threads.
* ``direction TRPO threads=k``: ``configs/dir.yaml`` (B = 20 x N = 20 x T = 200, the TRPO meta-step).
* ``paper direction TRPO threads=k``: ``configs/paper_dir.yaml`` (B = 40 x N = 20 x T = 200 on the paper's
  environment, frame skip 1).
* ``... processes=2``: the same with ``sampler: processes``, two worker processes sampling a block of copies each
  (the TRPO step's two threads as before).
* ``seed-style``: :mod:`benchmarks.seed_style`, one environment, one trajectory per support/query set.
* ``gymnasium step``: ``gym.make("HalfCheetah-v5").step`` with random actions, one core.
* ``physics M=m skip=s threads=k``: HalfCheetah's physics alone, the ceiling: ``mujoco.rollout`` of the same batch
  of ``m = B * N`` copies, ``s`` substeps per env step (5, or the paper's 1), T steps, with preallocated arrays,
  from HalfCheetah-v5's reset states and under the untrained policy's kind of actions (``clip(N(0, 1))``), on one
  thread (inline) or split over ``k`` Python threads (one block of copies each, as the sampler does).

The ceiling of a case is **2 x the one-thread physics rate of its batch** measured in the same rounds (what
the two cores could simulate if they did nothing else); each case reports its fraction of it. The cases
run round-robin in one process (one warm-up round, then up to ``--rounds`` timed rounds within
``--budget-s`` seconds), so a slow-down from other processes hits every case alike; each figure is the
median over the timed rounds, and the ratios are ratios of those medians. A subprocess measures the peak
RSS of one meta-iteration of ``configs/paper_vel.yaml`` (B = 40, N = 20, T = 200, TRPO).

Usage: ``python benchmarks/bench_meta_iteration.py [--rounds 5] [--budget-s 240] [--out PATH]``
(``make bench``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import inspect
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
# `--serve TREE` (the child of `--before`): the cases run on the hw14_lib of another checkout, TREE.
CODE_ROOT = Path(sys.argv[sys.argv.index("--serve") + 1]) if "--serve" in sys.argv else ROOT
for path in (ROOT, CODE_ROOT):  # run as a script from anywhere: `python benchmarks/bench_meta_iteration.py`
    if str(path) in sys.path:
        sys.path.remove(str(path))
    sys.path.insert(0, str(path))

from benchmarks.seed_style import SeedMAML  # noqa: E402
from hw14_lib.rl.make_env import make_task_vector_env  # noqa: E402
from hw14_lib.rl.tasks import Task  # noqa: E402
from hw14_lib.run.config import TrainConfig  # noqa: E402
from hw14_lib.run.training import draw_meta_batch, make_outer_optimizer, make_policy  # noqa: E402

HORIZON = 200
RAW_STEPS = 5000  # steps per timed run of the raw Gymnasium case
EPISODE = 1000  # HalfCheetah-v5's time limit
Case = Callable[[], int | tuple[int, float]]
"""Runs one unit of work; returns the env steps it took (and the CPU seconds, for work done in a child)."""
CONFIGS = {
    "backward Adam": ROOT / "configs" / "backward.yaml",
    "direction TRPO": ROOT / "configs" / "dir.yaml",
    "paper direction TRPO": ROOT / "configs" / "paper_dir.yaml",
}
BEFORE_CASES = ("backward Adam threads=2", "direction TRPO threads=2", "paper direction TRPO threads=2")
"""The cases `--before REF` also runs on the code of REF, in the same rounds."""


def training_config(path: Path, threads: int) -> TrainConfig:
    """A configuration file's training setup, with ``threads`` physics threads."""
    return TrainConfig.from_yaml(path, physics_threads=threads)


def hw14_case(
    cfg: TrainConfig, parts: dict[str, list[float]] | None = None, stack: contextlib.ExitStack | None = None
) -> Case:
    """One meta-iteration of hw14_lib's training loop (``draw_meta_batch`` + the outer optimizer's step).

    When given, ``parts`` receives each iteration's wall seconds of sampling (``draw_meta_batch``: rollouts,
    advantages, the detached inner step) and of the outer step, and ``stack`` closes the environment (its worker
    processes, if any) when it exits.
    """
    policy = make_policy(cfg)
    optimizer = make_outer_optimizer(cfg, policy)
    envs = make_task_vector_env(
        [Task.backward()] * (cfg.meta_batch_size * cfg.trajectories_per_task),
        num_threads=cfg.physics_threads,
        env=cfg.env_spec,
        # An older tree (--before) has no worker processes: only its threads cases run.
        **({"processes": True} if getattr(cfg, "sampler", "threads") == "processes" else {}),
    )
    if stack is not None:
        stack.callback(envs.close)
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    inner = cfg.inner_loop

    workers = getattr(envs, "pids", [])

    def run() -> int | tuple[int, float]:
        start, cpu = time.perf_counter(), time.process_time() + cpu_seconds(workers)
        batch = draw_meta_batch(cfg, policy, envs, rng, generator)
        sampled = time.perf_counter()
        if len(inspect.signature(optimizer.step).parameters) == 3:  # a --before tree of an older interface
            optimizer.step(policy, batch, inner)
        else:
            optimizer.step(batch, inner)
        if parts is not None:
            parts.setdefault("sampling", []).append(sampled - start)
            parts.setdefault("outer step", []).append(time.perf_counter() - sampled)
        steps = sum(s.num_steps for s in batch.supports) + batch.query.num_steps
        # With worker processes, their CPU seconds count too.
        return (steps, time.process_time() + cpu_seconds(workers) - cpu) if workers else steps

    return run


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` have used so far, from ``/proc`` (Linux)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def physics_case(copies: int, threads: int, frame_skip: int = 5) -> Case:
    """``HORIZON`` env steps of ``copies`` HalfCheetahs in ``mujoco.rollout`` (``frame_skip`` substeps each: 5 for
    Gymnasium's cheetah, 1 for the paper's), inline on one thread or as ``threads`` blocks in Python threads: the
    physics of a meta-batch and nothing else."""
    import mujoco
    from mujoco import rollout

    from hw14_lib.rl.parallel import map_in_threads
    from hw14_lib.rl.vector_env import HalfCheetahVectorEnv, half_cheetah_xml_path

    model = mujoco.MjModel.from_xml_path(half_cheetah_xml_path())
    # Start and act as the sampler's untrained policy does: HalfCheetah-v5's reset noise, actions clip(N(0, 1))
    # held for the 5 substeps (the physics' cost depends on the gait it is asked for).
    envs = HalfCheetahVectorEnv([Task.backward()] * copies)
    envs.reset(seed=0)
    initial = envs._state.copy()
    envs.close()
    noise = np.random.default_rng(0).standard_normal((HORIZON, copies, 1, model.nu))
    controls = np.repeat(np.clip(noise, -1.0, 1.0), frame_skip, axis=2)
    bounds = [round(k * copies / threads) for k in range(threads + 1)]
    blocks = [(lo, hi, rollout.Rollout(nthread=0), mujoco.MjData(model)) for lo, hi in itertools.pairwise(bounds)]

    def block(item: tuple[int, int, rollout.Rollout, mujoco.MjData]) -> None:
        lo, hi, runner, data = item
        state = initial[lo:hi].copy()
        out = np.empty((hi - lo, frame_skip, initial.shape[1]))
        models = [model] * (hi - lo)
        for t in range(HORIZON):
            control = np.ascontiguousarray(controls[t, lo:hi])
            runner.rollout(models, [data], state, control, nstep=frame_skip, state=out, skip_checks=True)
            state[:] = out[:, -1]

    def run() -> int:
        map_in_threads(block, blocks, workers=threads)
        return copies * HORIZON

    return run


def seed_case() -> Case:
    """One meta-iteration of the starter code's loop."""
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
            done = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            steps, cpu = done if isinstance(done, tuple) else (done, cpu)  # a child's case: its own CPU time
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


RSS_CONFIG = ROOT / "configs" / "paper_vel.yaml"


def peak_rss_child() -> None:
    """In a fresh process: one meta-iteration of ``configs/paper_vel.yaml`` (the paper's velocity tasks, B = 40,
    N = 20, TRPO), then print the peak RSS in bytes."""
    torch.set_num_threads(1)
    hw14_case(training_config(RSS_CONFIG, 2))()
    # Linux reports ru_maxrss in KiB.
    print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def measure_peak_rss() -> int:
    """Peak RSS of :func:`peak_rss_child` run in its own interpreter, so the peak is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child"], check=True, capture_output=True, text=True, cwd=ROOT
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


SEED, GYM = "seed-style", "gymnasium step (1 core)"


def physics_name(copies: int, threads: int, frame_skip: int) -> str:
    return f"physics M={copies} skip={frame_skip} threads={threads}"


def serve(tree: Path) -> None:
    """The child of ``--before``: build the :data:`BEFORE_CASES` on the hw14_lib of ``tree`` (already first on
    ``sys.path``), then run the case named on each stdin line and answer ``{"steps": ..., "cpu": ...}``."""
    torch.set_num_threads(1)
    cases = {name: hw14_case(training_config(CONFIGS[name.rsplit(" threads=", 1)[0]], 2)) for name in BEFORE_CASES}
    print(json.dumps({"ready": str(tree)}), flush=True)
    for line in sys.stdin:
        cpu = time.process_time()
        steps = cases[line.strip()]()
        print(json.dumps({"steps": steps, "cpu": time.process_time() - cpu}), flush=True)


def before_cases(ref: str, stack: contextlib.ExitStack, log: Callable[[str], None]) -> dict[str, Case]:
    """The :data:`BEFORE_CASES` on the code of git ``ref``: a worktree of it and a child process that serves them."""
    tree = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hw14_before_"))) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT, check=True, capture_output=True)
    stack.callback(subprocess.run, ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(tree)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    stack.callback(child.wait)
    stack.callback(child.stdin.close)
    log(f"before: {ref} in {tree}: {child.stdout.readline().strip()}")

    def case(name: str) -> Case:
        def run() -> tuple[int, float]:
            child.stdin.write(name + "\n")
            child.stdin.flush()
            answer = json.loads(child.stdout.readline())
            return answer["steps"], answer["cpu"]

        return run

    return {f"{name} before": case(name) for name in BEFORE_CASES}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after one warm-up round")
    parser.add_argument("--budget-s", type=float, default=300.0, help="stop adding rounds past this many seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--skip-rss", action="store_true", help="do not measure the paper velocity peak RSS")
    parser.add_argument("--before", metavar="REF", help="also time the main cases on the code of git REF")
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        peak_rss_child()
        return {}
    if args.serve:
        serve(args.serve)
        return {}
    if args.rounds < 2:
        parser.error(f"--rounds={args.rounds} must be >= 2")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    torch.set_num_threads(1)  # as training does (TrainConfig.torch_threads = 1), for every case
    info = machine_info()
    total_start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        cases: dict[str, Case] = {SEED: seed_case(), GYM: gymnasium_case()}
        parts: dict[str, dict[str, list[float]]] = {}
        physics_of: dict[str, tuple[int, int]] = {}  # case -> (copies, frame skip) of its physics
        for label, path in CONFIGS.items():
            for threads, sampler in ((1, "threads"), (2, "threads"), (2, "processes")):
                cfg = dataclasses.replace(training_config(path, threads), sampler=sampler)
                name = f"{label} {sampler}={threads}"
                parts[name] = {}
                cases[name] = hw14_case(cfg, parts[name], stack)
                physics = (cfg.meta_batch_size * cfg.trajectories_per_task, 1 if cfg.env == "paper" else 5)
                physics_of[name] = physics_of[f"{name} before"] = physics
        if args.before:
            cases.update(before_cases(args.before, stack, log))
        for copies, skip in sorted(set(physics_of.values())):
            for threads in (1, 2):
                name = physics_name(copies, threads, skip)
                cases[name] = physics_case(copies, threads, skip)
                physics_of[name] = (copies, skip)
        timings = time_rounds(cases, args.rounds, budget_s=args.budget_s, log=log)
    wall = {name: statistics.median(t.wall) for name, t in timings.items()}
    cpu = {name: statistics.median(t.cpu) for name, t in timings.items()}

    def ceiling(name: str) -> float | None:
        """2 x the one-thread physics rate of the case's batch."""
        return 2 * wall[physics_name(physics_of[name][0], 1, physics_of[name][1])] if name in physics_of else None

    rows = []
    for name, t in timings.items():
        top = ceiling(name)
        rows.append(
            {
                "case": name,
                "steps_per_s": wall[name],
                "min": min(t.wall),
                "max": max(t.wall),
                "steps_per_cpu_s": cpu[name],
                "cores_used": statistics.median(t.cores),
                "vs_seed": wall[name] / wall[SEED],
                "vs_gymnasium": wall[name] / wall[GYM],
                "of_2core_ceiling": None if top is None else wall[name] / top,
                "rounds_steps_per_s": t.wall,
            }
        )
    shares = {name: {part: statistics.median(v[1:] or v) for part, v in p.items()} for name, p in parts.items() if p}
    peak_rss = None
    if not args.skip_rss:
        log(f"peak RSS of one meta-iteration of {RSS_CONFIG.relative_to(ROOT)} (B=40, N=20, T=200), in a subprocess")
        peak_rss = measure_peak_rss()
    info["load_average_1min_end"] = os.getloadavg()[0]
    results: dict[str, object] = {
        "workload": {
            "configs": {label: str(path.relative_to(ROOT)) for label, path in CONFIGS.items()},
            "policy": "64-64 Tanh MLP",
            "horizon": HORIZON,
            "ceiling": "2 x the one-thread mujoco.rollout rate of the same copies and frame skip, same rounds",
            "rounds": len(timings[SEED].wall),
            "statistic": "median over round-robin rounds of env steps per wall second, after a warm-up round",
        },
        "machine": info,
        "cases": rows,
        "seconds_per_iteration": shares,
        "peak_rss_bytes_paper_vel_B40_N20_T200": peak_rss,
        "before": args.before,
        "bench_seconds": time.perf_counter() - total_start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(format_table(rows, results))
    return results


def format_table(rows: list[dict[str, object]], results: dict[str, object]) -> str:
    """The markdown table printed at the end (the one in benchmarks/README.md)."""
    lines = [
        "| case | env steps/s | min-max | of the 2-core ceiling | x seed-style | x Gymnasium step | cores used |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        share = "" if row["of_2core_ceiling"] is None else f"{row['of_2core_ceiling']:.0%}"
        lines.append(
            f"| {row['case']} | {row['steps_per_s']:,.0f} | {row['min']:,.0f}-{row['max']:,.0f} | {share} | "
            f"{row['vs_seed']:.1f} | {row['vs_gymnasium']:.2f} | {row['cores_used']:.2f} |"
        )
    lines.append("")
    for name, part in results["seconds_per_iteration"].items():
        lines.append(f"{name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in part.items()) + " per iteration")
    rss = results["peak_rss_bytes_paper_vel_B40_N20_T200"]
    if rss is not None:
        config = RSS_CONFIG.relative_to(ROOT)
        lines.append(f"peak RSS of one meta-iteration of {config} (B=40, N=20): {rss / 2**30:.2f} GiB")
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
