"""The README and ``docs/``: short, in the reader's words, links that resolve, commands that exist, and every
measured number equal to the committed file it comes from (``results/``, ``benchmarks/``).

A number quoted in prose is listed in :func:`facts` with the source it is computed from; the tables of
``docs/results.md`` and ``docs/benchmarks.md`` are rebuilt here from their sources and must appear verbatim; the
README's protocol table is what ``python -m hw14_lib protocol --readme README.md`` writes. Any decimal number (or
percentage) in prose that is neither a checked fact nor a fixed setting (:data:`CONSTANTS`) fails
:func:`test_every_decimal_number_in_prose_is_checked`, so a hand-typed measurement cannot slip in unchecked.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hw14_lib.common import catalogue

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
RESULTS = REPO / "results"
BENCH = REPO / "benchmarks"
README_MAX_LINES = 150

FORBIDDEN = {
    r"\bissue[\s#-]*\d+": "an issue number",
    r"\bthe seed\b": "'the seed' (say 'the course's starter code', or name the random seed)",
    r"\bseed's\b": "'the seed's' for the starter code",
    r"\bseed-style\b": "'seed-style' for the starter code's loop",
    r"\btargets?\b": "'target'",
    r"\bstretch\b": "'stretch'",
    r"\bso far\b": "'so far'",
    r"\bfirst version\b": "'first version'",
    r"\bthe bar\b": "'the bar'",
}

CONSTANTS = {
    # settings, not measurements: control costs, step sizes and scales, the Python version, an address
    "0.05", "0.5", "0.1", "0.25", "0.01", "0.95", "3.11", "127.0.0.1",
}  # fmt: skip


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def normalize(text: str) -> str:
    """The text with typographic minus signs as ASCII ones (``−86.0`` equals ``-86.0``) and every run of white space
    as one space (a quoted phrase may wrap)."""
    return re.sub(r"\s+", " ", text.replace("\u2212", "-"))


def f1(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}"


def pm(mean: float, std: float) -> str:
    return f"{mean:.1f} ± {std:.1f}"


@cache
def table() -> dict[tuple[str, int, str, str], dict[str, Any]]:
    """``results/table.json`` by (env, horizon, family, method)."""
    return {(r["env"], r["horizon"], r["family"], r["method"]): r for r in _json(RESULTS / "table.json")}


def paper_row(family: str, method: str) -> dict[str, Any]:
    return table()[("paper", 200, family, method)]


def ret(row: dict[str, Any], k: int) -> str:
    return f1(row["returns"][k])


def ret_pm(row: dict[str, Any], k: int) -> str:
    return pm(row["returns"][k], row["std_over_seeds"][k])


def summary(run: str) -> dict[str, Any]:
    return _json(RESULTS / run / "summary.json")


def curves(runs: list[str], key: str = "mean_stochastic") -> np.ndarray:
    """``(seeds, k)`` returns after k inner steps, each run's own final evaluation."""
    return np.asarray([summary(r)["adaptation_curve"][key] for r in runs])


def later(run: str, scale: float | None = None) -> dict[str, Any]:
    """The row of ``results/later_steps/<run>.json`` at ``scale`` (the only row when ``None``)."""
    rows = _json(RESULTS / "later_steps" / f"{run}.json")["rows"]
    return rows[0] if scale is None else next(r for r in rows if r["scale"] == scale)


DIR_SEEDS = [f"dir_maml_s{i}" for i in range(3)]
VEL_SEEDS = [f"vel_maml_s{i}" for i in range(3)]


def seed_pm(values: np.ndarray) -> str:
    return pm(float(values.mean()), float(values.std(ddof=1)))


# ---------------------------------------------------------------------------------------------------- the facts


def bench_iteration_seconds() -> float:
    parts = _json(BENCH / "results.json")["seconds_per_iteration"]["backward Adam threads=2"]
    return parts["sampling"] + parts["outer step"]


def ray_design() -> dict[str, float]:
    """The arithmetic of docs/cluster.md's design for sampling one meta-batch on Ray actors."""
    from hw14_lib.rl.policy import load_policy
    from hw14_lib.run.config import TrainConfig

    cfg = TrainConfig.from_yaml(RESULTS / "paper_dir_maml_s0" / "config.yaml")
    params = sum(p.numel() for p in load_policy(RESULTS / "paper_dir_maml_s0" / "policy.pt").parameters())
    obs, act = 20, 6  # the paper's observation and action sizes
    step_bytes = 4 * (obs + act + 2)  # float32 observation, action, reward and log-probability
    steps = cfg.meta_batch_size * cfg.trajectories_per_task * cfg.horizon
    set_mb = steps * step_bytes / 1e6
    adapted_mb = cfg.meta_batch_size * params * 4 / 1e6
    total_mb = 2 * set_mb + adapted_mb + params * 4 / 1e6
    run = summary("paper_dir_maml_s0")
    iteration = run["wall_seconds"] / run["iterations"]
    parts = _json(BENCH / "results.json")["seconds_per_iteration"]["direction TRPO threads=2"]
    sampling_share = parts["sampling"] / (parts["sampling"] + parts["outer step"])
    actors = 8
    network = total_mb * 8 / 1e3  # seconds at 1 Gbit/s
    with_actors = iteration * sampling_share / actors + network + iteration * (1 - sampling_share)
    return {
        "params": params, "param_kb": params * 4 / 1e3, "step_bytes": step_bytes, "steps": steps, "set_mb": set_mb,
        "adapted_mb": adapted_mb, "total_mb": total_mb, "gbit1": network, "gbit10": network / 10,
        "iteration": iteration, "sampling_pct": 100 * sampling_share, "outer_pct": 100 * (1 - sampling_share),
        "actors": actors, "sample_s": iteration * sampling_share / actors, "outer_s": iteration * (1 - sampling_share),
        "with_actors": with_actors, "speedup": iteration / with_actors,
    }  # fmt: skip


