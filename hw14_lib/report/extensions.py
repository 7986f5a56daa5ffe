"""The extensions measured against MAML-TRPO on the paper's environment: the learning curves of MAML, MAML with
learned step sizes and ProMP (``fig_extensions.png``), and the numbers the report quotes about them (when each
reaches the paper's one-step return, whether learned step sizes rise at every step, the dynamics family's gap).

The learning curves are the training query returns in ``metrics.jsonl`` (the adapted policies on the meta-batch's
own tasks, sampled actions): what the protocol measures on held-out tasks, at every iteration instead of only at
the end. MAML and ProMP adapt with one inner step; MAML with learned step sizes with its ``K`` trained steps.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw14_lib.common import catalogue
from hw14_lib.common.io_utils import visible_files
from hw14_lib.report.comparison import PAPER_BUDGET_M, Row, plain_label, rows_of
from hw14_lib.report.data import FAMILIES, PAPER_CURVES, runs_of
from hw14_lib.report.tex import NumberSheet, tex_number
from hw14_lib.run import plots
from hw14_lib.run.run_folder import Run

CURVE_METHODS: tuple[str, ...] = tuple(m.name for m in catalogue.METHODS if m.curve)
"""The methods of the learning-curve figure (run folders ``paper_<fam>_<method>_s<seed>``)."""
BUDGET_FRACTION = 0.25
"""The target budget: this fraction of the paper's env steps (:data:`PAPER_BUDGET_M`)."""
REACH_WINDOW = 3
"""Meta-iterations in the trailing mean of the seeds' mean query return that :func:`steps_to_reach` uses."""


def curve_seeds(runs: Mapping[str, Run], fam: str, method: str) -> list[list[dict]]:
    """The ``metrics.jsonl`` records of every finished seed of ``method`` on family ``fam`` of the paper's environment
    (:func:`~hw14_lib.report.data.runs_of`; a seed still training would cut the mean curve short,
    :func:`mean_curve`)."""
    seeds = runs_of(runs, env="paper", family=fam, method=method)
    return [list(run.metrics) for run in seeds if run.finished and run.metrics]


