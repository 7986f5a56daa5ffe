"""The report's tables as LaTeX ``tabular`` fragments (booktabs), one function per table.

Missing inputs give "n/a" cells or one "n/a" row naming what is missing, never an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hw14_lib.common import catalogue
from hw14_lib.report.data import (
    FAMILIES,
    LATE_ITERATIONS,
    METHODS,
    InnerStepDiagnostic,
    ablation_name,
    config_difference,
    curve_stats,
    evaluated,
    late_query_return,
    mean_budget,
    runs_of,
    seeds_of,
)
from hw14_lib.report.numbers import HYPERPARAMETERS, LEARNING_THRESHOLD, STEPS
from hw14_lib.report.tex import (
    NA,
    NOT_MEASURED,
    UNFINISHED,
    as_number,
    config_value,
    curve_at,
    latex_escape,
    tex_float,
    tex_learning_speed,
    tex_number,
    tex_pm,
    tex_seed_mean,
)
from hw14_lib.rl.maml import META_OBJECTIVE
from hw14_lib.run.run_folder import Run, read_config_dict
from hw14_lib.study.experiments import BACKWARD_RUN
from hw14_lib.study.later_steps import LaterStepStudy

CONFIG_COLUMNS: tuple[tuple[str, str, str], ...] = (
    (BACKWARD_RUN, BACKWARD_RUN, f"configs/{BACKWARD_RUN}.yaml"),
    ("dir", "dir_maml", "configs/dir.yaml"),
    ("vel", "vel_maml", "configs/vel.yaml"),
)
"""(number prefix, experiment, fallback config file) of the hyperparameter table's columns."""


DAGGER = r"$^\dagger$"
LEGENDS: dict[str, dict[str, str]] = {
    "performance": {
        DAGGER: r"$^\dagger$: a seed still training enters with the evaluation of its last checkpoint, "
        r"at the steps shown.",
        NA: r"\hwna: no run of this method yet.",
    },
    "ablations": {
        DAGGER: r"$^\dagger$: run not finished yet; its held-out returns evaluate its last checkpoint, "
        r"after the steps shown.",
        NA: r"\hwna: not available until the run is evaluated.",
    },
    "runs": {
        DAGGER: r"$^\dagger$: unfinished; returns, where shown, evaluate its last checkpoint "
        r"(\texttt{interim\_summary.json}) with the final protocol.",
        NA: r"\hwna: not evaluated yet.",
        NOT_MEASURED: r"\hwnm: not trained (the random initialization is evaluated as it is).",
    },
    "latersteps": {
        NOT_MEASURED: r"\hwnm: scale not measured for this row (step-size studies of a baseline use $c = 1$ only).",
        NA: r"\hwna: past the run's last evaluated step.",
    },
}
"""Per table (``legend.<name>`` in numbers.tex), what each mark means; a caption shows only the
sentences of the marks its table contains (:func:`hw14_lib.report.tex.legend`)."""


def column_configs(runs: Mapping[str, Run], configs: Path) -> dict[str, dict[str, Any] | None]:
    """The configuration behind each hyperparameter column: a run's own, else the YAML file."""
    columns: dict[str, dict[str, Any] | None] = {}
    for prefix, experiment, fallback in CONFIG_COLUMNS:
        seeds = [r for r in seeds_of(runs, experiment) if r.config]
        if seeds:
            columns[prefix] = seeds[0].config
        elif (configs / Path(fallback).name).is_file():
            columns[prefix] = read_config_dict(configs / Path(fallback).name)
        else:
            columns[prefix] = None
    return columns


