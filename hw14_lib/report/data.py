"""What the report quotes, read from the committed ``results/`` and ``benchmarks/results.json``.

Run folders are read by :mod:`hw14_lib.run.run_folder` (:class:`~hw14_lib.run.run_folder.Run`); a finished one's
``summary.json`` has ``adaptation_curve = {tasks, stochastic[k][i], deterministic[k][i], mean_stochastic[k],
mean_deterministic[k]}``. The seeds of a table row are found by the experiment registry's method and each run's
configuration (:func:`runs_of`); a named experiment's seeds are ``<experiment>_s<seed>`` (:func:`seeds_of`). Any
of these files may be missing (a run not started, or still training): every function here then returns ``None``
or an empty list, never raises, so the report can say "not yet available" instead of failing.

The MAML paper's numbers (Finn et al. 2017, Table 5 / Fig. 5: mean over 40 held-out tasks of
20 trajectories of 200 steps after 0, 1, 2, 3 inner steps, on rllab's half-cheetah) are kept
here as the reference the report compares against.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hw14_lib.common import catalogue
from hw14_lib.common.io_utils import visible_files
from hw14_lib.run.config_digest import RUNTIME_FIELDS
from hw14_lib.run.plots import moving_average
from hw14_lib.run.run_folder import Run
from hw14_lib.study.experiments import EXPERIMENTS
from hw14_lib.study.later_steps import is_number

FAMILIES: dict[str, str] = {f.short: f.name for f in catalogue.FAMILIES if f.gymnasium}
"""Short name (prefix of the experiment folders) -> task distribution, of the families with Gymnasium runs."""
METHODS: tuple[str, ...] = tuple(m.name for m in catalogue.METHODS if m.main and not m.scores_once)
"""The methods of the Gymnasium runs' own evaluation (MAML and the baselines it adapts)."""

PAPER_CURVES: dict[str, dict[str, tuple[float, ...]]] = {
    short: dict(f.paper.curves) for short, f in catalogue.paper_families().items() if f.paper is not None
}
"""Finn et al. (2017): mean return after 0..3 inner steps, per task family and method (the catalogue's)."""
PAPER_ORACLE: dict[str, float] = {
    short: f.paper.oracle for short, f in catalogue.paper_families().items() if f.paper is not None
}
"""Finn et al. (2017): the oracle, a policy that is told the task."""
PAPER_META_BATCH = (40, 20)
"""Finn et al. (2017): tasks x trajectories per meta-batch."""
LEARNING_WINDOW = 20
"""Meta-iterations in the trailing mean of the training query return that :func:`iterations_to_reach` uses."""
LATE_ITERATIONS = 50
"""Final meta-iterations that :func:`late_query_return` averages over."""


@dataclass(frozen=True)
class CurveStats:
    """Adaptation curves of several seeds: ``mean[k]``, ``std[k]`` (sample std; 0 for one seed)."""

    mean: list[float]
    std: list[float]
    seeds: int


def ablation_name(run_name: str) -> str:
    """An ablation's short name: ``ablation_dir_no_baseline`` -> ``no_baseline``."""
    return re.sub(r"^ablation_(dir_)?", "", run_name)


def runs_of(runs: Mapping[str, Run], *, env: str, family: str, method: str, horizon: int = 200) -> list[Run]:
    """The seeds of one row of the table: the runs the experiment registry gives ``method``
    (:attr:`~hw14_lib.study.experiments.Experiment.method`) whose own configuration names ``env``, ``family`` (a
    short name) and ``horizon``; no folder name is read apart."""
    methods = {e.name: e.method for e in EXPERIMENTS}
    task = catalogue.family(family).name
    wanted = {"env": env, "task": task, "horizon": horizon}
    return [
        run
        for name, run in runs.items()
        if methods.get(name) == method and all(run.config.get(k) == v for k, v in wanted.items())
    ]


def seeds_of(runs: Mapping[str, Run], experiment: str) -> list[Run]:
    """The runs of ``experiment``: the folder ``experiment`` itself or ``experiment_s<seed>``."""
    pattern = re.compile(rf"{re.escape(experiment)}(_s\d+)?")
    return [run for name, run in runs.items() if pattern.fullmatch(name)]


