"""``protocol``: the finished runs of the experiment registry evaluated with the MAML paper's protocol (40 test
tasks, each adapted from its own support batch), into ``results/protocol/<run>.json`` and ``results/table.json``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hw14_lib.commands.common import UsageError


def add_protocol_parser(subparsers: Any) -> None:
    """The ``protocol`` sub-command's arguments."""
    parser = subparsers.add_parser(
        "protocol",
        help="evaluate the finished runs with the MAML paper's protocol and write results/table.json",
        description="Evaluate every finished run that the experiment registry gives a method (MAML seeds, pretrained, "
        "random, oracle, the extensions; every task family) on 40 test tasks drawn from its task distribution, each "
        "adapted from its own 20 "
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
    from hw14_lib.study.protocol_runs import evaluate_run, protocol_runs, write_table

    root = Path(args.results)
    if not root.is_dir():
        raise UsageError(f"--results {str(root)!r} is not a folder")
    if args.physics_threads < 1:
        raise UsageError(f"--physics-threads {args.physics_threads} must be >= 1")
    readme = Path(args.readme) if args.readme else None
    if readme is not None and README_MARKERS[0] not in _read(readme):
        raise UsageError(f"{readme} has no '{README_MARKERS[0]}' ... '{README_MARKERS[1]}' block to rewrite")
    runs = protocol_runs(root)
    names = sorted(runs)
    if args.only:
        unknown = [n for n in args.only if n not in runs]
        if unknown:
            raise UsageError(f"{', '.join(unknown)}: not a protocol run folder under {root} (results list names them)")
        names = list(args.only)
    unfinished = [n for n in names if not is_finished(root / n)]
    names = [n for n in names if is_finished(root / n)]
    if unfinished:
        print(f"skipped (unfinished): {', '.join(unfinished)}")
    failed: list[str] = []
    for name in names:
        try:
            evaluate_run(runs[name], root, physics_threads=args.physics_threads, overwrite=args.overwrite)
        except (ValueError, TypeError, KeyError, OSError) as exc:  # a damaged or foreign file: name it, go on
            print(f"error: {name}: {exc}", file=sys.stderr)
            failed.append(name)
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


README_MARKERS = ("<!-- table.json -->", "<!-- /table.json -->")
"""The block of the README that ``protocol --readme`` rewrites from ``results/table.json``."""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