@cache
def family_lead(family: str, method: str, k: int) -> tuple[float, float]:
    """``method`` minus the pretrained policy after ``k`` steps (the oracle at ``k = 0``) on the paper's
    environment, and the difference's standard error (each row's s.e.m. over tasks / sqrt(seeds), in quadrature)."""
    a, b = paper_row(family, method), paper_row(family, "pretrained")
    se = np.hypot(a["sem_over_tasks"][k] / np.sqrt(a["seeds"]), b["sem_over_tasks"][k] / np.sqrt(b["seeds"]))
    return a["returns"][k] - b["returns"][k], float(se)


def family_facts() -> dict[str, str]:
    """docs/results.md's ProMP B = 20 bullet and its section on the families beyond the paper's."""
    from hw14_lib.report.data import PAPER_CURVES

    b20, oracle = paper_row("direction", "promp_b20"), paper_row("direction", "oracle")
    anil = catalogue.PUBLISHED_ONE_STEP[("anil", "dir")][0]
    from hw14_lib.report.comparison import load_table
    from hw14_lib.report.extensions import extension_facts
    from hw14_lib.run.run_folder import load_runs

    curves = extension_facts(load_runs(RESULTS), load_table(RESULTS / "table.json"), RESULTS / "protocol").curves
    facts = {
        "b20 k1": f"direction: {ret_pm(b20, 1)} after one step, above ANIL's published {anil:.1f}",
        "b20 oracle share": f"{100 * b20['returns'][1] / oracle['returns'][0]:.1f}% of our oracle",
        "b20 later": f"({ret(b20, 2)}, {ret(b20, 3)} after two and three steps)",
        "b20 c1": "every step at α gives " + " and ".join(f1(v) for v in b20["paper_schedule"]["returns"][2:]),
        "b20 reach": (
            f"one-step {PAPER_CURVES['dir']['maml'][1]:.1f} at {curves['dir', 'promp_b20'].reach / 1e6:.1f} M env steps"
        ),
        "b20 reach b40": f"(ProMP with 40 tasks: {curves['dir', 'promp'].reach / 1e6:.1f} M)",
    }
    for family in ("dynamics", "crippled", "reversed", "signs", "signed_velocity"):
        lead, se = family_lead(family, "oracle", 0)
        oracle_k0, pretrained_k0 = ret(paper_row(family, "oracle"), 0), ret(paper_row(family, "pretrained"), 0)
        facts[f"{family} row"] = f"| {oracle_k0} | {pretrained_k0} | {lead:.1f} ± {se:.1f} |"
    maml, pre, rnd = (paper_row("signed_velocity", m) for m in ("maml", "pretrained", "random"))
    lead, se = family_lead("signed_velocity", "maml", 1)
    facts["svel maml"] = ", ".join(ret_pm(maml, k) for k in (1, 2, 3)) + " after k = 1, 2, 3"
    facts["svel pretrained"] = f"against {ret(pre, 1)} for the"
    facts["svel alpha"] = f"(α = {pre['step_sizes'][0]:g})"
    facts["svel random"] = f"{ret(rnd, 1)} for the random initialization"
    facts["svel lead"] = f"by {lead:.1f} ± {se:.1f} after one step ({lead / se:.1f} standard errors)"
    dyn_maml, dyn_pre = paper_row("dynamics", "maml"), paper_row("dynamics", "pretrained")
    facts["dyn maml vs pretrained"] = f"{ret(dyn_maml, 1)} against {ret(dyn_pre, 1)}"
    pre_run, s0 = (
        _json(RESULTS / "protocol" / "paper_svel_pretrained.json"),
        _json(RESULTS / "protocol" / "paper_svel_maml_s0.json"),
    )
    assert pre_run["tasks"] == s0["tasks"], "seed 0 and the pretrained policy share their test tasks"
    paired = np.asarray(s0["returns"][1]) - np.asarray(pre_run["returns"][1])
    paired_se = paired.std(ddof=1) / np.sqrt(paired.size)
    facts["svel paired"] = (
        f"{paired.mean():.1f} ± {paired_se:.1f} ({paired.mean() / paired_se:.1f} standard errors,"
        f" {int((paired > 0).sum())} of the {paired.size} tasks better)"
    )
    return facts


