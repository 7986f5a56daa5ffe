"""Every figure, table and quoted number of ``HW14_Solution.tex``, regenerated from the results.

``python -m hw14_lib report-assets`` reads ``results/`` and ``benchmarks/results.json`` and writes
into ``report/generated/``:

* ``numbers.tex``: one entry per number the text quotes, used as ``\\val{dir.maml.k1}``. A number
  whose input is missing reads "n/a"; a key the generator does not know stops LaTeX with an
  error, so a typo can never print a wrong number;
* ``student.tex``: ``\\StudentName`` and ``\\StudentNumber`` for the title page;
* table fragments ``tab_*.tex`` that the report ``\\input``s;
* the paper's-protocol tables ``tab_protocol_{paper,gymnasium}.tex`` and figures ``fig_protocol_{dir,vel}.png``
  from ``results/table.json`` (:mod:`hw14_lib.report.comparison`);
* the learning curves of the extensions (learned step sizes, ProMP), ``fig_extensions.png``, and their numbers
  (:mod:`hw14_lib.report.extensions`);
* figures ``fig_*.png`` (:func:`comparison_figures`, also written to ``results/figures/``) and
  the starter code's two plots ``backward/{meta_loss,query_return}.png`` (a placeholder image naming the
  missing input when there is none).

The set of file names is fixed, so a later run never leaves a stale file behind.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from hw14_lib.common import catalogue
from hw14_lib.common.io_utils import atomic_write_text
from hw14_lib.report.comparison import (
    gradient_variance_numbers,
    load_table,
    protocol_figure,
    protocol_numbers,
    protocol_table,
)
from hw14_lib.report.data import (
    FAMILIES,
    METHODS,
    ablation_name,
    curve_stats,
    load_benchmarks,
    load_diagnostics,
    runs_of,
    seeds_of,
)
from hw14_lib.report.extensions import extension_facts, extension_figure, extension_numbers
from hw14_lib.report.families import family_lead_numbers, family_leads
from hw14_lib.report.frames import frame_strip
from hw14_lib.report.numbers import (
    ablation_numbers,
    backward_numbers,
    benchmark_numbers,
    family_numbers,
    hyperparameter_numbers,
    later_step_numbers,
    paper_numbers,
)
from hw14_lib.report.paper_table import difference_numbers, main_protocol_table, schedule_numbers
from hw14_lib.report.tables import (
    LEGENDS,
    ablation_table,
    benchmark_table,
    column_configs,
    experiments_table,
    hyperparameter_table,
    inner_step_table,
    later_step_table,
    performance_table,
)
from hw14_lib.report.tex import NumberSheet, latex_escape, legend
from hw14_lib.run import plots
from hw14_lib.run.run_folder import TRAINING_PLOTS, VIDEO, Run, load_runs
from hw14_lib.study import plots as study_plots
from hw14_lib.study.experiments import BACKWARD_RUN
from hw14_lib.study.later_steps import LaterStepStudy, load_later_steps


def generate_report_assets(
    *,
    results: str | os.PathLike[str] = "results",
    benchmarks: str | os.PathLike[str] = "benchmarks/results.json",
    out: str | os.PathLike[str] = "report/generated",
    configs: str | os.PathLike[str] = "configs",
    student_name: str = "Full Name",
    student_number: str = "Student Number",
) -> list[Path]:
    """Write every figure, table and number of the report into ``out``.

    Args:
        results: the folder of run folders (may be missing or partial).
        benchmarks: ``benchmarks/results.json`` (may be missing).
        out: where to write (created if needed).
        configs: folder of the YAML configs, used for the hyperparameter table when a run's own
            ``config.yaml`` is not there yet.
        student_name, student_number: printed on the title page (plain text, escaped here).

    Returns:
        The files written.
    """
    out = Path(out)
    runs = load_runs(results)
    later_steps = load_later_steps(Path(results) / "later_steps")
    bench = load_benchmarks(benchmarks)
    protocol_rows = load_table(Path(results) / "table.json")
    sheet = NumberSheet()
    missing: list[str] = []
    written: list[Path] = []

    for fam in FAMILIES:
        for method in METHODS:
            if not runs_of(runs, env="gymnasium", family=fam, method=method):
                missing.append(f"results/{fam}_{method}")
    if BACKWARD_RUN not in runs:
        missing.append("results/backward")
    if not any(name.startswith("ablation_") for name in runs):
        missing.append("results/ablation_*")
    if bench is None:
        missing.append(str(benchmarks))
    if not protocol_rows:
        missing.append("results/table.json")
    unfinished = [name for name, run in runs.items() if not run.finished]
    if unfinished:
        missing.append("unfinished runs: " + ", ".join(unfinished))

    paper_numbers(sheet)
    family_numbers(sheet, runs)
    backward_numbers(sheet, runs.get(BACKWARD_RUN))
    ablation_numbers(sheet, runs)
    later_step_numbers(sheet, later_steps)
    protocol_numbers(sheet, protocol_rows)
    schedule_numbers(sheet, protocol_rows)
    for env in ("paper", "gymnasium"):
        difference_numbers(sheet, protocol_rows, env=env)
    gradient_variance_numbers(sheet, Path(results) / "diagnostics")
    extension_numbers(sheet, extension_facts(runs, protocol_rows, Path(results) / "protocol"))
    family_lead_numbers(sheet, family_leads(protocol_rows))
    configs_by_column = column_configs(runs, Path(configs))
    hyperparameter_numbers(sheet, configs_by_column)
    benchmark_numbers(sheet, bench)
    sheet.put("results.count", len(runs), 0)
    sheet.put("results.finished", sum(run.finished for run in runs.values()), 0)

    tables = {
        "tab_performance.tex": performance_table(runs),
        "tab_ablations.tex": ablation_table(runs),
        "tab_experiments.tex": experiments_table(runs),
        "tab_hyperparameters.tex": hyperparameter_table(configs_by_column),
        "tab_benchmarks.tex": benchmark_table(bench),
        "tab_inner_step.tex": inner_step_table(load_diagnostics(Path(results) / "diagnostics")),
        "tab_later_steps.tex": later_step_table(later_steps),
        "tab_protocol_main.tex": main_protocol_table(protocol_rows),
        "tab_protocol_paper.tex": protocol_table(protocol_rows, env="paper"),
        "tab_protocol_gymnasium.tex": protocol_table(protocol_rows, env="gymnasium"),
    }
    for name, table in (
        ("performance", "tab_performance.tex"),
        ("ablations", "tab_ablations.tex"),
        ("runs", "tab_experiments.tex"),
        ("latersteps", "tab_later_steps.tex"),
    ):
        sheet.text(f"legend.{name}", legend(tables[table], LEGENDS[name]))
    for name, text in tables.items():
        written.append(atomic_write_text(out / name, text))
    written += _figures(runs, later_steps, out)
    written += protocol_figure(protocol_rows, out)
    written.append(extension_figure(runs, out))
    written.append(_backward_frames(Path(results) / BACKWARD_RUN / VIDEO, out / "fig_backward_frames.png"))
    written.append(atomic_write_text(out / "numbers.tex", sheet.render(missing)))
    student = (
        "% Generated by `python -m hw14_lib report-assets`; `python -m hw14_lib package` fills these in.\n"
        rf"\newcommand{{\StudentName}}{{{latex_escape(student_name)}}}" + "\n"
        rf"\newcommand{{\StudentNumber}}{{{latex_escape(student_number)}}}" + "\n"
    )
    written.append(atomic_write_text(out / "student.tex", student))
    return written


def _backward_frames(video: Path, path: Path) -> Path:
    """Six frames of the backward run's video (a placeholder while it has none)."""
    if not video.is_file():
        return plots.plot_placeholder("not yet available:\nresults/backward/video.mp4", path)
    return frame_strip(video, path)


