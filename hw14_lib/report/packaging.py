"""The course submission ``DRL_HW14_<StudentNumber>_<FullName>.zip``, built by one call.

Layout (the course's section 2.2)::

    HW14_Solution.pdf           the report, rebuilt from the sources below
    HW14_Solution.zip           HW14_Solution.tex + report/ (figures, tables, numbers): it
                                compiles on its own with ``latexmk -pdf HW14_Solution.tex``
    Notebooks/HW14_MAML.ipynb   the notebook, and beside it what it needs to run from the unpacked
    Notebooks/hw14_lib/         zip: the package, requirements.txt, configs/, the files of results/
    Notebooks/requirements.txt  the notebook reads, from finished runs only
    Notebooks/configs/          (:func:`~hw14_lib.report.submission_files.notebook_result_files`), and
    Notebooks/results/          the README below
    Notebooks/README.md

``Notebooks/`` is the project folder as the notebook sees it: a path the notebook, its outputs or the README
name (``results/backward/video.mp4``) is relative to it. A symbolic link among the packed files is packed as
its target when that lies inside the project folder, and refused otherwise
(:mod:`hw14_lib.report.submission_files`).

The notebook must hold the outputs of a full-mode run (:func:`check_submission_notebook`): Run All
in quick mode autosaves a smoke run's outputs over the committed ones, and that copy is refused.
``Notebooks/README.md`` in the zip (:data:`ZIP_README`) tells a grader with only the zip how to run it.

Names: ``FullName`` must be CamelCase with no spaces, which we take to mean two or more
capitalized ASCII words run together, ``^[A-Z][a-z]+(?:[A-Z][a-z]+)+$`` (``JaneDoe``,
``MohammadHosseinRohban``; not ``Jane``, ``janeDoe``, ``Jane Doe``, ``JANEDOE``); the student
number is one or more ASCII digits.

The PDF is always rebuilt, in a temporary copy of the sources with the student's name and number
on the title page, so it can be neither missing nor stale, and it is compiled from exactly the
sources that go into ``HW14_Solution.zip`` and from the same finished runs as the notebook's results.
Bad input raises :class:`SubmissionError` (a ``ValueError``) before anything is written; the zip is
written to a temporary file and renamed, so an existing submission is never replaced by a broken one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from hw14_lib.common.io_utils import atomic_write
from hw14_lib.report.assets import generate_report_assets
from hw14_lib.report.latex_build import LATEX_PACKAGES, LatexError, build_pdf, latex_available
from hw14_lib.report.submission_files import (
    SKIPPED_DIRS,
    SubmissionError,
    finished_result_files,
    notebook_result_files,
    project_file,
    project_files,
)

FULL_NAME_PATTERN = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]+)+")
STUDENT_NUMBER_PATTERN = re.compile(r"[0-9]+")
REPORT_TEX = "HW14_Solution.tex"
REPORT_PDF = "HW14_Solution.pdf"
REPORT_ZIP = "HW14_Solution.zip"
NOTEBOOK = "Notebooks/HW14_MAML.ipynb"
LIVE_ITERATIONS = 60
"""Iterations of the notebook's live training run in full mode (``NotebookSettings.live_iterations``, which
the report layer cannot import; a test ties them)."""


MODE_LINE = re.compile(r"^mode: (full|quick) \(", re.MULTILINE)
"""The line that :meth:`hw14_lib.notebook.NotebookSettings.describe` prints first (a test ties them)."""
REFRESH_NOTEBOOK = (
    "restore the committed copy (git checkout Notebooks/HW14_MAML.ipynb) or re-execute it in full mode "
    "(unset HW14_QUICK; jupyter nbconvert --to notebook --execute --inplace Notebooks/HW14_MAML.ipynb "
    "--ExecutePreprocessor.timeout=1800)"
)
ZIP_README = f"""\
# HW14 MAML: the notebook and what it needs

This folder is the project folder of the notebook `HW14_MAML.ipynb`, and it runs on its own: the package
`hw14_lib/` the notebook imports (all of its code), the configurations `configs/`, the results of the
finished runs the notebook shows `results/` (metrics, summaries, the default run's video and the policies
of the adaptation cells; no checkpoints) and `requirements.txt`. Every path the notebook and this README
name is relative to this folder. The report is `../HW14_Solution.pdf`.

## Run it

Python 3.11 (CPU only; Linux renders the videos headless with EGL, `libegl1`). In this folder:

```bash
python3.11 -m venv .venv
.venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu  # optional: the
#   small CPU build; otherwise the next line takes PyPI's build of several GB
.venv/bin/pip install -r requirements.txt
.venv/bin/jupyter lab HW14_MAML.ipynb
```

As root (in a container, for example) Jupyter refuses to start without `--allow-root`:
`.venv/bin/jupyter lab --allow-root HW14_MAML.ipynb`.

Run the cells from the top (Run > Run All Cells). The saved outputs are those of a full run, so the
notebook can be read without running it.

## What it shows