def retrained_facts() -> dict[str, str]:
    """docs/results.md's section on the runs retrained after the two changes of rounding (the batched per-task
    forward; NumPy's tanh and the planar centre of mass)."""

    def cell(values: np.ndarray, column: int) -> str:
        return f"{values[:, column].mean():.0f} ± {values[:, column].std(ddof=1):.0f}"

    facts = {}
    for change, suffix, before in (("batched", "", "for the policy before"), ("tanh", "_numpy_tanh", "before")):
        spread = _json(RESULTS / "retrained" / f"backward_evaluation_seeds{suffix}.json")
        old, new = np.asarray(spread["old"]), np.asarray(spread["new"])
        assert len(spread["seeds"]) == 10, "the section says 10 other sampling seeds"
        facts[f"{change} backward det"] = (
            f"{cell(old, 0)} → {cell(old, 1)} {before} and {cell(new, 0)} → {cell(new, 1)}"
        )
        facts[f"{change} backward sto"] = f"{cell(old, 2)} → {cell(old, 3)} against {cell(new, 2)} → {cell(new, 3)}"
    protocol = RESULTS / "retrained" / "protocol"
    first, second, third = (
        _json(protocol / f"paper_dir_maml_s0{suffix}.json") for suffix in ("_batched_forward", "_task_by_task", "")
    )
    committed = [_json(RESULTS / "protocol" / f"paper_dir_maml_s{s}.json") for s in range(3)]
    one_step = np.asarray([r["mean"][1] for r in committed])
    assert first["later_scale"] == second["later_scale"] == third["later_scale"] == committed[0]["later_scale"] == 0.25

    def later(record: dict) -> str:
        return ", ".join(f"{v:.1f}" for v in record["mean"][2:])

    return {
        **facts,
        "retrained paper dir": (
            f"{first['mean'][1]:.1f} ± {first['sem'][1]:.1f} with the batched forward, "
            f"{second['mean'][1]:.1f} ± {second['sem'][1]:.1f} with NumPy's tanh, the planar centre of mass and the "
            f"task-by-task meta-gradient, and {third['mean'][1]:.1f} ± {third['sem'][1]:.1f} with the closed-form "
            f"curvature products, against {committed[0]['mean'][1]:.1f} ± {committed[0]['sem'][1]:.1f}"
        ),
        "retrained paper dir later": f"{later(third)} (the earlier retrainings': {later(second)} and {later(first)})",
        "committed seeds": f"{one_step.mean():.1f} ± {one_step.std(ddof=1):.1f}",
        # a new draw of the seeds' distribution: mean ± t(0.975, n - 1) s sqrt(1 + 1/n), t(0.975, 2) = 4.303, n = 3
        "prediction": f"95% prediction interval of three seeds is ± {4.303 * one_step.std(ddof=1) * 1.1547:.0f}",
    }