def performance_table(runs: Mapping[str, Run]) -> str:
    """Our Gymnasium runs after 0..3 steps, per task family and method (``tab_performance.tex``); the paper's
    numbers stand only beside the paper's environment (:func:`hw14_lib.report.comparison.protocol_table`)."""
    lines = [
        r"\begin{tabular}{@{}ll rrrr rr@{}}",
        r"\toprule",
        r" & & \multicolumn{4}{c}{return after $k$ inner steps} & env steps & time \\",
        r"\cmidrule(lr){3-6}",
        r"method & source & $k=0$ & $k=1$ & $k=2$ & $k=3$ & (M) & (h) \\",
    ]
    for fam, family in FAMILIES.items():
        lines += [r"\midrule", rf"\multicolumn{{8}}{{@{{}}l}}{{\emph{{{family.capitalize()} tasks}}}} \\"]
        for method in METHODS:
            seeds = runs_of(runs, env="gymnasium", family=fam, method=method)
            stats = curve_stats(seeds)
            if not seeds:
                continue
            n = stats.seeds if stats else 0
            done = evaluated(seeds)
            interim = UNFINISHED if not all(r.finished for r in done) else ""
            source = (f"ours ({n} seed{'s' if n != 1 else ''})" if n else "ours") + interim
            cells = [tex_pm(curve_at(stats, k), curve_at(stats, k, std=True), n) for k in range(STEPS)]
            steps, hours = mean_budget(seeds)
            row = [catalogue.method(method).label, source, *cells, tex_number(steps), tex_number(hours, 2)]
            lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def ablation_table(runs: Mapping[str, Run]) -> str:
    """Each ablation against the direction-task MAML reference (``tab_ablations.tex``): held-out
    returns before and after one step, and how fast and how far the training query return got.
    Rows name ``results/ablation_dir_<name>`` by ``<name>``."""
    reference = [r for r in seeds_of(runs, "dir_maml") if r.config]
    reference_config = reference[0].config if reference else {}
    lines = [
        r"\begin{tabular}{@{}l >{\raggedright\arraybackslash}p{0.25\linewidth} rrr rr r@{}}",
        r"\toprule",
        r" & & \multicolumn{3}{c}{held-out return} & \multicolumn{2}{c}{training query return} & \\",
        r"\cmidrule(lr){3-5}\cmidrule(lr){6-7}",
        rf"run & change from the reference & $k=0$ & $k=1$ & gain & it.\ to {tex_number(LEARNING_THRESHOLD)} & "
        rf"last {LATE_ITERATIONS} it. & steps (M) \\",
        r"\midrule",
    ]
    rows: list[tuple[str, str, Sequence[Run]]] = []
    rows.append((r"reference: \texttt{dir\_maml}", "---", seeds_of(runs, "dir_maml")))
    for name, run in runs.items():
        if name.startswith("ablation_"):
            diff = config_difference(run.config, reference_config) if reference_config and run.config else {}
            change = ", ".join(f"\\texttt{{{latex_escape(k)}}}~=~{config_value(run.config, k)}" for k in diff)
            label = latex_escape(ablation_name(name))
            rows.append((rf"\texttt{{{label}}}", change or NA, [run]))
    for label, change, seeds in rows:
        stats = curve_stats(seeds)
        k0, k1 = curve_at(stats, 0), curve_at(stats, 1)
        gain = None if k0 is None or k1 is None else k1 - k0
        state = UNFINISHED if seeds and not all(r.finished for r in seeds) else ""
        steps, _ = mean_budget(seeds)
        cells = [tex_number(k0), tex_number(k1), tex_number(gain)]
        cells += [tex_learning_speed(seeds, LEARNING_THRESHOLD), tex_seed_mean([late_query_return(r) for r in seeds])]
        lines.append(" & ".join([label + state, change, *cells, tex_number(steps)]) + r" \\")
    if len(rows) == 1:
        lines.append(rf"\multicolumn{{8}}{{@{{}}l}}{{{NA}: no \texttt{{results/ablation\_*}} run yet}} \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def experiments_table(runs: Mapping[str, Run]) -> str:
    """Every run folder with its budget and returns before/after one step (``tab_experiments.tex``)."""
    lines = [
        r"\begin{tabular}{@{}l l l r r r rr rr@{}}",
        r"\toprule",
        r" & & & & steps & time & \multicolumn{2}{c}{sampled} & \multicolumn{2}{c}{mean action} \\",
        r"\cmidrule(lr){7-8}\cmidrule(lr){9-10}",
        r"run & task & outer & iter. & (M) & (h) & $k=0$ & $k=1$ & $k=0$ & $k=1$ \\",
        r"\midrule",
    ]
    for name, run in runs.items():
        cfg = run.config
        outer = (
            cfg.get("outer_optimizer", "?") if cfg.get("objective", META_OBJECTIVE) == META_OBJECTIVE else "pretrain"
        )
        if name.endswith("_random") or (run.finished and run.summary and run.summary.get("iterations") == 0):
            outer = "none"
        target = cfg.get("iterations")
        done = f"{len(run.metrics)}/{target}" if target is not None else str(len(run.metrics))
        if outer == "none":
            done = NOT_MEASURED  # evaluated at its initialization: no iterations were planned
        sto, det = run.curve("stochastic") or [], run.curve("deterministic") or []
        cells = [tex_number(c[k]) if len(c) > k else NA for c in (sto, det) for k in (0, 1)]
        mark = "" if run.finished else UNFINISHED
        row = [
            rf"\texttt{{{latex_escape(name)}}}{mark}",
            latex_escape(str(cfg.get("task", "?"))),
            latex_escape(str(outer)),
            done,
            tex_number(run.env_steps / 1e6),
            tex_number(run.wall_seconds / 3600, 2),
            *cells,
        ]
        lines.append(" & ".join(row) + r" \\")
    if not runs:
        lines.append(rf"\multicolumn{{10}}{{@{{}}l}}{{{NA}: \texttt{{results/}} holds no run yet}} \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def hyperparameter_table(columns: Mapping[str, dict[str, Any] | None]) -> str:
    """The configuration of the backward, direction and velocity runs (``tab_hyperparameters.tex``)."""
    lines = [
        r"\begin{tabular}{@{}l l lll@{}}",
        r"\toprule",
        r"field & symbol & backward & direction & velocity \\",
        r"\midrule",
    ]
    for field, symbol in HYPERPARAMETERS:
        cells = [config_value(columns.get(prefix), field) for prefix, _, _ in CONFIG_COLUMNS]
        lines.append(" & ".join([rf"\texttt{{{latex_escape(field)}}}", symbol, *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


CASE_NAMES = {"seed-style": "starter-code loop", "gymnasium step (1 core)": "Gymnasium step, 1 core"}
"""How the table names a benchmark case whose name in ``benchmarks/results.json`` is shorthand."""


def case_label(case: str) -> str:
    """The table's short name of a benchmark case: ``"paper direction TRPO threads=2 before"`` -> ``"paper dir.
    TRPO, 2 thr., code before"``, ``"... processes=2"`` -> ``"..., 2 proc."``, ``"physics M=800 skip=1 threads=2"``
    -> ``"physics 800, skip 1, 2 thr."``."""
    if case in CASE_NAMES:
        return CASE_NAMES[case]
    label = case.replace(" M=", " ").replace(" skip=", ", skip ")
    for family in catalogue.FAMILIES:  # a family's name shortened to its short one (dir.)
        label = re.sub(rf"\b{family.name}\b", f"{family.short}.", label)
    label = re.sub(r" threads=(\d+)", r", \1 thr.", label)
    label = re.sub(r" processes=(\d+)", r", \1 proc.", label)
    return label.replace(" before", ", code before")


def benchmark_table(bench: Mapping[str, Any] | None) -> str:
    """Env steps per second of each benchmark case, its share of the 2-core physics ceiling and its ratios
    (``tab_benchmarks.tex``)."""
    lines = [
        r"\begin{tabular}{@{}l rr r rr@{}}",
        r"\toprule",
        r" & \multicolumn{2}{c}{env steps per second} & of the 2-core & \multicolumn{2}{c}{ratio to} \\",
        r"\cmidrule(lr){2-3}\cmidrule(lr){5-6}",
        r"case & median & range & ceiling & starter code & Gymnasium \\",
        r"\midrule",
    ]
    cases = [row for row in (bench or {}).get("cases", []) if isinstance(row, Mapping) and "case" in row]
    for row in cases:
        low, high = as_number(row.get("min")), as_number(row.get("max"))
        span = NA if low is None or high is None else f"{tex_number(low, 0)}--{tex_number(high, 0)}"
        ceiling = as_number(row.get("of_2core_ceiling"))
        cells = [
            latex_escape(case_label(str(row["case"]))),
            tex_number(as_number(row.get("steps_per_s")), 0),
            span,
            NOT_MEASURED if ceiling is None else tex_number(100 * ceiling, 0) + r"\,\%",  # no batch of copies
            tex_number(as_number(row.get("vs_seed")), 1),
            tex_number(as_number(row.get("vs_gymnasium")), 2),
        ]
        lines.append(" & ".join(cells) + r" \\")
    if not cases:
        lines.append(rf"\multicolumn{{6}}{{@{{}}l}}{{{NA}: \texttt{{benchmarks/results.json}} is not there yet}} \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def inner_step_table(diagnostics: Sequence[InnerStepDiagnostic]) -> str:
    """What one inner step of size ``alpha`` does, per measured policy (``tab_inner_step.tex``)."""
    lines = [
        r"\begin{tabular}{@{}l l rr r rrr@{}}",
        r"\toprule",
        r"policy & tasks & $\sigma$ & $\alpha$ & KL$(\pi_\theta \,\|\, \pi_{\theta'})$ & before & after & gain \\",
    ]
    for diag in diagnostics:
        lines.append(r"\midrule")
        label = r"\texttt{" + latex_escape(diag.policy) + "}" if diag.policy else "fresh initialization"
        for i, row in enumerate(diag.rows):
            cells = [
                label if i == 0 else "",
                latex_escape(diag.task) if i == 0 else "",
                tex_number(as_number(row.get("std")), 2),
                tex_float(float(row["alpha"])),
                tex_number(row["kl"], max(0, 1 - math.floor(math.log10(row["kl"])))) if row["kl"] > 0 else "0",
                tex_number(as_number(row.get("return_before"))),
                tex_number(as_number(row.get("return_after"))),
                tex_number(as_number(row.get("gain"))),
            ]
            lines.append(" & ".join(cells) + r" \\")
    if not diagnostics:
        missing = rf"{NA}: \texttt{{results/diagnostics/}} holds no measurement yet"
        lines.append(rf"\midrule\multicolumn{{8}}{{@{{}}l}}{{{missing}}} \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def later_step_table(studies: Sequence[LaterStepStudy]) -> str:
    """Return after k inner steps when the steps after the first have size ``c * alpha``, on the
    held-out tasks or (marked) on validation tasks (``tab_later_steps.tex``): one row per study,
    ``k = 0, 1`` (which do not depend on ``c``) once, then ``k = 2, 3`` for every scale ``c`` measured
    (by decreasing ``c``; a dash where a study did not measure that scale, n/a past a run's last step)."""
    scales = sorted({float(row["scale"]) for study in studies for row in study.rows}, reverse=True)
    lines = [
        r"\begin{tabular}{@{}l rr" + " rr" * len(scales) + "@{}}",
        r"\toprule",
        " & & & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{$c = {c:g}$}}" for c in scales) + r" \\",
        "".join(rf"\cmidrule(lr){{{4 + 2 * i}-{5 + 2 * i}}}" for i in range(len(scales))),
        r"run & $k = 0$ & $k = 1$" + r" & $k = 2$ & $k = 3$" * len(scales) + r" \\",
        r"\midrule",
    ]
    for study in studies:
        by_scale = {float(row["scale"]): list(row["mean_stochastic"]) + [None] * 4 for row in study.rows}
        first = next(iter(by_scale.values()))  # n/a past the run's last step
        notes = ([rf"$\alpha = {study.alpha:g}$"] if study.alpha is not None else []) + (
            ["val."] if study.validation else []
        )
        name = r"\texttt{" + latex_escape(study.run) + "}" + (f" ({', '.join(notes)})" if notes else "")
        cells = [name, tex_number(first[0]), tex_number(first[1])]
        for c in scales:
            curve = by_scale.get(c)
            cells += [NOT_MEASURED] * 2 if curve is None else [tex_number(curve[2]), tex_number(curve[3])]
        lines.append(" & ".join(cells) + r" \\")
    if not studies:
        missing = rf"{NA}: \texttt{{results/later\_steps/}} holds no measurement yet"
        lines.append(rf"\multicolumn{{3}}{{@{{}}l}}{{{missing}}} \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
