"""The numbers the report quotes, computed from the loaded runs and the benchmark results.

Each function fills a :class:`~hw14_lib.report.tex.NumberSheet` under a fixed set of keys, so the
keys exist (reading "n/a") even before their inputs do:

* ``paper.<fam>.<method>.k<k>``, ``paper.<fam>.oracle``: Finn et al. (2017);
* ``<fam>.<method>.k<k>`` (mean over seeds), ``.k<k>.std``, ``.k<k>.pm`` (mean +- std), ``.det.k<k>``
  (mean action), ``.gain`` (k=1 minus k=0), ``.seeds``, ``.msteps`` (env steps, millions), ``.hours``,
  ``.interim`` (empty, or which checkpoint an unfinished run's numbers evaluate: :func:`interim_note`);
* ``backward.*``; ``hp.<column>.<field>`` for every config field; ``bench.*``;
* ``later.<run>.{k0,k1,tasks}`` and ``later.<run>.c<100 c>.{k2,k3,up}``: the later-steps studies,
  and ``later.<fam>.c<100 c>.k<k>.pm`` over the seeds' held-out studies (:func:`later_step_numbers`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from hw14_lib.common import catalogue
from hw14_lib.report.data import (
    FAMILIES,
    METHODS,
    PAPER_CURVES,
    PAPER_META_BATCH,
    PAPER_ORACLE,
    ablation_name,
    curve_stats,
    evaluated,
    late_query_return,
    mean_budget,
    runs_of,
    seeds_of,
)
from hw14_lib.report.tex import (
    NumberSheet,
    as_number,
    config_value,
    curve_at,
    latex_escape,
    tex_learning_speed,
    tex_pm,
    tex_seed_mean,
)
from hw14_lib.rl.maml import META_OBJECTIVE
from hw14_lib.rl.tasks import Task
from hw14_lib.run.run_folder import Run
from hw14_lib.study.later_steps import LaterStepStudy

STEPS = 4  # the paper's curves: after 0, 1, 2 and 3 inner steps
HYPERPARAMETERS: tuple[tuple[str, str], ...] = (
    ("task", r"$p(\mathcal{T})$"),
    ("objective", ""),
    ("iterations", ""),
    ("meta_batch_size", "$B$"),
    ("trajectories_per_task", "$N$"),
    ("horizon", "$T$"),
    ("inner_lr", r"$\alpha$"),
    ("inner_steps", "$K$"),
    ("inner_l2", r"$\lambda_2$"),
    ("first_order", ""),
    ("inner_estimator", ""),
    ("gamma", r"$\gamma$"),
    ("gae_lambda", r"$\lambda$"),
    ("baseline", r"$V$"),
    ("normalize_advantages", ""),
    ("outer_optimizer", ""),
    ("outer_lr", r"$\beta$"),
    ("trpo_max_kl", r"$\delta$"),
    ("trpo_cg_iterations", ""),
    ("trpo_cg_damping", ""),
    ("hidden_sizes", ""),
    ("init_log_std", r"$\log\sigma_0$"),
)
BENCH_CONFIGS = ("backward Adam", "direction TRPO", "paper direction TRPO")
"""The training configurations ``benchmarks/bench_meta_iteration.py`` times (``--before`` too, on 2 threads)."""
BENCH_CASES: tuple[str, ...] = (
    "seed-style",
    "gymnasium step (1 core)",
    *(f"{config} threads={k}" for config in BENCH_CONFIGS for k in (1, 2)),
    *(f"{config} processes=2" for config in BENCH_CONFIGS),
    *(f"{config} threads=2 before" for config in BENCH_CONFIGS),
    *(f"physics M={m} skip=5 threads={k}" for m in (100, 400) for k in (1, 2)),
    *(f"physics M=800 skip=1 threads={k}" for k in (1, 2)),
)
"""The cases of ``benchmarks/bench_meta_iteration.py`` (their numbers read n/a until it has run)."""


def paper_numbers(sheet: NumberSheet) -> None:
    """``paper.*``: the MAML paper's curves, oracles and batch size."""
    for fam, curves in PAPER_CURVES.items():
        for method, values in curves.items():
            for k, value in enumerate(values):
                sheet.put(f"paper.{fam}.{method}.k{k}", value)
            sheet.put(f"paper.{fam}.{method}.gain", values[1] - values[0])
        sheet.put(f"paper.{fam}.oracle", PAPER_ORACLE[fam])
    for (name, fam), (mean, std) in catalogue.PUBLISHED_ONE_STEP.items():
        sheet.put(f"published.{fam}.{name}.k1", mean)
        sheet.put(f"published.{fam}.{name}.k1.sd", std)
    sheet.put("paper.tasks", PAPER_META_BATCH[0], 0)
    sheet.put("paper.trajectories", PAPER_META_BATCH[1], 0)


