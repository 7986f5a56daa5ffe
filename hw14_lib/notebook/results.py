"""The committed results the notebook shows: the default run's plots, adaptation table and video,
the direction and velocity experiments over seeds next to the baselines, the later-steps study, the paper's
protocol and the additions to MAML-TRPO. Every figure comes with a one-sentence caption saying what to look at.

Run folders are read with :mod:`hw14_lib.run.run_folder` and summarized with the report's data layer
(:mod:`hw14_lib.report.data`: seeds, mean and std over seeds), so the notebook and the report agree.
Every function returns what the cell shows: images, tables and :class:`Note` lines where a folder does
not exist yet (nothing is printed on the side).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hw14_lib.common import catalogue
from hw14_lib.notebook.settings import Note, NotebookSettings, animation, caption, image
from hw14_lib.notebook.tables import extensions_html, later_steps_html, protocol_html
from hw14_lib.report.assets import later_step_figure
from hw14_lib.report.data import FAMILIES, curve_stats, runs_of, seeds_of
from hw14_lib.run.plots import plot_adaptation_curves, plot_seed_learning_curves, plot_training_curves
from hw14_lib.run.run_folder import (
    CONFIG,
    METRICS,
    VIDEO,
    Run,
    is_finished,
    load_run,
    load_runs,
    read_config_dict,
    read_metrics,
    read_summary,
)
from hw14_lib.study.experiments import BACKWARD_RUN
from hw14_lib.study.later_steps import load_later_steps

FAMILY_PREFIXES: dict[str, str] = {family: prefix for prefix, family in FAMILIES.items()}
"""Task family -> prefix of its experiment folders under ``results/`` (``dir_maml_s0``, ...)."""
BASELINE_METHODS: tuple[str, ...] = tuple(m.name for m in catalogue.METHODS if m.baseline)


def full_run_candidates(settings: NotebookSettings) -> tuple[Path, Path]:
    """Where the README's default run may be: ``results/backward/`` (committed), ``runs/default/`` (``make run``)."""
    return (settings.results_root / BACKWARD_RUN, settings.repo_root / "runs" / "default")


def full_run_folder(settings: NotebookSettings) -> Path | None:
    """The first of :func:`full_run_candidates` that holds a ``metrics.jsonl``, or ``None``."""
    return next((f for f in full_run_candidates(settings) if (f / METRICS).is_file()), None)


def full_run_note(folder: Path | None, settings: NotebookSettings) -> Note:
    """One line on the full run: its folder and budget, or how to produce it when ``folder`` is ``None``."""
    if folder is None:
        return Note(
            "Note: the full run is not available yet: neither "
            + " nor ".join(f"{settings.relative(f)}/" for f in full_run_candidates(settings))
            + " exists. Produce it with `python -m hw14_lib train --config configs/backward.yaml --out runs/default` "
            "or `python -m hw14_lib results --only backward` (results/backward/); the cells below show notes meanwhile."
        )
    summary = read_summary(folder)
    if summary is None:
        return Note(f"full run: {settings.relative(folder)}/ (unfinished: no summary.json yet)")
    return Note(
        f"full run: {settings.relative(folder)}/ ({summary['iterations']} iterations, "
        f"{summary['env_steps']:,} env steps, {summary['wall_seconds'] / 60:.0f} minutes of training)"
    )


TRAINING_CAPTIONS = (
    "The meta-loss hovers near zero whatever the policy's quality (its advantages are standardized): only its "
    "gradient carries information, so read the return instead.",
    "The solid line is the return after the inner step, the dashed one before it: the gap is what adaptation buys, "
    "and the rise of the solid line is meta-training at work.",
)
"""What to see in the starter code's two plots (``meta_loss.png``, ``query_return.png``)."""


def training_figures(folder: Path | None, settings: NotebookSettings) -> list[Any]:
    """The starter code's two plots of a run (``meta_loss.png``, ``query_return.png``), drawn from its ``metrics.jsonl``
    into ``settings.figures_dir`` with the run's folder in their titles, each with its caption."""
    if folder is None:
        return [Note("skipped: no run folder (see the note above)")]
    metrics = read_metrics(folder)
    if not metrics:
        return [Note(f"Note: {settings.relative(folder)}/ has no metrics yet")]
    paths = plot_training_curves(metrics, settings.figures_dir / folder.name, title=f"{settings.relative(folder)}")
    return [item for path, text in zip(paths, TRAINING_CAPTIONS, strict=True) for item in (image(path), caption(text))]


