"""The committed results the notebook shows: the default run's plots, adaptation table and video,
the direction and velocity experiments over seeds next to the baselines, and the later-steps study.

Every function returns items to ``display`` and prints a note instead of failing when a folder
does not exist yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hw14_lib.config import TrainConfig
from hw14_lib.io_utils import read_jsonl
from hw14_lib.notebook.settings import NotebookSettings, animation, image
from hw14_lib.plots import plot_adaptation_curves, plot_seed_learning_curves, plot_training_curves
from hw14_lib.run_folder import INTERIM_SUMMARY

FAMILY_PREFIXES: dict[str, str] = {"direction": "dir", "velocity": "vel"}
"""Task family -> prefix of its experiment folders under ``results/`` (``dir_maml_s0``, ...)."""
BASELINE_METHODS: tuple[str, ...] = ("pretrained", "random")


def full_run_folder(settings: NotebookSettings) -> Path | None:
    """The README's default run: ``results/backward/`` (committed), else ``runs/default/`` (``make
    run``); ``None``, after printing a note, when neither holds a ``metrics.jsonl`` yet."""
    candidates = (settings.results_root / "backward", settings.repo_root / "runs" / "default")
    for folder in candidates:
        if (folder / "metrics.jsonl").is_file():
            summary = read_summary(folder)
            if summary is None:
                print(f"full run: {settings.relative(folder)}/ (unfinished: no summary.json yet)")
            else:
                print(
                    f"full run: {settings.relative(folder)}/ ({summary['iterations']} iterations, "
                    f"{summary['env_steps']:,} env steps, {summary['wall_seconds'] / 60:.0f} minutes of training)"
                )
            return folder
    print(
        "Note: the full run is not available yet: neither "
        + " nor ".join(f"{settings.relative(f)}/" for f in candidates)
        + " exists. Produce it with `python -m hw14_lib train --config configs/backward.yaml --out runs/default` or "
        "`python -m hw14_lib results --only backward` (results/backward/); the cells below print notes meanwhile."
    )
    return None


def training_figures(folder: Path | None, settings: NotebookSettings) -> list[Any]:
    """The seed's two plots of a run (``meta_loss.png``, ``query_return.png``), regenerated from
    ``metrics.jsonl`` into ``settings.figures_dir`` when the run folder lacks them."""
    if folder is None:
        print("skipped: no run folder (see the note above)")
        return []
    paths = [folder / "meta_loss.png", folder / "query_return.png"]
    if not all(p.is_file() for p in paths):
        metrics = read_jsonl(folder / "metrics.jsonl") if (folder / "metrics.jsonl").is_file() else []
        if not metrics:
            print(f"Note: {settings.relative(folder)}/ has no metrics yet")
            return []
        paths = plot_training_curves(metrics, settings.figures_dir / folder.name)
    return [image(p) for p in paths]


def read_summary(folder: Path | None, *, interim: bool = False) -> dict[str, Any] | None:
    """``summary.json`` of a run folder, or ``None`` when it is missing (run unfinished).

    With ``interim``, an unfinished run's ``interim_summary.json`` (the evaluation of its last
    checkpoint, marked ``"interim": true``) stands in for the missing summary.
    """
    if folder is None:
        return None
    for name in ("summary.json", INTERIM_SUMMARY) if interim else ("summary.json",):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text(encoding="utf-8"))
    return None


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

    summary = read_summary(folder)
    if folder is None or summary is None or "adaptation_curve" not in summary:
        where = "no run folder" if folder is None else f"{settings.relative(folder)}/ has no evaluated summary.json yet"
        print(f"skipped: {where}")
        return []
    curve = summary["adaptation_curve"]
    stochastic = np.asarray(curve["stochastic"], dtype=float)
    path = plot_adaptation_curves(
        {"MAML": (stochastic.mean(1).tolist(), stochastic.std(1).tolist())},
        settings.figures_dir / f"{folder.name}_adaptation.png",
        title=title or f"{folder.name}: held-out tasks {', '.join(curve['tasks'])}",
    )
    return [Markdown(adaptation_table(curve)), image(path)]


def run_video(folder: Path | None, settings: NotebookSettings) -> list[Any]:
    """The run's ``video.mp4`` (one deterministic episode after one adaptation step) as an animation."""
    if folder is None:
        print("skipped: no run folder")
        return []
    if not (folder / "video.mp4").is_file():
        print(f"Note: {settings.relative(folder)}/ has no video.mp4 (rendering was unavailable or video: false)")
        return []
    return animation(folder / "video.mp4", width=settings.video_width)