def family_numbers(sheet: NumberSheet, runs: Mapping[str, Run]) -> None:
    """``<fam>.<method>.*`` over the seeds of each experiment."""
    for fam in FAMILIES:
        for method in METHODS:
            seeds = runs_of(runs, env="gymnasium", family=fam, method=method)
            prefix = f"{fam}.{method}"
            stats = curve_stats(seeds)
            det = curve_stats(seeds, "deterministic")
            for k in range(STEPS):
                mean = curve_at(stats, k)
                sheet.put(f"{prefix}.k{k}", mean)
                sheet.put(f"{prefix}.k{k}.std", curve_at(stats, k, std=True))
                sheet.text(f"{prefix}.k{k}.pm", tex_pm(mean, curve_at(stats, k, std=True), stats.seeds if stats else 0))
                sheet.put(f"{prefix}.det.k{k}", curve_at(det, k))
            gain = None if curve_at(stats, 1) is None else curve_at(stats, 1) - curve_at(stats, 0)  # type: ignore[operator]
            sheet.put(f"{prefix}.gain", gain)
            sheet.put(f"{prefix}.seeds", stats.seeds if stats else None, 0)
            sheet.put(f"{prefix}.runs", len(seeds), 0)
            msteps, hours = mean_budget(seeds)
            sheet.put(f"{prefix}.msteps", msteps)
            sheet.put(f"{prefix}.hours", hours, 2)
            sheet.text(f"{prefix}.interim", interim_note(evaluated(seeds)))


def interim_note(runs: Sequence[Run]) -> str:
    """Text to follow a quoted number that averages over ``runs``: empty when every run is finished,
    else which checkpoint the number evaluates (e.g. `` (interim: checkpoint at 582 of 1000
    meta-iterations)``), so that running text never passes an unfinished run off as a result."""
    unfinished = [run for run in runs if not run.finished]
    if not unfinished:
        return ""
    if len(unfinished) == 1:
        run = unfinished[0]
        done, total = (run.evaluation or {}).get("iterations"), run.config.get("iterations")
        return f" (interim: checkpoint at {done} of {total} meta-iterations)"
    return f" (interim: {len(unfinished)} of {len(runs)} seeds evaluated at a checkpoint)"


def backward_numbers(sheet: NumberSheet, run: Run | None) -> None:
    """``backward.*``: the single-task run's returns before and after one inner step, and its budget."""
    det = run.curve("deterministic") if run else None
    sto = run.curve("stochastic") if run else None
    for k in range(2):
        sheet.put(f"backward.det.k{k}", det[k] if det and len(det) > k else None)
        sheet.put(f"backward.k{k}", sto[k] if sto and len(sto) > k else None)
    sheet.put("backward.msteps", run.env_steps / 1e6 if run and run.metrics else None)
    sheet.put("backward.minutes", run.wall_seconds / 60 if run and run.metrics else None)
    sheet.put("backward.iterations", len(run.metrics) if run and run.metrics else None, 0)