def facts() -> dict[str, dict[str, str]]:
    """``doc -> {what: text}``: each text must appear in the doc (after :func:`normalize`)."""
    backward = summary("backward")
    det = backward["adaptation_curve"]["mean_deterministic"]
    sto = backward["adaptation_curve"]["mean_stochastic"]
    iteration = bench_iteration_seconds()
    iterations = backward["iterations"]
    readme = {
        "make run iterations": f"{iterations} meta-iterations",
        "make run env steps": f"{backward['env_steps'] / 1e6:g} M env steps",
        "bench s per iteration": f"{iteration:.2f} s per meta-iteration",
        "make run training minutes": f"about {iterations * iteration / 60:.1f} min",
        "committed run minutes": f"took {backward['wall_seconds'] / 60:.1f} min",
        "before adaptation": f"{det[0]:.0f} before adaptation",
        "after one step": f"{det[1]:.0f} after one inner step",
    }

    pd, pv, py = (lambda m, f=f: paper_row(f, m) for f in ("direction", "velocity", "dynamics"))
    from hw14_lib.report.comparison import wall_time
    from hw14_lib.report.data import PAPER_CURVES, PAPER_ORACLE

    paper_dir, paper_vel = PAPER_CURVES["dir"]["maml"], PAPER_CURVES["vel"]["maml"]
    g_dir = table()[("gymnasium", 200, "direction", "maml")]
    h100 = table()[("gymnasium", 100, "direction", "maml")]
    g_oracle = table()[("gymnasium", 200, "direction", "oracle")]
    dir_k = curves(DIR_SEEDS)
    vel_k = curves(VEL_SEEDS)
    variance = {
        n: _json(RESULTS / "diagnostics" / f"gradient_variance_{n}.json") for n in ("paper_dir_init", "paper_dir_s0")
    }
    lslr_vel = pv("maml_lslr")
    vel_later = np.asarray([later(r, 0.25)["mean_stochastic"] for r in VEL_SEEDS])
    dir_later = np.asarray([later(r, 0.25)["mean_stochastic"] for r in DIR_SEEDS])
    up = [
        int(np.sum(np.asarray(later(r, 0.25)["stochastic"][3]) > np.asarray(later(r, 0.25)["stochastic"][1])))
        for r in VEL_SEEDS
    ]
    no_base = curves(["ablation_dir_no_baseline"])[0]
    no_base_tasks = summary("ablation_dir_no_baseline")["adaptation_curve"]
    per_task = dict(zip(no_base_tasks["tasks"], no_base_tasks["stochastic"][1], strict=True))
    two = curves(["ablation_dir_two_inner_steps"])[0]
    results = {
        "paper dir maml k1..3": ", ".join(ret_pm(pd("maml"), k) for k in (1, 2, 3)),
        "paper's dir maml": ", ".join(f1(v) for v in paper_dir[1:]),
        "dir maml training time": f"{wall_time(pd('maml')['wall_seconds_per_seed'])} of training",
        "dir oracle": f"oracle scores {ret(pd('oracle'), 0)}, the paper's {f1(PAPER_ORACLE['dir'])}",
        "dir share of oracle": f"{100 * pd('maml')['returns'][1] / pd('oracle')['returns'][0]:.1f}%",
        "paper vel maml k1..3": ", ".join(ret_pm(pv("maml"), k) for k in (1, 2, 3)),
        "paper's vel maml": ", ".join(f1(v) for v in paper_vel[1:]),
        "vel gaps": ", ".join(f1(p - o) for p, o in zip(paper_vel[1:], pv("maml")["returns"][1:], strict=True)),
        "vel oracle": f"oracle scores {ret(pv('oracle'), 0)}, the paper's {f1(PAPER_ORACLE['vel'])}",
        "vel pretrained": ", ".join(ret(pv("pretrained"), k) for k in (1, 2, 3)),
        "gymnasium dir protocol": ret_pm(g_dir, 1),
        "gymnasium dir own": seed_pm(dir_k[:, 1]),
        "h100": f"{ret(h100, 1)} after one step",
        "gymnasium dir oracle": f"scores {ret(g_oracle, 0)}",
        "gymnasium dir oracle steps": f"{g_oracle['env_steps_per_seed'] / 1e6:g} M env steps",
        "gymnasium dir oracle share": f"reaches {100 * g_dir['returns'][1] / g_oracle['returns'][0]:.1f}%",
        "gymnasium dir oracle time": wall_time(g_oracle["wall_seconds_per_seed"]),
        "promp dir": f"on direction: {ret_pm(pd('promp'), 1)}",
        "promp vel": ", ".join(ret(pv("promp"), k) for k in (1, 2, 3)) + " after k = 1..3",
        "anil dir": f"on direction {ret_pm(pd('anil'), 1)} after one step",
        "anil vel": ", ".join(ret(pv("anil"), k) for k in (1, 2, 3)),
        "anil vel maml": f"above MAML-TRPO's {ret(pv('maml'), 1)}",
        "anil vel above": f"{f1(pv('anil')['returns'][1] - paper_vel[1])} above the paper's {f1(paper_vel[1])}",
        "anil published": f"below ANIL's published {catalogue.PUBLISHED_ONE_STEP[('anil', 'dir')][0]:.1f}",
        "lslr dir": ", ".join(ret(pd("maml_lslr"), k) for k in range(4)),
        "lslr dir short": f"{f1(paper_dir[3] - pd('maml_lslr')['returns'][3])} short of the paper's {f1(paper_dir[3])}",
        "lslr vel": ", ".join(ret(lslr_vel, k) for k in range(4)),
        "lslr vel above": f"{f1(lslr_vel['returns'][3] - paper_vel[3])} above the paper's {f1(paper_vel[3])}",
        "lslr vel alphas": ", ".join(f"{a:.3f}" for a in lslr_vel["step_sizes"]),
        "variance dice init": f"1/{1 / variance['paper_dir_init']['variance_ratio_lvc_over_dice']:.0f}",
        "variance dice trained": f"1/{1 / variance['paper_dir_s0']['variance_ratio_lvc_over_dice']:.0f}",
        "variance reinforce": (
            f"{variance['paper_dir_init']['variance_ratio_lvc_over_reinforce']:.2f} and "
            f"{variance['paper_dir_s0']['variance_ratio_lvc_over_reinforce']:.2f} times"
        ),
        "dyn maml vs pretrained": f"{ret(py('maml'), 1)} against {ret(py('pretrained'), 1)}",
        "gymnasium vel own": seed_pm(vel_k[:, 1]),
        "mean action": (
            f"direction {seed_pm(curves(DIR_SEEDS, 'mean_deterministic')[:, 1])}, "
            f"velocity {seed_pm(curves(VEL_SEEDS, 'mean_deterministic')[:, 1])}"
        ),
        "vel later": " → ".join(f1(v) for v in vel_later.mean(axis=0)[1:]),
        "vel later up": f"{up[0]}, {up[1]} and {up[2]} of the 40 goals",
        "b20 gap": f"{f1(vel_k[:, 1].mean() - curves(['vel_maml_b20_s0'])[0][1])} below",
        "first order": f"{f1(curves(['ablation_dir_first_order'])[0][1])} after one step",
        "no baseline gain": (
            f"gains {no_base[1] - no_base[0]:.0f} instead of {dir_k[:, 1].mean() - dir_k[:, 0].mean():.0f}"
        ),
        "no baseline per task": f"backward {f1(per_task['backward'])}, forward {f1(per_task['forward'])}",
        "two steps": f"{f1(two[2])} after two steps but only {f1(two[1])} after one",
        "dir later two": seed_pm(dir_later[:, 2]),
        "vel pretrained own": f"{f1(later('vel_pretrained_alpha0.01')['mean_stochastic'][1])} with α = 0.01",
        "dir pretrained own": f"{f1(later('dir_pretrained_alpha4')['mean_stochastic'][1])} with α = 4",
        "vel later three": (
            f"{seed_pm(vel_later[:, 3])} against {f1(later('vel_pretrained_alpha0.01')['mean_stochastic'][3])}"
        ),
        "backward det": f"{det[0]:.0f} before adaptation and {det[1]:.0f} after one inner step",
        "backward sto": f"{sto[0]:.0f} → {sto[1]:.0f}",
        "backward minutes": f"{backward['wall_seconds'] / 60:.1f} min",
    }

    bench = _json(BENCH / "results.json")
    cases = {c["case"]: c for c in bench["cases"]}
    parts = bench["seconds_per_iteration"]["paper direction TRPO threads=2"]
    paper_after, paper_before = cases["paper direction TRPO threads=2"], cases["paper direction TRPO threads=2 before"]
    physics = [100 * c["of_2core_ceiling"] for name, c in cases.items() if re.match(r"physics .* threads=2$", name)]
    benchmarks = {
        "date": bench["machine"]["date"][:10],
        "rss": f"{bench['peak_rss_bytes_paper_vel_B40_N20_T200'] / 2**30:.2f} GiB",
        "physics share": f"{min(physics):.0f}–{max(physics):.0f}%",
        "paper outer": f"{parts['outer step']:.2f} s",
        "paper sampling": f"{parts['sampling']:.2f} s of sampling",
        "paper gain": f"{paper_after['steps_per_s'] / paper_before['steps_per_s']:.2f} times",
    }
    port = bench["maml_rl_style"]
    per_round = [a / b for a, b in zip(*port["rounds_steps_per_s"].values(), strict=True)]
    rates = port["steps_per_s"]
    benchmarks["port"] = (
        f"{rates['hw14_lib']:,.0f} env steps/s against {rates['maml-rl-style']:,.0f} on two worker processes: "
        f"{port['hw14_over_port']:.2f} times as fast ({min(per_round):.2f} to {max(per_round):.2f}"
    )
    profile = bench["outer_step_profile"]
    one_thread, products = profile["seconds_one_thread"], profile["outer_step_matrix_products"]
    benchmarks.update({
        "profile outer": f"its TRPO step takes {one_thread['outer step']:.2f} s",
        "profile physics": f"{one_thread['physics alone']:.2f} s for the physics of the whole iteration",
        "profile products": (
            f"{products['gflop']:.0f} GFLOP, which at the core's {profile['core_matmul_gflops_rate']:.0f} GFLOP/s take "
            f"{products['seconds_at_core_rate']:.2f} s, {100 * products['share_of_outer_step']:.0f}% of the step"
        ),
        "profile best": f"at most {100 * profile['best_share_of_2core_ceiling']:.0f}% of the ceiling",
        "profile floor": f"{100 * profile['best_share_with_outer_step_at_core_rate']:.0f}% if the step were",
    })  # fmt: skip

    cluster = _json(BENCH / "cluster.json")
    best, ratio, extra = cluster["best_seconds"], cluster["ray_over_local"], cluster["ray_minus_local_seconds"]
    d = ray_design()
    cluster_facts = {
        "smoke": (
            f"{best['smoke_local']:.1f} s locally (`--jobs 2`) against {best['smoke_ray']:.1f} s on Ray "
            f"(×{ratio['smoke']:.2f})"
        ),
        "short": f"{best['short_local']:.1f} s against {best['short_ray']:.1f} s (×{ratio['short_experiment']:.2f})",
        "extra": f"{extra['smoke']:.0f}–{extra['short_experiment']:.0f} s",
        "params": f"{d['params']:,} parameters ({d['param_kb']:.1f} KB",
        "step bytes": f"{d['step_bytes']} bytes",
        "set": f"{d['steps']:,} steps, {d['set_mb']:.1f} MB",
        "adapted": f"({d['adapted_mb']:.1f} MB)",
        "total": f"about {d['total_mb']:.0f} MB, {d['gbit1']:.1f} s at 1 Gbit/s and {d['gbit10']:.2f} s at 10 Gbit/s",
        "iteration": f"{d['iteration']:.1f} s per iteration",
        "shares": f"{d['sampling_pct']:.0f}% of an iteration", "outer": f"about {d['outer_pct']:.0f}%",
        "with actors": (
            f"{d['actors']} actors of two cores would bring an iteration to about {d['sample_s']:.1f} + "
            f"{d['gbit1']:.1f} + {d['outer_s']:.1f} ≈ {d['with_actors']:.1f} s on 1 Gbit/s ({d['speedup']:.1f}× faster)"
        ),
    }  # fmt: skip
    pins = dict(
        line.split("==", 1)
        for name in ("requirements.txt", "requirements-cluster.txt")
        for line in (REPO / name).read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    )
    commands = {pkg: f"`{pkg}=={pins[pkg]}`" for pkg in ("torch", "mujoco", "jupyterlab")}
    commands["gymnasium"] = f"Gymnasium {pins['gymnasium[mujoco]'].rsplit('.', 1)[0]}"
    cluster_facts["ray"] = f"Ray {pins['ray'].rsplit('.', 1)[0]}, the pinned version"
    two_steps = summary("ablation_dir_two_inner_steps")["env_steps"] / summary(DIR_SEEDS[0])["env_steps"]
    results["two steps budget"] = f"{two_steps:g} times the env steps"
    results.update(retrained_facts())
    results.update(family_facts())
    readme["promp b20"] = f"scores {ret(pd('promp_b20'), 1)} after one step"
    readme["svel lead"] = f"leads a pretrained policy by {family_lead('signed_velocity', 'maml', 1)[0]:.1f}"
    gains = [
        100 * (cases[f"{c} processes=2"]["steps_per_s"] / cases[f"{c} threads=2"]["steps_per_s"] - 1)
        for c in ("backward Adam", "direction TRPO", "paper direction TRPO")
    ]
    benchmarks["processes gain"] = f"gain {min(gains):.0f}–{max(gains):.0f}% of a whole iteration"
    ratios = [cases[c]["vs_seed"] for c in cases if re.match(r"(backward|direction) ", c) and "before" not in c]
    benchmarks["vs starter"] = f"{min(ratios):.1f} to {max(ratios):.1f} times faster"
    return {
        "README.md": readme,
        "commands.md": commands,
        "results.md": results,
        "benchmarks.md": benchmarks,
        "cluster.md": cluster_facts,
    }