def evaluated(runs: Iterable[Run], kind: str = "stochastic") -> list[Run]:
    """The runs that have an evaluated curve: those :func:`curve_stats` averages over, so that env
    steps and wall time are reported for the same runs as the returns."""
    return [run for run in runs if run.curve(kind)]


def curve_stats(runs: Iterable[Run], kind: str = "stochastic") -> CurveStats | None:
    """Mean and sample std over the :func:`evaluated` seeds' curves (cut to the shortest), or ``None``."""
    curves = [run.curve(kind) for run in evaluated(runs, kind)]
    if not curves:
        return None
    length = min(len(c) for c in curves)
    values = np.array([c[:length] for c in curves])
    std = values.std(0, ddof=1) if len(curves) > 1 else np.zeros(length)
    return CurveStats(values.mean(0).tolist(), std.tolist(), len(curves))


def iterations_to_reach(run: Run, threshold: float, window: int = LEARNING_WINDOW) -> int | None:
    """The first meta-iteration ``t >= window`` at which the mean training query return of
    iterations ``t - window + 1 .. t`` is at least ``threshold``; ``None`` if it never was (yet).

    The query return is that of the adapted policies on the training tasks, so this measures how
    fast meta-training reaches a given post-adaptation return (full windows only: an early lucky
    iteration does not count)."""
    if len(run.metrics) < window:
        return None
    smooth = moving_average([m["query_return"] for m in run.metrics], window)[window - 1 :]
    hits = np.flatnonzero(smooth >= threshold)
    return int(run.metrics[window - 1 + hits[0]]["iteration"]) if hits.size else None


def late_query_return(run: Run, last: int = LATE_ITERATIONS) -> float | None:
    """Mean training query return over the final ``last`` meta-iterations of a finished run, where
    training has settled; ``None`` for an unfinished run (its last iterations are not the final ones)."""
    if not run.finished or len(run.metrics) < last:
        return None
    return float(np.mean([m["query_return"] for m in run.metrics[-last:]]))


def config_difference(config: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, Any]:
    """Fields whose value differs from ``reference``, ignoring ones that do not change the method
    (seed, notes, threads, evaluation and video settings)."""
    ignored = {*RUNTIME_FIELDS, "seed", "torch_threads", "video", "iterations"}
    ignored |= {k for k in config if k.startswith("eval_")}
    return {k: v for k, v in config.items() if k not in ignored and reference.get(k) != v}


@dataclass(frozen=True)
class InnerStepDiagnostic:
    """One ``python -m hw14_lib diagnose --json`` file: what one inner step does to a policy.

    Attributes:
        policy: the run folder whose ``policy.pt`` was measured, or ``None`` for a fresh initialization.
        task: the task distribution.
        rows: per step size ``alpha``: ``kl``, ``std``, ``return_before``, ``return_after``, ``gain``.
    """

    policy: str | None
    task: str
    rows: list[dict[str, Any]]


def load_diagnostics(folder: str | Path) -> list[InnerStepDiagnostic]:
    """Every readable ``*.json`` of ``results/diagnostics/``: fresh initializations first, each group
    by task and decreasing initial std."""
    folder = Path(folder)
    found = []
    for path in visible_files(folder, "*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = [r for r in data["rows"] if all(is_number(r.get(k)) for k in ("alpha", "kl", "std"))]
            if not rows:
                continue
            policy = data.get("policy")
            run = Path(policy).parent.name if policy else None
            found.append(InnerStepDiagnostic(run, data["config"]["task"], rows))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            continue  # not a diagnose file (as a missing one, the table then says n/a)
    return sorted(found, key=lambda d: (d.policy is not None, d.policy or "", d.task, -max(r["std"] for r in d.rows)))


def load_benchmarks(path: str | Path) -> dict[str, Any] | None:
    """``benchmarks/results.json``, or ``None`` when it is missing or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def mean_or_none(values: Sequence[float]) -> float | None:
    """The mean, or ``None`` for an empty sequence."""
    return float(np.mean(values)) if len(values) else None


def mean_budget(runs: Iterable[Run]) -> tuple[float | None, float | None]:
    """(million env steps, hours of training) averaged over the :func:`evaluated` runs: the budget of
    exactly the seeds whose returns :func:`curve_stats` averages; ``(None, None)`` when there is none."""
    done = evaluated(runs)
    return mean_or_none([r.env_steps / 1e6 for r in done]), mean_or_none([r.wall_seconds / 3600 for r in done])