def hyperparameter_numbers(sheet: NumberSheet, columns: Mapping[str, dict[str, Any] | None]) -> None:
    """``hp.<column>.<field>`` for every config field, plus derived sizes; ``hp.default.*`` are
    :class:`TrainConfig`'s defaults (the starter code's)."""
    from hw14_lib.rl.envs import ACT_DIM, OBS_DIM
    from hw14_lib.run.config import TrainConfig

    default = TrainConfig().to_dict()
    fields = [f for f, _ in HYPERPARAMETERS] + sorted(set(default) - {f for f, _ in HYPERPARAMETERS} - {"notes"})
    for prefix, config in {**columns, "default": default}.items():
        for field in fields:
            sheet.text(f"hp.{prefix}.{field}", config_value(config, field))
        steps = params = None
        if config:
            inner = config["inner_steps"] if config.get("objective", META_OBJECTIVE) == META_OBJECTIVE else 0
            steps = config["meta_batch_size"] * config["trajectories_per_task"] * config["horizon"] * (inner + 1)
            widths = [OBS_DIM, *config["hidden_sizes"], ACT_DIM]
            params = sum((a + 1) * b for a, b in itertools.pairwise(widths)) + ACT_DIM
        sheet.put(f"hp.{prefix}.steps_per_iteration", steps, 0)
        sheet.put(f"hp.{prefix}.num_params", params, 0)


ABLATIONS: tuple[str, ...] = ("ablation_dir_first_order", "ablation_dir_no_baseline", "ablation_dir_two_inner_steps")
"""The ablations of ``make results`` (their numbers read n/a until they have run)."""


DIRECTIONS: tuple[str, ...] = tuple(Task.of_direction(d).label() for d in (-1.0, 1.0))
"""Task labels of the direction distribution's held-out evaluation."""
LEARNING_THRESHOLD = 300.0
"""The training query return whose first crossing ``*.reach`` reports (Gymnasium's direction ablations): a round
level, not the paper's number, which is measured on another environment."""


def ablation_numbers(sheet: NumberSheet, runs: Mapping[str, Run]) -> None:
    """``ablation.<name>.{k0,k1,k2,k3,gain,msteps,interim,reach,late}`` for every ``results/ablation_*``
    run, where ``<name>`` drops the ``ablation_dir_`` prefix and uses dashes (``first-order``), and
    ``ablation.reference.{reach,late}`` over the ``dir_maml`` seeds. ``reach``: the first
    meta-iteration whose 20-iteration mean training query return reached :data:`LEARNING_THRESHOLD`;
    ``late``: the mean training query return over the final 50 iterations; ``k1.<direction>``: the
    held-out return on one direction after one step; ``ablation.threshold``: :data:`LEARNING_THRESHOLD`."""
    names = dict.fromkeys([*ABLATIONS, *(n for n in runs if n.startswith("ablation_"))])
    sheet.put("ablation.threshold", LEARNING_THRESHOLD, 0)
    for name in names:
        slug = ablation_name(name).replace("_", "-").lower()
        run = runs.get(name)
        curve = run.curve() if run else None
        k0, k1 = (curve[0], curve[1]) if curve and len(curve) > 1 else (None, None)
        sheet.put(f"ablation.{slug}.k0", k0)
        sheet.put(f"ablation.{slug}.k1", k1)
        sheet.put(f"ablation.{slug}.gain", None if k0 is None or k1 is None else k1 - k0)
        for k in (2, 3):
            sheet.put(f"ablation.{slug}.k{k}", curve[k] if curve and len(curve) > k else None)
        sheet.put(f"ablation.{slug}.msteps", run.env_steps / 1e6 if run and run.metrics else None)
        sheet.text(f"ablation.{slug}.interim", interim_note([run] if curve else []))
        sheet.text(f"ablation.{slug}.reach", tex_learning_speed([run], LEARNING_THRESHOLD) if run else None)
        sheet.text(f"ablation.{slug}.late", tex_seed_mean([late_query_return(run)] if run else []))
        for direction in DIRECTIONS:
            sheet.put(f"ablation.{slug}.k1.{direction}", run.task_return(direction, 1) if run else None)
    reference = seeds_of(runs, "dir_maml")
    sheet.text("ablation.reference.reach", tex_learning_speed(reference, LEARNING_THRESHOLD) if reference else None)
    sheet.text("ablation.reference.late", tex_seed_mean([late_query_return(run) for run in reference]))
    done = evaluated(reference)
    for direction in DIRECTIONS:
        sheet.text(f"ablation.reference.k1.{direction}", tex_seed_mean([r.task_return(direction, 1) for r in done]))


