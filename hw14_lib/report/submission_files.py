"""Which project files the submission zip carries, and how a symbolic link among them is treated.

* ``results/``: only what the notebook reads (:func:`notebook_result_files`), and only from finished
  runs; the report is built from the same finished runs (:func:`finished_result_files`).
* Symbolic links: a file is packed under its own name with the contents of its target when the target
  lies inside the project folder; a link to anything outside it, or to nothing, is refused with one line
  naming it (:func:`project_file`, :func:`project_files`).
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

from hw14_lib.report.data import FAMILIES
from hw14_lib.run.run_folder import CHECKPOINT, POLICY, RUN_FILES, VIDEO, is_finished, is_run
from hw14_lib.study.experiments import BACKWARD_RUN

SKIPPED_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints", "build", ".pytest_cache"})
"""Folders never packed (caches and build outputs); hidden files and folders are never packed either."""
FULL_RUN = BACKWARD_RUN
"""The default run the notebook shows in full, the only one whose ``video.mp4`` it plays."""
PROTOCOL_EXPERIMENTS = tuple(f"paper_{prefix}_maml_lslr" for prefix in FAMILIES)
"""Experiments whose per-seed ``results/protocol/<run>.json`` the notebook reads
(:func:`hw14_lib.report.extensions.extension_facts`: do learned step sizes raise the return at every step)."""


class SubmissionError(ValueError):
    """The submission cannot be built as asked; the message says why, in one line."""


def project_file(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """The file to read for ``path`` (inside ``root``): ``path`` itself, or where its symbolic links lead.

    Every component of ``path`` below ``root`` is checked; a link is followed only to a target inside
    ``root`` (so the zip holds the project's own files, never one from elsewhere on the machine).

    Raises:
        SubmissionError: a component is a link to nothing or to a place outside ``root``.
    """
    root = Path(root).resolve()
    path = Path(path)
    current = root
    for part in path.absolute().relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            target = current.resolve()
            name = path.absolute().relative_to(root).as_posix()
            if not target.exists():
                raise SubmissionError(f"{name} is a symbolic link to {target}, which does not exist; remove the link")
            if not target.is_relative_to(root):
                raise SubmissionError(
                    f"{name} is a symbolic link to {target}, outside the project folder {root}; "
                    "put the file itself there or remove the link"
                )
            current = target
    return current


def project_files(
    folder: str | os.PathLike[str], root: str | os.PathLike[str], *, skip: frozenset[str] = SKIPPED_DIRS
) -> list[Path]:
    """Files under ``folder`` (inside ``root``), sorted, as paths under ``folder`` (a linked folder's files
    under the link's name); caches, build folders, ``skip`` and hidden files left out.

    Raises:
        SubmissionError: a link that :func:`project_file` refuses, or a linked folder that holds the link.
    """
    folder, root = Path(folder), Path(root).resolve()
    if not folder.is_dir():
        return []
    project_file(folder, root)
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
        for name in dirnames:
            target = project_file(here / name, root)
            if (here / name).is_symlink() and here.resolve().is_relative_to(target):
                link = (here / name).absolute().relative_to(root).as_posix()
                raise SubmissionError(f"{link} is a symbolic link to {target}, a folder that holds it; remove the link")
        for name in sorted(filenames):
            if not name.startswith("."):
                project_file(here / name, root)
                found.append(here / name)
    return found


def is_unfinished_run(folder: Path) -> bool:
    """A run folder (:func:`hw14_lib.run.run_folder.is_run`) without its ``summary.json``: still training."""
    return is_run(folder) and not is_finished(folder)


def notebook_result_files(results: str | os.PathLike[str]) -> list[Path]:
    """The files of ``results`` that the notebook reads (:mod:`hw14_lib.notebook.results` and
    :mod:`~hw14_lib.notebook.adaptation`), from finished runs only, sorted:

    * every finished run folder's ``config.yaml``, ``metrics.jsonl`` and ``summary.json`` (the learning
      curves, training plots, adaptation curves and run lines are drawn from them, in every run folder);
    * ``backward/video.mp4`` (the full run's cells);
    * ``<dir|vel>_maml_s0/policy.pt`` (the adaptation explorer, and the README's command-line example);
    * ``table.json``, ``later_steps/*.json`` and the per-seed protocol files of :data:`PROTOCOL_EXPERIMENTS`.

    Nothing else: no checkpoints, no other videos or policies, no status page, no folder still training.
    """
    results = Path(results)
    if not results.is_dir():
        return []
    finished = {p.name for p in results.iterdir() if p.is_dir() and is_run(p) and is_finished(p)}
    wanted = [results / run / name for run in sorted(finished) for name in RUN_FILES]
    wanted += [results / FULL_RUN / VIDEO] if FULL_RUN in finished else []
    wanted += [results / f"{prefix}_maml_s0" / POLICY for prefix in FAMILIES if f"{prefix}_maml_s0" in finished]
    wanted += [results / "table.json", *sorted((results / "later_steps").glob("*.json"))]
    for experiment in PROTOCOL_EXPERIMENTS:
        for path in sorted((results / "protocol").glob(f"{experiment}_s*.json")):
            if re.fullmatch(rf"{re.escape(experiment)}_s\d+", path.stem) and path.stem in finished:
                wanted.append(path)
    return sorted({p for p in wanted if p.is_file()})


def finished_result_files(results: str | os.PathLike[str], root: str | os.PathLike[str]) -> list[Path]:
    """Every file of ``results`` but checkpoints and the folders still training (what the report reads)."""
    results = Path(results)
    unfinished = [p for p in results.iterdir() if p.is_dir() and is_unfinished_run(p)] if results.is_dir() else []
    return [
        p
        for p in project_files(results, root)
        if p.name != CHECKPOINT and not any(p.is_relative_to(folder) for folder in unfinished)
    ]


def describe_zip(path: str | os.PathLike[str]) -> str:
    """One line on a written zip: ``dist/X.zip: 9.7 MB, 212 files``."""
    with zipfile.ZipFile(path) as archive:
        count = sum(not info.is_dir() for info in archive.infolist())
    return f"{path}: {Path(path).stat().st_size / 1e6:.1f} MB, {count} files"