def adaptation_table(curve: Mapping[str, Any]) -> str:
    """A Markdown table of a summary's ``adaptation_curve``: mean return after k = 0, 1, ... steps,
    sampled (the MAML paper's metric) and with the mean action, plus one row per task when few."""
    steps = len(curve["mean_stochastic"])
    header = "| return after k inner steps | " + " | ".join(f"k = {k}" for k in range(steps)) + " |"
    rows = [header, "|---" * (steps + 1) + "|"]
    rows.append(
        "| sampled actions, mean over tasks | " + " | ".join(f"{v:.1f}" for v in curve["mean_stochastic"]) + " |"
    )
    rows.append(
        "| mean action, mean over tasks | " + " | ".join(f"{v:.1f}" for v in curve["mean_deterministic"]) + " |"
    )
    if 1 < len(curve["tasks"]) <= 4:
        for i, label in enumerate(curve["tasks"]):
            values = " | ".join(f"{curve['stochastic'][k][i]:.1f}" for k in range(steps))
            rows.append(f"| sampled actions, task {label} | {values} |")
    return "\n".join(rows)


def adaptation_results(folder: Path | None, settings: NotebookSettings, *, title: str = "") -> list[Any]:
    """Returns before and after 1..k adaptation steps of a finished run: a Markdown table and a
    figure (mean over held-out tasks, error bars: std over tasks)."""
    from IPython.display import Markdown

    summary = None if folder is None else read_summary(folder)
    if folder is None or summary is None or "adaptation_curve" not in summary:
        where = "no run folder" if folder is None else f"{settings.relative(folder)}/ has no evaluated summary.json yet"
        return [Note(f"skipped: {where}")]
    curve = summary["adaptation_curve"]
    stochastic = np.asarray(curve["stochastic"], dtype=float)
    path = plot_adaptation_curves(
        {"MAML": (stochastic.mean(1).tolist(), stochastic.std(1).tolist())},
        settings.figures_dir / f"{folder.name}_adaptation.png",
        title=title or f"{folder.name}: held-out tasks {', '.join(curve['tasks'])}",
    )
    return [
        Markdown(adaptation_table(curve)),
        image(path),
        caption(
            "k = 0 is the return before adaptation; each later point adds one inner step on the held-out task, "
            "error bars: std over tasks."
        ),
    ]


def run_video(folder: Path | None, settings: NotebookSettings) -> list[Any]:
    """The run's ``video.mp4`` (one deterministic episode after one adaptation step) as an animation."""
    if folder is None:
        return [Note("skipped: no run folder")]
    if not (folder / VIDEO).is_file():
        return [Note(f"Note: {settings.relative(folder)}/ has no {VIDEO} (rendering was unavailable or video: false)")]
    return animation(folder / VIDEO, width=settings.video_width)


def family_runs(settings: NotebookSettings, family: str, method: str = catalogue.REFERENCE) -> list[Run]:
    """The runs of ``method`` on a task family: ``results/<dir|vel>_<method>[_s<seed>]`` with metrics (or, for
    the untrained random baseline, a summary), read with :func:`hw14_lib.run.run_folder.load_run`."""
    if family not in FAMILY_PREFIXES:
        raise ValueError(f"family={family!r} is unknown; use one of {', '.join(FAMILY_PREFIXES)}")
    stem = f"{FAMILY_PREFIXES[family]}_{method}"
    folders = [*sorted(settings.results_root.glob(f"{stem}_s*")), settings.results_root / stem]
    runs = {f.name: load_run(f) for f in folders if (f / METRICS).is_file() or is_finished(f)}
    return seeds_of(runs, stem)


def run_status(run: Run, settings: NotebookSettings) -> Note:
    """One line on a run: iterations logged out of those configured, finished or in progress."""
    folder = settings.relative(settings.results_root / run.name)
    if run.finished and not run.metrics:
        return Note(f"{folder}/: evaluated without training")
    path = settings.results_root / run.name / CONFIG
    planned = read_config_dict(path)["iterations"] if path.is_file() else "?"
    return Note(
        f"{folder}/: {len(run.metrics)} of {planned} iterations, {'finished' if run.finished else 'in progress'}"
    )


def family_results(settings: NotebookSettings, family: str) -> list[Any]:
    """The direction or velocity experiments, where they exist: one line per run, seed 0's two plots, the
    learning curves over seeds, and the adaptation curves of MAML and the baselines (mean +- std over seeds,
    :func:`hw14_lib.report.data.curve_stats`)."""
    maml = family_runs(settings, family)
    if not maml:
        prefix = FAMILY_PREFIXES[family]
        return [
            Note(
                f"Note: no {family} runs yet ({settings.relative(settings.results_root)}/{prefix}_maml_s0, ... "
                f"do not exist); produce them with `python -m hw14_lib results --only {prefix}_maml_s0`"
            )
        ]
    methods = {method: family_runs(settings, family, method) for method in (catalogue.REFERENCE, *BASELINE_METHODS)}
    statuses = [run_status(run, settings).text for runs in methods.values() for run in runs]
    items: list[Any] = [Note("\n".join(statuses))]
    items += training_figures(settings.results_root / maml[0].name, settings)
    learning = [run.metrics for run in maml if run.metrics]
    if learning and all(len(r) > 1 for r in learning):
        path = settings.figures_dir / f"{family}_learning_curves.png"
        items.append(image(plot_seed_learning_curves(learning, path, title=f"MAML, {family} tasks")))
        items.append(
            caption(
                "Mean over the seeds of the return before (dashed) and after (solid) the inner step on the training "
                "tasks; the bands are ±1 std over seeds, and the space between the lines is adaptation."
            )
        )
    curves = {}
    for method, runs in methods.items():
        stats = curve_stats(runs)
        if stats is None:
            continue
        for run in runs:
            if run.summary is None and run.interim is not None:
                items.append(
                    Note(
                        f"Note: a {family} {method} run is unfinished; its curve is an interim evaluation after "
                        f"{run.interim['iterations']} iterations ({run.interim['env_steps'] / 1e6:.0f}M env steps)"
                    )
                )
        curves[catalogue.method(method).label] = (stats.mean, stats.std)
    if curves:
        path = settings.figures_dir / f"{family}_adaptation.png"
        title = f"{family.capitalize()} tasks (Gymnasium): mean over seeds, ±1 std"
        items.append(image(plot_adaptation_curves(curves, path, title=title)))
        items.append(
            caption(
                "Every initialization gets the same inner steps on the held-out tasks: compare how far the first "
                "step lifts MAML with what it does for the pretrained and random ones."
            )
        )
    else:
        items.append(Note(f"Note: no finished {family} run has an adaptation curve yet"))
    return items