def _figures(runs: Mapping[str, Run], later_steps: Sequence[LaterStepStudy], out: Path) -> list[Path]:
    written = []
    backward = runs.get(BACKWARD_RUN)
    if backward and len(backward.metrics) >= 2:
        written += plots.plot_training_curves(backward.metrics, out / BACKWARD_RUN)
    else:
        for name in TRAINING_PLOTS:
            message = "not yet available:\nresults/backward/metrics.jsonl"
            written.append(plots.plot_placeholder(message, out / BACKWARD_RUN / name))
    return written + comparison_figures(runs, out, later_steps=later_steps)


def comparison_figures(
    runs: Mapping[str, Run], out: str | os.PathLike[str], *, later_steps: Sequence[LaterStepStudy] = ()
) -> list[Path]:
    """The figures that compare runs, written into ``out`` (a placeholder naming the missing input
    where there is nothing to draw yet):

    * ``fig_learning_{dir,vel}.png``: MAML's support and query return per meta-iteration, mean over
      the seeds with ±1 std shaded;
    * ``fig_adaptation_{dir,vel}.png``: held-out return after 0..3 inner steps for MAML, pretrained
      and random initialization on Gymnasium's environment (mean ± std over seeds; the paper's values only
      beside the paper's environment, ``fig_protocol_*``), and the pretrained policy with its own step size
      where a held-out ``--alpha`` study exists;
    * ``fig_ablations.png``: the training query return of the ablations against the ``dir_maml``
      seeds (mean +- std) and the paper's one-step return;
    * ``fig_later_steps.png``: the ``later_steps`` studies, one panel per run.
    """
    out = Path(out)
    written = []
    for fam, family in FAMILIES.items():
        maml = runs_of(runs, env="gymnasium", family=fam, method=catalogue.REFERENCE)
        seeds = [r.metrics for r in maml if len(r.metrics) >= 2]  # a curve needs two points
        seeds = [m for m in seeds if all("support_return" in r and "query_return" in r for r in m)]
        path = out / f"fig_learning_{fam}.png"
        if seeds:
            written.append(plots.plot_seed_learning_curves(seeds, path, title=f"MAML, {family} tasks"))
        else:
            written.append(plots.plot_placeholder(f"not yet available:\nresults/{fam}_maml_s*/metrics.jsonl", path))
        written.append(_adaptation_figure(runs, fam, family, out / f"fig_adaptation_{fam}.png", later_steps))
    written.append(_ablation_figure(runs, out / "fig_ablations.png"))
    written.append(later_step_figure(later_steps, out / "fig_later_steps.png"))
    return written


