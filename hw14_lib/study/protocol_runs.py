"""The protocol over a results folder: which run folders it takes, the step-size schedule of each run (chosen on
validation tasks), one ``results/protocol/<run>.json`` per finished run, and ``results/table.json`` from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hw14_lib.common import catalogue
from hw14_lib.common.io_utils import atomic_write_json
from hw14_lib.rl.policy import load_policy
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.run_folder import CONFIG, POLICY, read_summary
from hw14_lib.study import experiments
from hw14_lib.study.experiments import Experiment
from hw14_lib.study.later_steps import load_later_steps
from hw14_lib.study.protocol import PROTOCOL_STEPS, evaluate_protocol, table_row

RowKey = tuple[str, str, str, int]
"""``(env, family, method, horizon)``: the row of ``results/table.json`` a run belongs to."""


def protocol_runs(root: Path) -> dict[str, Experiment]:
    """The experiments the protocol evaluates (those with a catalogue method) whose folders exist under ``root``."""
    return {e.name: e for e in experiments.EXPERIMENTS if e.method is not None and (root / e.name).is_dir()}


def row_key(root: Path, exp: Experiment) -> RowKey:
    """The row of run ``exp``: its method from the registry, the rest from the run's own ``config.yaml``.

    Raises:
        ValueError, OSError: a missing or damaged ``config.yaml``.
    """
    if exp.method is None:
        raise ValueError(f"{exp.name!r} is not a protocol run (its experiment names no method)")
    cfg = TrainConfig.from_yaml(root / exp.name / CONFIG)
    return (cfg.env, catalogue.family(cfg.task).short, exp.method, cfg.horizon)


def runs_in_row(root: Path, key: RowKey) -> set[str]:
    """The runs under ``root`` of row ``key`` (the seeds whose validation studies choose a schedule together)."""
    return {
        name
        for name, exp in protocol_runs(root).items()
        if (root / name / CONFIG).is_file() and row_key(root, exp) == key
    }


def evaluate_run(exp: Experiment, root: Path, *, physics_threads: int, overwrite: bool) -> None:
    """Write ``root/protocol/<run>.json`` for one finished run (or add the ``c = 1`` schedule to an existing one).

    Raises:
        ValueError, KeyError, OSError: a damaged or foreign file in the run folder or its protocol record.
    """
    folder, key = root / exp.name, row_key(root, exp)
    out, method = root / "protocol" / f"{folder.name}.json", key[2]
    if out.is_file() and not overwrite:
        record = json.loads(out.read_text(encoding="utf-8"))
        if needs_paper_schedule(record) and "paper_schedule" not in record:
            cfg = TrainConfig.from_yaml(folder / CONFIG, physics_threads=physics_threads)
            torch.set_num_threads(cfg.torch_threads)
            record["paper_schedule"] = paper_schedule(cfg, load_policy(folder / POLICY), record["alpha"])
            atomic_write_json(out, record)
            print(f"{folder.name}: added the c = 1 schedule: {means_text(record['paper_schedule'])}")
        return
    cfg = TrainConfig.from_yaml(folder / CONFIG, physics_threads=physics_threads)
    torch.set_num_threads(cfg.torch_threads)
    alpha, later_scale, why = step_schedule(root, runs_in_row(root, key), method, cfg.inner_lr)
    steps = 0 if catalogue.method(method).scores_once else PROTOCOL_STEPS
    policy = load_policy(folder / POLICY)
    evaluation = evaluate_protocol(cfg, policy, alpha=alpha, later_scale=later_scale, steps=steps)
    summary = read_summary(folder) or {}
    record = {
        "run": folder.name,
        "env": cfg.env,
        "family": cfg.task,
        "method": method,
        "env_steps": int(summary.get("env_steps", 0)),
        "wall_seconds": float(summary.get("wall_seconds", 0.0)),
        "schedule": why,
        "config": cfg.to_dict(),
        **evaluation,
    }
    if needs_paper_schedule(record):
        record["paper_schedule"] = paper_schedule(cfg, policy, alpha)
    atomic_write_json(out, record)
    tasks = evaluation["test_tasks"]
    print(f"{folder.name}: k = 0..{steps}: {means_text(evaluation)} (mean ± s.e.m. over {tasks} tasks)")


def needs_paper_schedule(record: dict[str, Any]) -> bool:
    """Whether a protocol record took its later steps at a validated ``c != 1``: then it also carries the paper's
    practice, every step of size ``alpha`` (``paper_schedule``), so the table can show both."""
    return not record.get("learned_step_sizes") and len(record["mean"]) > 2 and record["later_scale"] != 1.0


def paper_schedule(cfg: Any, policy: Any, alpha: float) -> dict[str, Any]:
    """The protocol again with every step of size ``alpha`` (``c = 1``, the paper's practice): the same tasks and
    sampling seeds, so ``k = 0, 1`` repeat the validated schedule's values and ``k = 2, 3`` differ."""
    from hw14_lib.study.protocol import evaluate_protocol

    evaluation = evaluate_protocol(cfg, policy, alpha=alpha, later_scale=1.0)
    return {key: evaluation[key] for key in ("later_scale", "step_sizes", "returns", "mean", "sem")}


def means_text(evaluation: dict[str, Any]) -> str:
    return ", ".join(f"{m:.1f} ± {s:.1f}" for m, s in zip(evaluation["mean"], evaluation["sem"], strict=True))


def step_schedule(root: Path, runs: set[str], method: str, inner_lr: float) -> tuple[float, float, str]:
    """``(alpha, later_scale, why)`` of a run's protocol evaluation, chosen on validation tasks only.

    By the method's :data:`~hw14_lib.common.catalogue.Schedule`: ``validated`` (MAML, ProMP), its own ``alpha`` and the
    scale ``c`` whose 3-step return on the validation tasks, averaged over the family's seeds, is highest
    (``results/later_steps/*_validation.json``; ``c = 1`` without a study); ``own_alpha`` (pretrained), the ``alpha``
    of its step-size studies (``later-steps --alpha A --scales 1 --validation``) with the best one-step validation
    return, ``c = 1``; ``alpha`` (random), the run's ``alpha``, ``c = 1``; ``learned``, the learned sizes; ``none``
    (oracle), no step (k = 0 only).
    ``runs`` are the run's row (:func:`runs_in_row`: the same method, family, environment and horizon): only their
    studies count.
    """
    schedule = catalogue.method(method).schedule
    if schedule == "none":
        return inner_lr, 1.0, "no adaptation: the oracle's return at theta (k = 0)"
    if schedule == "learned":
        return inner_lr, 1.0, "the step sizes it learned (no evaluation-time choice)"
    if schedule == "alpha":
        return inner_lr, 1.0, "the MAML alpha, c = 1 (nothing was trained to choose from)"
    later_steps = load_later_steps(root / "later_steps")
    if schedule == "own_alpha":
        candidates = {
            s.alpha: s.rows[0]["mean_stochastic"][1]
            for s in later_steps
            if s.validation and s.alpha is not None and s.run in runs
        }
        if not candidates:
            return inner_lr, 1.0, "the MAML alpha, c = 1 (no step-size study on validation tasks)"
        best_alpha = max(candidates, key=lambda a: candidates[a])
        tried = ", ".join(f"{a:g}" for a in sorted(candidates))
        return best_alpha, 1.0, f"alpha = {best_alpha:g}: best one-step validation return of {tried}, c = 1"
    studies = [s for s in later_steps if s.validation and s.alpha is None and s.run in runs]
    if not studies:
        return inner_lr, 1.0, "alpha of the run, c = 1 (no validation study)"
    scales = sorted({row["scale"] for s in studies for row in s.rows})
    score = {
        c: float(np.mean([row["mean_stochastic"][-1] for s in studies for row in s.rows if row["scale"] == c]))
        for c in scales
    }
    best = max(scales, key=lambda c: score[c])
    return inner_lr, best, f"alpha of the run, c = {best:g}: best 3-step validation return over {len(studies)} seeds"


def write_table(root: Path, records: list[dict[str, Any]]) -> Path:
    """``results/table.json``: one :func:`~hw14_lib.study.protocol.table_row` per (env, family, method, horizon), the
    paper's horizon (200) first."""
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for record in records:
        if "wall_seconds" not in record and "run" in record:  # evaluated before the field existed
            record = {**record, "wall_seconds": (read_summary(root / record["run"]) or {}).get("wall_seconds")}
        key = (record["env"], record["family"], record["method"], int(record["horizon"]))
        groups.setdefault(key, []).append(record)
    order = {m.name: i for i, m in enumerate(catalogue.METHODS)}
    rows = [
        table_row(
            env=env,
            family=family,
            method=method,
            evaluations=group,
            env_steps=[r["env_steps"] for r in group],
            wall_seconds=[r["wall_seconds"] for r in group if r.get("wall_seconds") is not None],
        )
        for (env, family, method, _), group in sorted(
            groups.items(), key=lambda g: (g[0][0], g[0][3] != 200, g[0][3], g[0][1], order[g[0][2]])
        )
    ]
    return atomic_write_json(root / "table.json", rows)