def later_step_results(settings: NotebookSettings) -> list[Any]:
    """The studies of ``results/later_steps/`` (``python -m hw14_lib later-steps``): each run's final
    evaluation repeated with the steps after the first of size ``c * alpha``, one line per ``c``."""
    studies = load_later_steps(settings.results_root / "later_steps")
    if not studies:
        return [
            Note(
                f"Note: {settings.relative(settings.results_root)}/later_steps/ holds no study yet; produce one with "
                "`python -m hw14_lib later-steps results/vel_maml_s0`"
            )
        ]
    tables = later_steps_html(studies)
    return [
        Note(
            f"{len(studies)} studies in {settings.relative(settings.results_root)}/later_steps/: each repeats a "
            "run's final evaluation (same tasks, same seeds) with other step sizes; the tables give the return "
            "after the last step, the figure the curves of the held-out studies."
        ),
        *tables,
        image(later_step_figure(studies, settings.figures_dir / "later_steps.png"), width=900),
        caption(
            "Per run, compare the lines at k = 2 and 3: where c = 1 dips and a smaller c keeps rising, the later "
            "steps should be smaller; the dashed c = 0 line only resamples θ' and shows the noise."
        ),
    ]


def comparable_results(settings: NotebookSettings) -> list[Any]:
    """``results/table.json`` (``python -m hw14_lib protocol``): every method under the paper's protocol as a
    table (:func:`hw14_lib.notebook.tables.protocol_html`, the paper's rows under those of its environment) and the
    paper's-environment curves of both families beside the paper's (:mod:`hw14_lib.report.comparison`)."""
    from hw14_lib.report.comparison import load_table, protocol_figure

    rows = load_table(settings.results_root / "table.json")
    if not rows:
        where = settings.relative(settings.results_root)
        return [Note(f"Note: {where}/table.json does not exist yet; produce it with `python -m hw14_lib protocol`")]
    figures = protocol_figure(rows, settings.figures_dir)
    what = (
        "Ours: solid lines with error bars (±1 std over seeds); the paper's: dotted lines with hollow squares, in the "
        "same colour per method; the grey horizontal lines are the oracles, a policy told the task."
    )
    return [protocol_html(rows), *(item for path in figures for item in (image(path), caption(what)))]


def extension_results(settings: NotebookSettings) -> list[Any]:
    """The additions to MAML-TRPO on the paper's environment (:mod:`hw14_lib.report.extensions`), as a table: when
    MAML, MAML with learned step sizes and ProMP reach the paper's one-step return, whether learned step sizes raise
    the return at every step; on the families the paper did not run, what knowing the task and one step of MAML are
    worth; and the learning curves."""
    from hw14_lib.report.comparison import load_table
    from hw14_lib.report.extensions import CURVE_METHODS, extension_facts, extension_figure
    from hw14_lib.report.families import family_lead_text, family_leads

    runs = load_runs(settings.results_root)
    if not any(runs_of(runs, env="paper", family=fam, method=m) for fam in FAMILIES for m in CURVE_METHODS):
        where = settings.relative(settings.results_root)
        return [Note(f"Note: {where} holds no paper_dir_* or paper_vel_* run yet; produce them with `make results`")]
    rows = load_table(settings.results_root / "table.json")
    facts = extension_facts(runs, rows, settings.results_root / "protocol")
    items: list[Any] = [extensions_html(facts), *(Note(line) for line in family_lead_text(family_leads(rows)))]
    return [
        *items,
        image(extension_figure(runs, settings.figures_dir), width=900),
        caption(
            "Each band is one method's return on its training tasks during meta-training (mean ± std over seeds): "
            "where it crosses the dashed line it reaches the paper's one-step return; the dotted line marks a "
            "quarter of the paper's env steps."
        ),
    ]