PRETRAINED_STEP_SIZES: dict[str, float] = {"dir": 4.0, "vel": 0.01}
"""The pretrained policies' own step size, chosen by their one-step return on validation tasks
(``later-steps --alpha A --validation``) and quoted on the held-out ones."""
LATER_STEP_RUNS: tuple[str, ...] = (
    *(f"{fam}_maml_s{seed}{suffix}" for fam in FAMILIES for seed in range(3) for suffix in ("", "_validation")),
    *(f"{fam}_pretrained_alpha{alpha:g}" for fam, alpha in PRETRAINED_STEP_SIZES.items()),
)
LATER_STEP_SCALES: tuple[float, ...] = (1.0, 0.5, 0.25, 0.0)
"""The studies (held-out and validation) and scales ``c`` of ``results/later_steps/`` that the report
may quote (n/a until measured)."""


def later_step_numbers(sheet: NumberSheet, studies: Sequence[LaterStepStudy]) -> None:
    """``later.<run>.c<100 c>.k<k>`` (mean return after k = 2, 3 steps when the steps after the first
    have size ``c * alpha``), ``.up`` (tasks whose return after 3 steps beats the one after 1 step),
    ``later.<run>.k0``, ``.k1`` (shared by every ``c``) and ``later.<run>.tasks``, e.g.
    ``later.vel_maml_s0.c50.k3``; a validation study has ``<run>_validation`` in place of ``<run>``.
    ``later.<fam>.c<100 c>.k<k>.pm`` is the mean +- sample std over the seeds of ``<fam>_maml_s<i>``
    with a held-out study at that ``c`` (``later.<fam>.seeds`` of them)."""
    found = {study.label: study for study in studies}
    for run in dict.fromkeys([*LATER_STEP_RUNS, *found]):
        study = found.get(run)
        rows = {row["scale"]: row for row in study.rows} if study else {}
        sheet.put(f"later.{run}.tasks", len(study.rows[0]["stochastic"][0]) if study else None, 0)
        shared = study.rows[0]["mean_stochastic"] if study else []  # k = 0, 1 do not depend on c
        for k in (0, 1):
            sheet.put(f"later.{run}.k{k}", shared[k] if k < len(shared) else None)
        for scale in dict.fromkeys([*LATER_STEP_SCALES, *rows]):
            key = f"later.{run}.c{round(100 * scale)}"
            curve = list(rows[scale]["mean_stochastic"]) if scale in rows else []
            for k in (2, 3):
                sheet.put(f"{key}.k{k}", curve[k] if k < len(curve) else None)
            per_task = rows[scale]["stochastic"] if scale in rows else []
            up = (
                sum(after > before for before, after in zip(per_task[1], per_task[3], strict=True))
                if len(per_task) > 3
                else None
            )
            sheet.put(f"{key}.up", up, 0)
    for fam in FAMILIES:
        seeds = [
            found[run]
            for run in LATER_STEP_RUNS
            if run in found and run.startswith(f"{fam}_maml_s") and not found[run].validation
        ]
        sheet.put(f"later.{fam}.seeds", len(seeds) or None, 0)
        for scale in LATER_STEP_SCALES:
            curves = [row["mean_stochastic"] for study in seeds for row in study.rows if row["scale"] == scale]
            for k in (2, 3):
                values = [curve[k] for curve in curves if k < len(curve)]
                sheet.text(f"later.{fam}.c{round(100 * scale)}.k{k}.pm", tex_seed_mean(values))


def bench_slug(case: str) -> str:
    """Number key of a benchmark case: ``"hw14_lib N=20 threads=1"`` -> ``"hw14-lib-n-20-threads-1"``."""
    return re.sub(r"[^a-z0-9]+", "-", case.lower()).strip("-")