# ------------------------------------------------------------------------------------------ the rebuilt tables


def gymnasium_table() -> str:
    """docs/results.md's table of the Gymnasium runs' own final evaluations (mean ± sample std over seeds)."""

    def cells(values: np.ndarray) -> list[str]:
        if values.ndim == 1:
            return [f1(v) for v in values]
        return [seed_pm(values[:, k]) for k in range(values.shape[1])]

    def hours(runs: list[str]) -> str:
        h = [summary(r)["wall_seconds"] / 3600 for r in runs]
        return f"{h[0]:.1f} h" if len(h) == 1 else f"{min(h):.1f}–{max(h):.1f} h"

    def steps(runs: list[str]) -> str:
        n = summary(runs[0])["env_steps"]
        return f"{n / 1e6:g} M" if n else "0"

    lines = [
        "| | k = 0 | k = 1 | k = 2 | k = 3 | env steps | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def add(label: str, values: np.ndarray, runs: list[str] | None) -> None:
        tail = [steps(runs), hours(runs)] if runs else ["", ""]
        if runs and summary(runs[0])["env_steps"] == 0:
            tail[1] = ""
        lines.append("| " + " | ".join([label, *cells(values), *tail]) + " |")

    for family, seeds, extra in (
        ("direction", DIR_SEEDS, "500 it. each"),
        ("velocity", VEL_SEEDS, "40 tasks/batch, 500 it. each"),
    ):
        short = family[:3]
        add(f"{family}, MAML, 3 seeds (`{short}_maml_s{{0,1,2}}`, {extra})", curves(seeds), seeds)
        for i, run in enumerate(seeds):
            add(f"… seed {i}", curves([run])[0], [run])
        later_rows = np.asarray([later(r, 0.25)["mean_stochastic"] for r in seeds])
        add("… the 3 seeds, steps after the first at α/4 (`later_steps/`)", later_rows, None)
        if family == "direction":
            for run, what in (
                ("ablation_dir_first_order", "first-order MAML"),
                ("ablation_dir_no_baseline", "no baseline or normalization"),
                ("ablation_dir_two_inner_steps", "two inner steps in training"),
            ):
                add(f"direction, {what} (`{run}`, 1 seed, 500 it.)", curves([run])[0], [run])
        else:
            add(
                "velocity, MAML, 20 tasks/batch (`vel_maml_b20_s0`, 500 it.)",
                curves(["vel_maml_b20_s0"])[0],
                ["vel_maml_b20_s0"],
            )
        pre = f"{short}_pretrained"
        alpha = "4" if family == "direction" else "0.01"
        on = "validation seeds" if family == "direction" else "validation goals"
        add(f"{family}, pretrained (`{pre}`, 1000 it.)", curves([pre])[0], [pre])
        own = np.asarray(later(f"{pre}_alpha{alpha}")["mean_stochastic"])
        add(f"… its own step size α = {alpha}, chosen on {on} (`later_steps/`)", own, None)
        add(f"{family}, random initialization (`{short}_random`)", curves([f"{short}_random"])[0], [f"{short}_random"])
    return "\n".join(lines) + "\n"


BENCH_LABELS = {
    "seed-style": "the course's starter-code loop (one env, graph kept per step)",
    "gymnasium step (1 core)": "Gymnasium's own `HalfCheetah-v5` step, 1 core",
    "backward Adam threads=1": "backward, Adam (B = 5, N = 20), 1 thread",
    "backward Adam threads=2": "backward, Adam (B = 5, N = 20), 2 threads",
    "direction TRPO threads=1": "direction, TRPO (B = 20, N = 20), 1 thread",
    "direction TRPO threads=2": "direction, TRPO (B = 20, N = 20), 2 threads",
    "paper direction TRPO threads=1": "paper's direction, TRPO (B = 40, N = 20, frame skip 1), 1 thread",
    "paper direction TRPO threads=2": "paper's direction, TRPO (B = 40, N = 20, frame skip 1), 2 threads",
    "backward Adam processes=2": "backward, Adam (B = 5, N = 20), 2 worker processes",
    "direction TRPO processes=2": "direction, TRPO (B = 20, N = 20), 2 worker processes",
    "paper direction TRPO processes=2": "paper's direction, TRPO (B = 40, N = 20, frame skip 1), 2 worker processes",
    "physics M=100 skip=5 threads=2": "physics alone, 100 copies, 2 threads",
    "physics M=400 skip=5 threads=2": "physics alone, 400 copies, 2 threads",
    "physics M=800 skip=1 threads=2": "physics alone, 800 copies, frame skip 1, 2 threads",
}


def bench_table() -> str:
    """docs/benchmarks.md's tables, from ``benchmarks/results.json``: every case, then before and after, then threads
    and worker processes."""
    cases = {c["case"]: c for c in _json(BENCH / "results.json")["cases"]}

    def share(case: dict) -> str:
        return "" if case["of_2core_ceiling"] is None else f"{100 * case['of_2core_ceiling']:.0f}%"

    lines = [
        "| case | env steps/s | of the 2-core ceiling | × starter-code loop |",
        "|---|---:|---:|---:|",
    ]
    for case, label in BENCH_LABELS.items():
        c = cases[case]
        lines.append(f"| {label} | {c['steps_per_s']:,.0f} | {share(c)} | {c['vs_seed']:.1f} |")
    lines += [
        "",
        "| 2 threads | before: env steps/s | of the ceiling | after: env steps/s | of the ceiling | after / before |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case in ("backward Adam threads=2", "direction TRPO threads=2", "paper direction TRPO threads=2"):
        old, new = cases[f"{case} before"], cases[case]
        lines.append(
            f"| {BENCH_LABELS[case].rsplit(', ', 1)[0]} | {old['steps_per_s']:,.0f} | {share(old)} | "
            f"{new['steps_per_s']:,.0f} | {share(new)} | {new['steps_per_s'] / old['steps_per_s']:.2f} |"
        )
    lines += [
        "",
        "| two blocks of copies | threads: env steps/s | of the ceiling | worker processes: env steps/s "
        "| of the ceiling | processes / threads |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for config in ("backward Adam", "direction TRPO", "paper direction TRPO"):
        threads, processes = cases[f"{config} threads=2"], cases[f"{config} processes=2"]
        lines.append(
            f"| {BENCH_LABELS[f'{config} threads=2'].rsplit(', ', 1)[0]} | {threads['steps_per_s']:,.0f} | "
            f"{share(threads)} | {processes['steps_per_s']:,.0f} | {share(processes)} | "
            f"{processes['steps_per_s'] / threads['steps_per_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


TABLES = {"results.md": gymnasium_table, "benchmarks.md": bench_table}


def doc(name: str) -> Path:
    return README if name == "README.md" else REPO / "docs" / name


# --------------------------------------------------------------------------------------------------- the tests


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES} (move detail to docs/)"


def test_docs_pages_exist() -> None:
    names = {p.name for p in DOCS}
    assert {"commands.md", "design.md", "results.md", "benchmarks.md", "cluster.md"} <= names, names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_tracker_or_starter_code_jargon(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r} ({why})"
        for pattern, why in FORBIDDEN.items()
        for m in re.finditer(pattern, text, flags=re.I)
    ]
    assert not found, f"{path.name}: " + "; ".join(found)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|mailto:|#", target):
            continue
        if not (path.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{path.name} links to missing files: {broken}"


def test_readme_table_is_what_the_protocol_writer_writes() -> None:
    from hw14_lib.commands.protocol import README_MARKERS
    from hw14_lib.report.comparison import load_table, protocol_markdown

    text = README.read_text(encoding="utf-8")
    start, end = text.index(README_MARKERS[0]) + len(README_MARKERS[0]), text.index(README_MARKERS[1])
    expected = "\n" + protocol_markdown(load_table(RESULTS / "table.json"))
    assert text[start:end] == expected, (
        "README's table differs from results/table.json: run `python -m hw14_lib protocol --readme README.md`"
    )


@pytest.mark.parametrize("name", ["README.md", "commands.md", "results.md", "benchmarks.md", "cluster.md"])
def test_quoted_numbers_equal_their_sources(name: str) -> None:
    text = normalize(doc(name).read_text(encoding="utf-8"))
    missing = {what: value for what, value in facts()[name].items() if normalize(value) not in text}
    assert not missing, f"{name} does not say (or says otherwise than its source): {missing}"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_equal_their_sources(name: str) -> None:
    expected = TABLES[name]()
    text = normalize(doc(name).read_text(encoding="utf-8"))
    assert normalize(expected) in text, f"{name}'s table differs from its source; it should read\n{expected}"


def prose(text: str) -> str:
    """The text without fenced code, inline code, link targets and the generated protocol table."""
    text = re.sub(r"<!-- table.json -->.*?<!-- /table.json -->", " ", text, flags=re.S)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def numbers(text: str) -> set[str]:
    """Decimal numbers and percentages, without sign."""
    return set(re.findall(r"(?<![\w.])\d+(?:,\d{3})*\.\d+(?![\w.])|(?<![\w.])\d+(?=%)", normalize(text)))


def test_every_decimal_number_in_prose_is_checked() -> None:
    allowed = set(CONSTANTS)
    for values in facts().values():
        for value in values.values():
            allowed |= numbers(value)
    for build in TABLES.values():
        allowed |= numbers(build())
    unchecked = {
        path.name: sorted(numbers(prose(path.read_text(encoding="utf-8"))) - allowed)
        for path in DOCS
        if numbers(prose(path.read_text(encoding="utf-8"))) - allowed
    }
    assert not unchecked, f"numbers in prose with no source in tests/report/test_docs.py facts(): {unchecked}"


def test_claims_in_words_hold() -> None:
    """What the README and docs/results.md say in words about the protocol table."""
    from hw14_lib.report.data import PAPER_CURVES

    d, v = paper_row("direction", "maml"), paper_row("velocity", "maml")
    assert all(d["returns"][k] > PAPER_CURVES["dir"]["maml"][k] for k in (1, 2, 3)), "direction passes the paper"
    assert d["env_steps_per_seed"] <= 16e6, "with half the paper's env steps"
    gaps = [PAPER_CURVES["vel"]["maml"][k] - v["returns"][k] for k in (1, 2, 3)]
    assert all(0 < g < 10 for g in gaps), f"velocity a few points short of the paper: {gaps}"
    assert v["env_steps_per_seed"] < 76e6 / 2, "with less than half of the paper's env steps"
    best = max(
        (
            r
            for (env, h, fam, m), r in table().items()
            if (env, h, fam) == ("paper", 200, "direction") and m != "oracle"
        ),
        key=lambda r: r["returns"][1],
    )
    assert best["method"] == "promp_b20", "ProMP with 20 tasks per meta-batch is the best method on direction"
    assert best["returns"][1] > catalogue.PUBLISHED_ONE_STEP[("anil", "dir")][0], "above ANIL's published return"
    pre = paper_row("velocity", "pretrained")
    assert all(pre["returns"][k] > v["returns"][k] for k in (1, 2, 3)), "pretrained velocity beats MAML"
    assert paper_row("velocity", "oracle")["returns"][0] > PAPER_CURVES["vel"]["maml"][0], "oracle sanity"
    for seed in range(paper_row("direction", "maml_lslr")["seeds"]):
        lslr = _json(RESULTS / "protocol" / f"paper_dir_maml_lslr_s{seed}.json")["mean"]
        assert all(b > a for a, b in itertools.pairwise(lslr)), "learned step sizes rise at every step"
    assert paper_row("direction", "maml_lslr")["seeds"] == 3, "on all three direction seeds"
    results_text = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    words = {1: "one seed", 2: "two seeds", 3: "three seeds"}
    for method in ("promp", "maml_lslr"):
        seeds = paper_row("velocity", method)["seeds"]
        assert f"On velocity ({words[seeds]})" in results_text, f"velocity {method}: {words[seeds]}"
    promp_vel = paper_row("velocity", "promp")["returns"][1]
    assert promp_vel > v["returns"][1] and promp_vel > PAPER_CURVES["vel"]["maml"][1], "ProMP on velocity"
    for method in ("promp", "anil"):  # "reach or pass the paper after every step" (README, docs, report)
        row = paper_row("velocity", method)
        assert all(row["returns"][k] >= PAPER_CURVES["vel"]["maml"][k] for k in (1, 2, 3)), method
        assert row["step_sizes"][1] / row["step_sizes"][0] == 0.5, f"{method}: later steps at c = 0.5"
    dyn_pre, dyn_maml = paper_row("dynamics", "pretrained"), paper_row("dynamics", "maml")
    assert dyn_maml["returns"][1] < dyn_pre["returns"][1], "dynamics: MAML behind the pretrained policy"
    assert dyn_pre["step_sizes"][0] == min(
        float(p.stem.split("alpha")[1].split("_")[0])
        for p in (RESULTS / "later_steps").glob("paper_dyn_pretrained_alpha*")
    ), "dynamics: the pretrained policy's best step size is the smallest tried"
    own = np.concatenate([curves(DIR_SEEDS), curves(VEL_SEEDS)])
    assert np.all(own[:, 2] < own[:, 1]), "k = 2 below k = 1 on all six Gymnasium seeds"
    oracle = table()[("gymnasium", 200, "direction", "oracle")]
    maml = table()[("gymnasium", 200, "direction", "maml")]
    assert oracle["returns"][0] > maml["returns"][1], "the Gymnasium oracle is above MAML after one step"
    assert oracle["env_steps_per_seed"] == maml["env_steps_per_seed"], "the Gymnasium oracle had MAML's budget"


def test_make_run_matches_the_committed_run() -> None:
    """README quotes results/backward as the run of `make run`: the same configuration."""
    from hw14_lib.run.config import TrainConfig

    make = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^CONFIG \?= configs/backward.yaml$", make, flags=re.M)
    assert re.search(r"^RUN_DIR \?= runs/default$", make, flags=re.M)
    ours = TrainConfig.from_yaml(REPO / "configs" / "backward.yaml").to_dict()
    assert TrainConfig.from_yaml(RESULTS / "backward" / "config.yaml").to_dict() == ours
    assert _json(BENCH / "results.json")["workload"]["configs"]["backward Adam"] == "configs/backward.yaml"


def make_targets() -> set[str]:
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][\w-]*):", make, flags=re.M))


def test_make_targets_exist() -> None:
    targets = make_targets()
    named = {t for path in DOCS for t in re.findall(r"`make ([a-z][\w-]*)", path.read_text(encoding="utf-8"))}
    assert named, "no make target quoted"
    assert not named - targets, f"docs name make targets the Makefile lacks: {sorted(named - targets)}"


@cache
def sub_command_help() -> dict[str, str]:
    from hw14_lib.cli import build_parser

    def help_of(parser) -> str:  # a sub-command's own help and its sub-commands' (`results ray --storage`)
        nested = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        return parser.format_help() + "".join(help_of(p) for a in nested for p in a.choices.values())

    action = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: help_of(sub) for name, sub in action.choices.items()}