def later_step_figure(studies: Sequence[LaterStepStudy], path: str | os.PathLike[str]) -> Path:
    """``path``: one panel per later-steps study of the held-out tasks at the run's own step size,
    one line per scale ``c`` (a placeholder when there is none; validation studies and replaced
    step sizes are in the table only)."""
    studies = [s for s in studies if not s.validation and s.alpha is None]
    if not studies:
        return plots.plot_placeholder("not yet available:\nresults/later_steps/*.json", path)
    panels = {s.label: {r["scale"]: r["mean_stochastic"] for r in s.rows} for s in studies}
    return study_plots.plot_later_steps(panels, path, alpha=studies[0].rows[0]["step_sizes"][0])


def _adaptation_figure(
    runs: Mapping[str, Run], fam: str, family: str, path: Path, studies: Sequence[LaterStepStudy] = ()
) -> Path:
    curves = {}
    for method in METHODS:
        stats = curve_stats(runs_of(runs, env="gymnasium", family=fam, method=method))
        if stats:
            curves[catalogue.method(method).label] = (stats.mean, stats.std)
    for study in studies:  # a baseline re-evaluated on the held-out tasks with its own step size
        if study.run == f"{fam}_pretrained" and study.alpha is not None and not study.validation:
            curve = next((r["mean_stochastic"] for r in study.rows if r["scale"] == 1.0), None)
            if curve:
                curves[f"pretrained, α = {study.alpha:g}"] = (curve, [0.0] * len(curve))
    if not curves:
        return plots.plot_placeholder(f"not yet available:\nresults/{fam}_*/summary.json", path)
    return plots.plot_adaptation_curves(curves, path, title=f"{family.capitalize()} tasks, Gymnasium's HalfCheetah-v5")


def _ablation_figure(runs: Mapping[str, Run], path: Path) -> Path:
    def usable(run: Run) -> bool:
        return len(run.metrics) >= 2 and all("support_return" in r and "query_return" in r for r in run.metrics)

    ablations = {
        ablation_name(name): run.metrics for name, run in runs.items() if name.startswith("ablation_") and usable(run)
    }
    if not ablations:
        return plots.plot_placeholder("not yet available:\nresults/ablation_*/metrics.jsonl", path)
    # Support returns stay near 0 on direction (standing still), so the query return is the gain.
    seeds = [run.metrics for run in seeds_of(runs, "dir_maml") if usable(run)]
    return study_plots.plot_run_comparison(
        ablations,
        path,
        ylabel="query return (after the inner steps)",
        reference=("dir_maml", seeds) if seeds else None,
        title="Direction tasks: ablations during meta-training",
    )
