"""``protocol``: the finished direction and velocity runs evaluated with the MAML paper's protocol (40 test tasks,
each adapted from its own support batch), into ``results/protocol/<run>.json`` and ``results/table.json``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from hw14_lib.commands.common import UsageError
from hw14_lib.common import catalogue

METHOD_OF = re.compile(
    r"(?P<prefix>paper_)?(?P<family>"
    + "|".join(f.short for f in catalogue.FAMILIES)
    + r")_(?P<method>"
    + "|".join(sorted((m.name for m in catalogue.METHODS), key=len, reverse=True))  # maml_lslr before maml
    + r")(?P<variant>_h\d+)?(_s\d+)?"
)
"""The experiments the table takes: ``[paper_]<family>_<method>[_h<horizon>][_s<seed>]`` for the catalogue's
families and methods (not the ablations or other variants); ``paper_`` marks a run on the paper's environment,
``_h<T>`` one at another horizon (its own row)."""


def add_protocol_parser(subparsers: Any) -> None:
    """The ``protocol`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "protocol",
        help="evaluate the finished runs with the MAML paper's protocol and write results/table.json",
        description="Evaluate every finished direction, velocity and dynamics run (MAML seeds, pretrained, random, "
        "oracle, the extensions) on 40 test tasks drawn from its task distribution, each adapted from its own 20 "
        "trajectories, k = 0..3 inner steps (first step alpha, later ones c * alpha with c chosen on validation "
        "tasks; learned step sizes as learned), into "
        "RESULTS/protocol/<run>.json (runs already evaluated are kept), then write RESULTS/table.json.",
    )
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="evaluate only these runs")
    parser.add_argument("--overwrite", action="store_true", help="evaluate runs that already have a protocol file")
    parser.add_argument("--physics-threads", type=int, default=2, help="physics threads (default: 2)")
    parser.add_argument(
        "--readme",
        default=None,
        metavar="FILE",
        help="also rewrite the table between FILE's '<!-- table.json -->' markers (e.g. README.md)",
    )
    parser.set_defaults(handler=protocol_command)


def protocol_command(args: argparse.Namespace) -> int:
    """``protocol``: see :func:`add_protocol_parser`."""
    import json

    from hw14_lib.common.io_utils import atomic_write_text, visible_files
    from hw14_lib.run.run_folder import is_finished

    root = Path(args.results)
    if not root.is_dir():
        raise UsageError(f"--results {str(root)!r} is not a folder")
    if args.physics_threads < 1:
        raise UsageError(f"--physics-threads {args.physics_threads} must be >= 1")
    readme = Path(args.readme) if args.readme else None
    if readme is not None and README_MARKERS[0] not in _read(readme):
        raise UsageError(f"{readme} has no '{README_MARKERS[0]}' ... '{README_MARKERS[1]}' block to rewrite")
    folders = sorted(f for f in root.iterdir() if f.is_dir() and METHOD_OF.fullmatch(f.name)) if root.is_dir() else []
    if args.only:
        unknown = [n for n in args.only if not METHOD_OF.fullmatch(n) or not (root / n).is_dir()]
        if unknown:
            raise UsageError(f"{', '.join(unknown)}: not a direction/velocity run folder under {root}")
        folders = [root / n for n in args.only]
    unfinished = [f.name for f in folders if not is_finished(f)]
    folders = [f for f in folders if is_finished(f)]
    if unfinished:
        print(f"skipped (unfinished): {', '.join(unfinished)}")
    failed: list[str] = []
    for folder in folders:
        try:
            _evaluate_run(folder, root, physics_threads=args.physics_threads, overwrite=args.overwrite)
        except (ValueError, TypeError, KeyError, OSError) as exc:  # a damaged or foreign file: name it, go on
            print(f"error: {folder.name}: {exc}", file=sys.stderr)
            failed.append(folder.name)
    records = []
    for record_path in visible_files(root / "protocol", "*.json"):
        try:
            records.append(json.loads(record_path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"error: {record_path}: not a readable protocol record ({type(exc).__name__})", file=sys.stderr)
            if record_path.stem not in failed:
                failed.append(record_path.stem)
    if failed:  # a table without those seeds would change rows silently: keep the one there is
        kept = f"{root / 'table.json'} and the README's table were left as they were"
        print(f"error: {len(failed)} could not be evaluated or read: {', '.join(failed)}; {kept}", file=sys.stderr)
        return 1
    path = write_table(root, records)
    print(f"wrote {path} ({len(records)} runs)")
    if readme is not None:
        from hw14_lib.report.comparison import load_table, protocol_markdown

        text = _read(readme)
        start, end = text.index(README_MARKERS[0]), text.index(README_MARKERS[1])
        table = protocol_markdown(load_table(path))
        atomic_write_text(readme, text[: start + len(README_MARKERS[0])] + "\n" + table + text[end:])
        print(f"rewrote the table of {readme}")
    return 0


def _evaluate_run(folder: Path, root: Path, *, physics_threads: int, overwrite: bool) -> None:
    """Write ``root/protocol/<run>.json`` for one finished run (or add the ``c = 1`` schedule to an existing one).

    Raises:
        ValueError, KeyError, OSError: a damaged or foreign file in the run folder or its protocol record.
    """
    import json

    import torch

    from hw14_lib.common.io_utils import atomic_write_json
    from hw14_lib.rl.policy import load_policy
    from hw14_lib.run.config import TrainConfig
    from hw14_lib.run.run_folder import CONFIG, POLICY, read_summary
    from hw14_lib.study.protocol import PROTOCOL_FAMILIES, PROTOCOL_STEPS, evaluate_protocol

    out = root / "protocol" / f"{folder.name}.json"
    match = METHOD_OF.fullmatch(folder.name)
    assert match is not None  # the caller filtered
    family, method, prefix = match["family"], match["method"], match["prefix"] or ""
    if out.is_file() and not overwrite:
        record = json.loads(out.read_text(encoding="utf-8"))
        if needs_paper_schedule(record) and "paper_schedule" not in record:
            cfg = TrainConfig.from_yaml(folder / CONFIG, physics_threads=physics_threads)
            torch.set_num_threads(cfg.torch_threads)
            record["paper_schedule"] = paper_schedule(cfg, load_policy(folder / POLICY), record["alpha"])
            atomic_write_json(out, record)
            print(f"{folder.name}: added the c = 1 schedule: {_means(record['paper_schedule'])}")
        return
    cfg = TrainConfig.from_yaml(folder / CONFIG, physics_threads=physics_threads)
    torch.set_num_threads(cfg.torch_threads)
    alpha, later_scale, why = step_schedule(
        root, family, method, cfg.inner_lr, prefix=prefix, variant=match["variant"] or ""
    )
    steps = 0 if catalogue.method(method).scores_once else PROTOCOL_STEPS
    policy = load_policy(folder / POLICY)
    evaluation = evaluate_protocol(cfg, policy, alpha=alpha, later_scale=later_scale, steps=steps)
    summary = read_summary(folder) or {}
    record = {
        "run": folder.name,
        "env": cfg.env,
        "family": PROTOCOL_FAMILIES[family],
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
    print(f"{folder.name}: k = 0..{steps}: {_means(evaluation)} (mean ± s.e.m. over {tasks} tasks)")


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


def _means(evaluation: dict[str, Any]) -> str:
    return ", ".join(f"{m:.1f} ± {s:.1f}" for m, s in zip(evaluation["mean"], evaluation["sem"], strict=True))


README_MARKERS = ("<!-- table.json -->", "<!-- /table.json -->")
"""The block of the README that ``protocol --readme`` rewrites from ``results/table.json``."""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def step_schedule(
    root: Path, family: str, method: str, inner_lr: float, *, prefix: str = "", variant: str = ""
) -> tuple[float, float, str]:
    """``(alpha, later_scale, why)`` of a run's protocol evaluation, chosen on validation tasks only.

    By the method's :data:`~hw14_lib.common.catalogue.Schedule`: ``validated`` (MAML, ProMP), its own ``alpha`` and the
    scale ``c`` whose 3-step return on the validation tasks, averaged over the family's seeds, is highest
    (``results/later_steps/*_validation.json``; ``c = 1`` without a study); ``own_alpha`` (pretrained), the ``alpha``
    of its step-size studies (``later-steps --alpha A --scales 1 --validation``) with the best one-step validation
    return, ``c = 1``; ``alpha`` (random), the run's ``alpha``, ``c = 1``; ``learned``, the learned sizes; ``none``
    (oracle), no step (k = 0 only).
    ``prefix`` (``"paper_"``) and ``variant`` (``"_h100"``) keep each environment's and setting's studies to its
    own runs.
    """
    import numpy as np

    from hw14_lib.report.data import load_later_steps

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
            if s.validation and s.alpha is not None and s.run == f"{prefix}{family}_{method}{variant}"
        }
        if not candidates:
            return inner_lr, 1.0, "the MAML alpha, c = 1 (no step-size study on validation tasks)"
        best_alpha = max(candidates, key=lambda a: candidates[a])
        tried = ", ".join(f"{a:g}" for a in sorted(candidates))
        return best_alpha, 1.0, f"alpha = {best_alpha:g}: best one-step validation return of {tried}, c = 1"
    studies = [
        s
        for s in later_steps
        if s.validation and s.alpha is None and re.fullmatch(rf"{prefix}{family}_{method}{variant}(_s\d+)?", s.run)
    ]
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
    from hw14_lib.common.io_utils import atomic_write_json
    from hw14_lib.run.run_folder import read_summary
    from hw14_lib.study.protocol import TABLE_METHODS, table_row

    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for record in records:
        if "wall_seconds" not in record and "run" in record:  # evaluated before the field existed
            record = {**record, "wall_seconds": (read_summary(root / record["run"]) or {}).get("wall_seconds")}
        key = (record["env"], record["family"], record["method"], int(record["horizon"]))
        groups.setdefault(key, []).append(record)
    order = {m: i for i, m in enumerate(TABLE_METHODS)}
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