def benchmark_numbers(sheet: NumberSheet, bench: Mapping[str, Any] | None) -> None:
    """``bench.<case>.{rate,vs-seed,vs-gym,ceiling}`` (``ceiling``: percent of the 2-core physics ceiling),
    ``bench.<case>.{sampling,outer}`` (seconds per iteration), ``bench.rss-gib`` and the machine; the cases
    the report quotes read n/a until the benchmark has run."""
    bench = bench or {}
    rows = {row.get("case", ""): row for row in bench.get("cases", []) if isinstance(row, Mapping)}
    for case in dict.fromkeys([*BENCH_CASES, *rows]):
        row = rows.get(case, {})
        slug = bench_slug(case)
        sheet.put(f"bench.{slug}.rate", as_number(row.get("steps_per_s")), 0)
        for key, short, digits in (("vs_seed", "vs-seed", 1), ("vs_gymnasium", "vs-gym", 2)):
            sheet.put(f"bench.{slug}.{short}", as_number(row.get(key)), digits)
        ceiling = as_number(row.get("of_2core_ceiling"))
        sheet.put(f"bench.{slug}.ceiling", None if ceiling is None else 100 * ceiling, 0)
        parts = (bench.get("seconds_per_iteration") or {}).get(case, {})
        for key, short in (("sampling", "sampling"), ("outer step", "outer")):
            sheet.put(f"bench.{slug}.{short}", as_number(parts.get(key)) if isinstance(parts, Mapping) else None, 2)
    rss = as_number(bench.get("peak_rss_bytes_paper_vel_B40_N20_T200"))
    sheet.put("bench.rss-gib", None if rss is None else rss / 2**30, 2)
    machine = bench.get("machine", {}) if isinstance(bench.get("machine"), Mapping) else {}
    workload = bench.get("workload", {}) if isinstance(bench.get("workload"), Mapping) else {}
    sheet.put("bench.cpus", as_number(machine.get("cpu_count")), 0)
    sheet.put("bench.rounds", as_number(workload.get("rounds")), 0)
    sheet.put("bench.load-start", as_number(machine.get("load_average_1min_start")), 2)
    sheet.put("bench.load-end", as_number(machine.get("load_average_1min_end")), 2)
    for key in ("torch", "mujoco", "gymnasium", "date"):
        value = machine.get(key)
        sheet.text(f"bench.{key}", latex_escape(str(value)) if value is not None else None)
    outer_step_numbers(sheet, bench.get("outer_step_profile"))
    port = bench.get("maml_rl_style") if isinstance(bench.get("maml_rl_style"), Mapping) else {}
    rates = port.get("steps_per_s") or {}
    sheet.put("bench.port.hw14", as_number(rates.get("hw14_lib")), 0)
    sheet.put("bench.port.rate", as_number(rates.get("maml-rl-style")), 0)
    sheet.put("bench.port.ratio", as_number(port.get("hw14_over_port")), 1)


def outer_step_numbers(sheet: NumberSheet, profile: Any) -> None:
    """``bench.profile.*`` from ``benchmarks/profile_outer_step.py``: the paper direction's seconds of sampling, outer
    step and physics alone on one thread; the outer step's matrix products (GFLOP, seconds at the core's rate, their
    share of the step in percent) and the core's rate (GFLOP/s); the best shares of the 2-core ceiling (percent) an
    iteration could reach with free sampling and the step as it is, or reduced to its products at the core's rate."""
    profile = profile if isinstance(profile, Mapping) else {}
    seconds = profile.get("seconds_one_thread") or {}
    for key, short in (("sampling", "sampling"), ("outer step", "outer"), ("physics alone", "physics")):
        sheet.put(f"bench.profile.{short}", as_number(seconds.get(key)), 2)
    products = profile.get("outer_step_matrix_products") or {}
    sheet.put("bench.profile.gflop", as_number(products.get("gflop")), 0)
    sheet.put("bench.profile.product-seconds", as_number(products.get("seconds_at_core_rate")), 2)
    share = as_number(products.get("share_of_outer_step"))
    sheet.put("bench.profile.product-share", None if share is None else 100 * share, 0)
    sheet.put("bench.profile.core-rate", as_number(profile.get("core_matmul_gflops_rate")), 0)
    for key, short in (("best_share_of_2core_ceiling", "best"), ("best_share_with_outer_step_at_core_rate", "floor")):
        best = as_number(profile.get(key))
        sheet.put(f"bench.profile.{short}", None if best is None else 100 * best, 0)