def family_folders(settings: NotebookSettings, family: str, method: str = "maml") -> list[Path]:
    """Run folders of ``method`` on a task family: ``results/<dir|vel>_<method>[_s<seed>]`` with metrics
    (or, for the untrained random baseline, a summary)."""
    if family not in FAMILY_PREFIXES:
        raise ValueError(f"family={family!r} is unknown; use one of {', '.join(FAMILY_PREFIXES)}")
    stem = f"{FAMILY_PREFIXES[family]}_{method}"
    folders = [*sorted(settings.results_root.glob(f"{stem}_s*")), settings.results_root / stem]
    return [f for f in folders if (f / "metrics.jsonl").is_file() or (f / "summary.json").is_file()]


def run_status(folder: Path, settings: NotebookSettings) -> str:
    """One line on a run folder: iterations logged out of those configured, finished or in progress."""
    metrics = read_jsonl(folder / "metrics.jsonl") if (folder / "metrics.jsonl").is_file() else []
    finished = (folder / "summary.json").is_file()
    if finished and not metrics:
        return f"{settings.relative(folder)}/: evaluated without training"
    planned = TrainConfig.from_yaml(folder / "config.yaml").iterations if (folder / "config.yaml").is_file() else "?"
    state = "finished" if finished else "in progress"
    return f"{settings.relative(folder)}/: {len(metrics)} of {planned} iterations, {state}"


def family_results(settings: NotebookSettings, family: str) -> list[Any]:
    """The direction or velocity experiments, where they exist: seed 0's two plots, the learning
    curves over seeds, and the adaptation curves of MAML and the baselines (mean +- std over seeds)."""
    maml = family_folders(settings, family)
    if not maml:
        prefix = FAMILY_PREFIXES[family]
        print(
            f"Note: no {family} runs yet ({settings.relative(settings.results_root)}/{prefix}_maml_s0, ... "
            f"do not exist); produce them with `python -m hw14_lib results --only {prefix}_maml_s0`"
        )
        return []
    for method in ("maml", *BASELINE_METHODS):
        for folder in family_folders(settings, family, method):
            print(run_status(folder, settings))
    items = training_figures(maml[0], settings)
    runs = [read_jsonl(f / "metrics.jsonl") for f in maml if (f / "metrics.jsonl").is_file()]
    runs = [r for r in runs if r]
    if runs and all(len(r) > 1 for r in runs):
        path = settings.figures_dir / f"{family}_learning_curves.png"
        items.append(image(plot_seed_learning_curves(runs, path, title=f"MAML, {family} tasks")))
    curves = {}
    for method in ("maml", *BASELINE_METHODS):
        summaries = [read_summary(f, interim=True) for f in family_folders(settings, family, method)]
        evaluated = [s for s in summaries if s and "adaptation_curve" in s]
        values = [s["adaptation_curve"]["mean_stochastic"] for s in evaluated]
        if values:
            for s in evaluated:
                if s.get("interim"):
                    print(
                        f"Note: a {family} {method} run is unfinished; its curve is an interim evaluation "
                        f"after {s['iterations']} iterations ({s['env_steps'] / 1e6:.0f}M env steps)"
                    )
            length = min(len(v) for v in values)
            stacked = np.array([v[:length] for v in values])
            std = stacked.std(0, ddof=1) if len(values) > 1 else np.zeros(length)
            curves["MAML" if method == "maml" else method] = (stacked.mean(0).tolist(), std.tolist())
    if curves:
        path = settings.figures_dir / f"{family}_adaptation.png"
        items.append(image(plot_adaptation_curves(curves, path, title=f"{family} tasks: mean over seeds, ±1 std")))
    else:
        print(f"Note: no finished {family} run has an adaptation curve yet")
    return items


def later_step_results(settings: NotebookSettings) -> list[Any]:
    """The studies of ``results/later_steps/`` (``python -m hw14_lib later-steps``): each run's final
    evaluation repeated with the steps after the first of size ``c * alpha``, one line per ``c``."""
    from hw14_lib.report.assets import later_step_figure
    from hw14_lib.report.data import load_later_steps

    studies = load_later_steps(settings.results_root / "later_steps")
    if not studies:
        print(
            f"Note: {settings.relative(settings.results_root)}/later_steps/ holds no study yet; produce one with "
            "`python -m hw14_lib later-steps results/vel_maml_s0`"
        )
        return []
    for study in studies:
        cells = ", ".join(f"c = {r['scale']:g}: {r['mean_stochastic'][-1]:.1f}" for r in study.rows)
        print(f"{study.label}: after {len(study.rows[0]['mean_stochastic']) - 1} steps, {cells}")
    return [image(later_step_figure(studies, settings.figures_dir / "later_steps.png"), width=900)]