def quoted_commands() -> list[tuple[str, str, str]]:
    """``(doc, sub-command, rest)`` of every ``python -m hw14_lib SUB ...`` in the docs, and of the rows of
    docs/commands.md's sub-command table (written without the prefix)."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for sub, rest in re.findall(r"-m hw14_lib ([a-z][\w-]*)([^`\n]*)", text):
            found.append((path.name, sub, rest))
    commands = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    section = commands.split("## `python -m hw14_lib` sub-commands", 1)[1].split("\n## ", 1)[0]
    for sub, rest in re.findall(r"^\|[^|]*(?:\\\|[^|]*)*\| `([a-z][\w-]*)([^`]*)` \|$", section, flags=re.M):
        found.append(("commands.md", sub, rest))
    return found


def test_quoted_sub_commands_and_options_exist() -> None:
    helps = sub_command_help()
    quoted = quoted_commands()
    assert len({sub for _, sub, _ in quoted}) >= 10, quoted
    wrong = []
    for name, sub, rest in quoted:
        if sub not in helps:
            wrong.append(f"{name}: no sub-command {sub!r}")
            continue
        wrong += [
            f"{name}: {sub} has no {opt}"
            for opt in re.findall(r"(?<![\w-])--[a-z][\w-]*", rest)
            if opt not in helps[sub]
        ]
    assert not wrong, wrong


def test_documented_sub_commands_cover_the_cli() -> None:
    """docs/commands.md lists every sub-command the command line has."""
    listed = {sub for name, sub, _ in quoted_commands() if name == "commands.md"}
    assert set(sub_command_help()) <= listed, sorted(set(sub_command_help()) - listed)


def test_help_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "hw14_lib", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and "COMMAND" in out.stdout, out.stderr