1. the environment (`HalfCheetah-v5` with the course's backward reward) and the task families MAML needs;
2. the Gaussian MLP policy; 3. batched rollouts and returns; 4. evaluation and a video of the untrained
policy; 5. MAML's inner step and meta-gradient, and a live training run ({LIVE_ITERATIONS} iterations of the
default configuration; the cell prints how long it took); 6. the results of the finished runs: learning
curves, returns after k inner steps next to the MAML paper's baselines, the default run's video;
7. an interactive cell that adapts the meta-trained policy to a direction or speed of your choice.

## Quick mode

`HW14_QUICK=1 .venv/bin/jupyter lab HW14_MAML.ipynb` runs the same cells on a tiny smoke configuration,
writing only to a temporary folder: a check that everything runs, not a result.

## From the command line

```bash
.venv/bin/python -m hw14_lib train --config configs/backward.yaml --out runs/default  # the default run
.venv/bin/python -m hw14_lib evaluate --policy results/dir_maml_s0/policy.pt --steps 3
.venv/bin/python -m hw14_lib --help
```
"""
"""``Notebooks/README.md`` of the zip: how a grader with only the zip runs the notebook."""


def check_submission_notebook(path: str | os.PathLike[str]) -> None:
    """Refuse a notebook that does not hold the outputs of a complete full-mode run.

    The first code cell prints ``mode: full (...)`` or ``mode: quick (...)``
    (:meth:`hw14_lib.notebook.NotebookSettings.describe`). Refused: a quick-mode run's outputs, no
    mode line (never executed, or its outputs cleared), a code cell that was not executed, and an
    error output.

    Raises:
        SubmissionError: one line saying what is wrong and how to restore the full outputs.
    """
    path = Path(path)
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SubmissionError(f"notebook {str(path)!r} is not a readable notebook ({type(exc).__name__})") from exc
    code = [c for c in cells if c.get("cell_type") == "code"]
    text = "".join(
        "".join(o.get("text", "")) for c in code for o in c.get("outputs", []) if o.get("output_type") == "stream"
    )
    modes = set(MODE_LINE.findall(text))
    if "quick" in modes:
        raise SubmissionError(f"notebook {str(path)!r} holds the outputs of a quick-mode run; {REFRESH_NOTEBOOK}")
    if modes != {"full"}:
        raise SubmissionError(f"notebook {str(path)!r} holds no full-mode outputs; {REFRESH_NOTEBOOK}")
    for number, cell in enumerate(code, start=1):
        if cell.get("execution_count") is None:
            raise SubmissionError(f"notebook {str(path)!r}: code cell {number} was not executed; {REFRESH_NOTEBOOK}")
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            raise SubmissionError(f"notebook {str(path)!r}: code cell {number} shows an error; {REFRESH_NOTEBOOK}")


def validate_full_name(full_name: str) -> str:
    """Return ``full_name`` if it is CamelCase without spaces (see the module docstring)."""
    if not FULL_NAME_PATTERN.fullmatch(full_name):
        raise SubmissionError(
            f"full name {full_name!r} is not CamelCase without spaces: join two or more capitalized "
            "words of letters A-Z/a-z, e.g. JaneDoe"
        )
    return full_name


def validate_student_number(student_number: str) -> str:
    """Return ``student_number`` if it is made of the digits 0-9 only."""
    if not STUDENT_NUMBER_PATTERN.fullmatch(student_number):
        raise SubmissionError(f"student number {student_number!r} must contain only the digits 0-9, e.g. 400123456")
    return student_number


def display_name(full_name: str) -> str:
    """``"JaneDoe"`` -> ``"Jane Doe"``, for the title page."""
    return " ".join(re.findall(r"[A-Z][a-z]+", full_name))


def submission_name(student_number: str, full_name: str) -> str:
    """``DRL_HW14_<StudentNumber>_<FullName>.zip`` (inputs validated)."""
    return f"DRL_HW14_{validate_student_number(student_number)}_{validate_full_name(full_name)}.zip"


def build_report(
    root: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    student_name: str = "Full Name",
    student_number: str = "Student Number",
) -> Path:
    """Copy the report's sources from ``root`` into ``dest``, regenerate its assets there from the finished
    runs of ``root/results`` (:func:`~hw14_lib.report.submission_files.finished_result_files`, staged beside
    ``dest``) and ``root/benchmarks/results.json``, and build the PDF in ``dest``.

    Returns:
        The PDF, ``dest/HW14_Solution.pdf``.

    Raises:
        SubmissionError: the sources are missing, hold a refused symbolic link, or the PDF cannot be rebuilt.
    """
    root, dest = Path(root).resolve(), Path(dest)
    if not (root / REPORT_TEX).is_file():
        raise SubmissionError(f"{root / REPORT_TEX} does not exist; run this from the project folder")
    results = dest.parent / f"{dest.name}-results"
    sources = [root / REPORT_TEX, *project_files(root / "report", root, skip=SKIPPED_DIRS | {"generated"})]
    copies = [(p, dest / p.relative_to(root)) for p in sources]  # listing them checks their links
    copies += [(p, results / p.relative_to(root / "results")) for p in finished_result_files(root / "results", root)]
    if not latex_available():
        raise SubmissionError(
            f"{REPORT_PDF} could not be rebuilt: latexmk/pdflatex are not installed; run `make report` once "
            f"(it installs them) or `apt-get install -y {LATEX_PACKAGES}`"
        )
    for path, copy in copies:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(project_file(path, root), copy)
    generate_report_assets(
        results=results,
        benchmarks=root / "benchmarks" / "results.json",
        configs=root / "configs",
        out=dest / "report" / "generated",
        student_name=student_name,
        student_number=student_number,
    )
    try:
        return build_pdf(dest / REPORT_TEX, build_dir=dest.parent / f"{dest.name}-build")
    except LatexError as exc:
        raise SubmissionError(f"{REPORT_PDF} could not be rebuilt: {exc}") from exc


def build_submission(
    *,
    student_number: str,
    full_name: str,
    root: str | os.PathLike[str] = ".",
    dist: str | os.PathLike[str] | None = None,
    notebook: str | os.PathLike[str] | None = None,
) -> Path:
    """Build the report and write ``<dist>/DRL_HW14_<StudentNumber>_<FullName>.zip``.

    Args:
        student_number: digits only.
        full_name: CamelCase, no spaces (see the module docstring).
        root: the project folder (``HW14_Solution.tex``, ``hw14_lib/``, ``results/``, ...).
        dist: output folder (default ``<root>/dist``).
        notebook: the notebook to submit (default ``<root>/Notebooks/HW14_MAML.ipynb``).

    Returns:
        The zip's path.

    Raises:
        SubmissionError: a bad name or number, a missing notebook or sources, a notebook without the
            outputs of a full-mode run, a symbolic link to a place outside ``root`` or to nothing among the
            files to pack, or a PDF that cannot be rebuilt; nothing is written then.
    """
    name = submission_name(student_number, full_name)
    root = Path(root).resolve()
    notebook_path = Path(notebook) if notebook is not None else root / NOTEBOOK
    if not notebook_path.is_file():
        raise SubmissionError(f"notebook {str(notebook_path)!r} does not exist; the submission needs it")
    check_submission_notebook(notebook_path)
    if not (root / "hw14_lib" / "__init__.py").is_file():
        raise SubmissionError(f"{root} holds no hw14_lib package to submit with the notebook")
    out = Path(dist) if dist is not None else root / "dist"
    notebook_entries = _notebook_entries(root, notebook_path)  # refuses a bad link before the slow build
    with tempfile.TemporaryDirectory(prefix="hw14-submission-") as tmp:
        source = Path(tmp) / "source"
        pdf = build_report(root, source, student_name=display_name(full_name), student_number=student_number)
        sources = [p for p in project_files(source, source) if p != pdf]
        if pdf.stat().st_mtime < max(p.stat().st_mtime for p in sources):
            raise SubmissionError(f"{REPORT_PDF} is older than its sources after the build; nothing was written")
        source_zip = Path(tmp) / REPORT_ZIP
        _write_zip(source_zip, ((p, p.relative_to(source).as_posix()) for p in sources))
        readme = Path(tmp) / "README.md"
        readme.write_text(ZIP_README, encoding="utf-8")
        entries = [(pdf, REPORT_PDF), (source_zip, REPORT_ZIP), (readme, "Notebooks/README.md"), *notebook_entries]
        return atomic_write(out / name, lambda tmp_zip: _write_zip(tmp_zip, entries))


def _notebook_entries(root: Path, notebook: Path) -> list[tuple[Path, str]]:
    """``(file to read, name in the zip)`` of everything under ``Notebooks/``: the notebook and what lies
    beside it, the package, the configurations, the requirements and the results the notebook reads
    (:func:`~hw14_lib.report.submission_files.notebook_result_files`); links resolved or refused."""
    notebooks = root / "Notebooks"
    beside = [p for p in project_files(notebooks, root) if p.resolve() != notebook.resolve()]
    entries = [(project_file(p, root), f"Notebooks/{p.relative_to(notebooks).as_posix()}") for p in beside]
    own = notebook.absolute().is_relative_to(root)  # a --notebook from elsewhere is the user's explicit choice
    entries.append((project_file(notebook, root) if own else notebook, f"Notebooks/{notebook.name}"))
    packed = [p for folder in ("hw14_lib", "configs") for p in project_files(root / folder, root) if p.suffix != ".pyc"]
    packed += notebook_result_files(root / "results")
    entries += [(project_file(p, root), f"Notebooks/{p.relative_to(root).as_posix()}") for p in packed]
    entries.append((project_file(root / "requirements.txt", root), "Notebooks/requirements.txt"))
    return entries


def _write_zip(path: Path, entries: Iterable[tuple[Path, str]]) -> None:
    seen: set[str] = set()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file, arcname in entries:
            if arcname not in seen:
                seen.add(arcname)
                archive.write(file, arcname)