def mean_curve(seeds: Sequence[Sequence[Mapping]], window: int = REACH_WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """``(env_steps, value)``: the mean over seeds of the query return at each iteration that every seed reached,
    then its trailing mean over ``window`` iterations (full windows only), shape ``(iterations - window + 1,)``."""
    length = min(len(s) for s in seeds)
    if length < window:
        return np.zeros(0), np.zeros(0)
    mean = np.mean([[m["query_return"] for m in s[:length]] for s in seeds], axis=0)
    smooth = np.convolve(mean, np.ones(window) / window, mode="valid")
    steps = np.array([m["env_steps"] for m in seeds[0][window - 1 : length]], dtype=float)
    return steps, smooth


def steps_to_reach(seeds: Sequence[Sequence[Mapping]], threshold: float) -> float | None:
    """The env steps at the first iteration where :func:`mean_curve` is at least ``threshold`` (``None``: never)."""
    return _first_reach(*mean_curve(seeds), threshold)


def _first_reach(steps: np.ndarray, values: np.ndarray, threshold: float) -> float | None:
    hits = np.flatnonzero(values >= threshold)
    return float(steps[hits[0]]) if hits.size else None


def target_budget(fam: str) -> float:
    """The target budget of family ``fam`` in env steps: :data:`BUDGET_FRACTION` of the paper's."""
    return BUDGET_FRACTION * PAPER_BUDGET_M[fam] * 1e6


def extension_figure(runs: Mapping[str, Run], out: str | os.PathLike[str]) -> Path:
    """``fig_extensions.png``: per family, the learning curves of :data:`CURVE_METHODS` (mean ± std over seeds)
    with the paper's one-step return and a quarter of the paper's budget marked."""
    path = Path(out) / "fig_extensions.png"
    panels, marks, budgets = {}, {}, {}
    for fam, family in FAMILIES.items():
        title = f"{family.capitalize()} tasks, the paper's environment"
        panels[title] = {
            plain_label(m) + (", K steps" if m == catalogue.LEARNED else ""): curve_seeds(runs, fam, m)
            for m in CURVE_METHODS
        }
        marks[title] = (PAPER_CURVES[fam][catalogue.REFERENCE][1], "paper, one step (held-out)")
        budgets[title] = (target_budget(fam), "a quarter of the paper's steps")
    if not any(seeds for methods in panels.values() for seeds in methods.values()):
        return plots.plot_placeholder("not yet available:\nresults/paper_*_{maml,maml_lslr,promp}_s*", path)
    return plots.plot_method_panels(panels, path, marks=marks, budgets=budgets)


def protocol_records(folder: str | os.PathLike[str], experiment: str) -> list[dict]:
    """The protocol evaluations ``<folder>/<experiment>_s<seed>.json`` (``python -m hw14_lib protocol``) that can
    be read, sorted by name."""
    records = []
    for path in visible_files(folder, f"{experiment}_s*.json"):
        if re.fullmatch(rf"{re.escape(experiment)}_s\d+\.json", path.name):
            with contextlib.suppress(OSError, json.JSONDecodeError):
                records.append(json.loads(path.read_text(encoding="utf-8")))
    return [r for r in records if isinstance(r, dict) and isinstance(r.get("mean"), list)]


@dataclass(frozen=True)
class CurveFacts:
    """One method's learning curve on one family (:func:`mean_curve`): its seeds, its env steps, its highest value,
    its value at the target budget, and the env steps at which it first reaches the paper's one-step return
    (``None``: never)."""

    seeds: int
    steps: float
    best: float | None
    at_budget: float | None
    reach: float | None


@dataclass(frozen=True)
class ExtensionFacts:
    """What the report and the notebook say about the extensions (learned step sizes, ProMP, the dynamics family).

    Attributes:
        budget: ``fam -> `` the target budget in env steps (:data:`BUDGET_FRACTION` of the paper's).
        curves: ``(fam, method) -> CurveFacts`` for the methods of :data:`CURVE_METHODS` that have runs.
        rising: ``fam -> (seeds whose protocol returns rise at every step, seeds evaluated)`` of ``maml_lslr``.
        step_sizes: ``fam -> `` the learned step size of each inner step at the end of training, mean over
            parameter tensors and finished seeds.
        dynamics_gap: the dynamics family's MAML minus pretrained return after one step (protocol rows), if both.
    """

    budget: dict[str, float]
    curves: dict[tuple[str, str], CurveFacts]
    rising: dict[str, tuple[int, int]]
    step_sizes: dict[str, list[float]]
    dynamics_gap: float | None


def extension_facts(runs: Mapping[str, Run], rows: Sequence[Row], protocol: str | os.PathLike[str]) -> ExtensionFacts:
    """:class:`ExtensionFacts` from the run folders, ``results/table.json``'s rows and the per-run protocol
    evaluations in ``protocol`` (``results/protocol``)."""
    budget, curves, rising, step_sizes = {}, {}, {}, {}
    for fam in FAMILIES:
        budget[fam] = target_budget(fam)
        for method in CURVE_METHODS:
            seeds = curve_seeds(runs, fam, method)
            if not seeds:
                continue
            steps, values = mean_curve(seeds)
            within = np.flatnonzero(steps <= budget[fam])
            curves[fam, method] = CurveFacts(
                seeds=len(seeds),
                steps=float(min(s[-1]["env_steps"] for s in seeds)),
                best=float(values.max()) if values.size else None,
                at_budget=float(values[within[-1]]) if within.size else None,
                reach=_first_reach(steps, values, PAPER_CURVES[fam][catalogue.REFERENCE][1]),
            )
        means = [record["mean"] for record in protocol_records(protocol, f"paper_{fam}_maml_lslr")]
        if means:
            rising[fam] = (sum(all(b > a for a, b in itertools.pairwise(m)) for m in means), len(means))
        lslr = runs_of(runs, env="paper", family=fam, method=catalogue.LEARNED)
        last = [run.metrics[-1] for run in lslr if run.finished and run.metrics]
        keys = sorted({k for m in last for k in m if k.startswith("alpha_")}, key=lambda k: int(k.split("_")[1]))
        if keys:
            step_sizes[fam] = [float(np.mean([m[k] for m in last if k in m])) for k in keys]
    paper_rows = rows_of(rows, env="paper")
    maml, pretrained = paper_rows.get(("dyn", catalogue.REFERENCE)), paper_rows.get(("dyn", catalogue.PRETRAINED))
    gap = maml["returns"][1] - pretrained["returns"][1] if maml and pretrained else None
    return ExtensionFacts(budget, curves, rising, step_sizes, gap)


def extension_numbers(sheet: NumberSheet, facts: ExtensionFacts) -> None:
    """The numbers of the report's extensions section, from ``facts``:

    * ``ext.<fam>.quarter``: the target budget (M env steps);
    * ``ext.<fam>.<method>.reach``: M env steps at which the learning curve first reaches the paper's one-step
      return, or "not reached"; ``.reach-phrase`` says it in words ("at 10.6 M env steps", "not within its 32 M env
      steps"); ``.best``; ``.quarter`` (its value at the target budget); ``.seeds``;
    * ``ext.<fam>.lslr.rising``: "n of m" seeds of ``maml_lslr`` whose protocol returns rise at every step;
      ``ext.<fam>.lslr.alpha``: its final step sizes per inner step;
    * ``ext.dyn.gap``: the dynamics family's MAML minus pretrained return after one step.
    """
    for fam in FAMILIES:
        sheet.put(f"ext.{fam}.quarter", facts.budget[fam] / 1e6, 0)
        for method in CURVE_METHODS:
            curve, key = facts.curves.get((fam, method)), f"ext.{fam}.{method.replace('_', '-')}"
            sheet.put(f"{key}.seeds", curve.seeds if curve else None, 0)
            sheet.put(f"{key}.best", curve.best if curve else None)
            sheet.put(f"{key}.quarter", curve.at_budget if curve else None)
            if curve is not None and curve.reach is not None:
                sheet.put(f"{key}.reach", curve.reach / 1e6)
                sheet.text(f"{key}.reach-phrase", rf"at {tex_number(curve.reach / 1e6)}\,M env steps")
            else:
                sheet.text(f"{key}.reach", "not reached" if curve and curve.best is not None else None)
                within = rf"not within its {tex_number(curve.steps / 1e6, 0)}\,M env steps" if curve else None
                sheet.text(f"{key}.reach-phrase", within)
        rising = facts.rising.get(fam)
        sheet.text(f"ext.{fam}.lslr.rising", f"{rising[0]} of {rising[1]}" if rising else None)
        sizes = facts.step_sizes.get(fam)
        sheet.text(f"ext.{fam}.lslr.alpha", ", ".join(tex_number(a, 3) for a in sizes) if sizes else None)
    sheet.put("ext.dyn.gap", facts.dynamics_gap)


def extension_text(facts: ExtensionFacts) -> str:
    """``facts`` as plain lines for the notebook."""
    lines = []
    for fam, family in FAMILIES.items():
        threshold = PAPER_CURVES[fam][catalogue.REFERENCE][1]
        for method in CURVE_METHODS:
            curve = facts.curves.get((fam, method))
            if curve is None or curve.best is None:
                continue
            reach = f"reached at {curve.reach / 1e6:.1f} M steps" if curve.reach is not None else "not reached"
            at = f"{curve.at_budget:.1f}" if curve.at_budget is not None else "n/a"
            seeds = f"{curve.seeds} seed{'s' if curve.seeds > 1 else ''}"
            lines.append(
                f"{family}, {plain_label(method)} ({seeds}): the paper's one-step {threshold:g} {reach}; "
                f"{at} at {facts.budget[fam] / 1e6:g} M steps, best {curve.best:.1f}"
            )
        if fam in facts.rising:
            up, of = facts.rising[fam]
            sizes = ", ".join(f"{a:.3f}" for a in facts.step_sizes.get(fam, []))
            lines.append(
                f"{family}, learned step sizes: rising at every step on {up} of {of} seeds; alpha per step {sizes}"
            )
    if facts.dynamics_gap is not None:
        lines.append(f"dynamics: MAML minus pretrained after one step: {facts.dynamics_gap:+.1f}")
    return "\n".join(lines)
