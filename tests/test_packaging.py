"""The course submission: zip layout and names, a self-contained LaTeX source, an importable notebook
folder, a PDF that is not blank, and every bad input rejected with exit status 2 and nothing written.

LaTeX builds are slow, so one session-scoped submission (built by the real command in a copy of the
project) serves most tests; tests that need TeX Live are skipped, with the reason, only when
latexmk/pdflatex are not installed (CI installs them in ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hw14_lib.cli import main
from hw14_lib.report.latex_build import build_pdf, first_error, latex_available, undefined_references
from hw14_lib.report.packaging import (
    SubmissionError,
    build_submission,
    display_name,
    submission_name,
    validate_full_name,
    validate_student_number,
)

pytestmark = pytest.mark.slow  # builds the PDF with LaTeX and runs the command line

ROOT = Path(__file__).resolve().parent.parent
NUMBER, NAME = "400123456", "JaneDoe"
ZIP_NAME = f"DRL_HW14_{NUMBER}_{NAME}.zip"
needs_latex = pytest.mark.skipif(
    not latex_available(), reason="latexmk/pdflatex are not installed (CI installs TeX Live in .ci/run)"
)
STAND_IN_NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": "import hw14_lib"}
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def copy_project(dest: Path, *, notebook: bool = True) -> Path:
    """What ``build_submission`` reads, copied to ``dest`` (a stand-in notebook if there is none yet)."""
    ignore = shutil.ignore_patterns("__pycache__", "build", "generated", "checkpoint.pt", "*.mp4")
    dest.mkdir(parents=True)
    for name in ("HW14_Solution.tex", "requirements.txt"):
        shutil.copyfile(ROOT / name, dest / name)
    for folder in ("hw14_lib", "configs", "report", "results", "Notebooks"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    if (ROOT / "benchmarks" / "results.json").is_file():
        (dest / "benchmarks").mkdir()
        shutil.copyfile(ROOT / "benchmarks" / "results.json", dest / "benchmarks" / "results.json")
    nb = dest / "Notebooks" / "HW14_MAML.ipynb"
    if notebook and not nb.is_file():
        nb.parent.mkdir(exist_ok=True)
        nb.write_text(json.dumps(STAND_IN_NOTEBOOK), encoding="utf-8")
    if not notebook:
        nb.unlink(missing_ok=True)
    return dest


def run_cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m hw14_lib ARGS`` in ``cwd`` (which imports the package copied there)."""
    environ = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "hw14_lib", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="session")
def submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip written by ``python -m hw14_lib package`` in a copy of the project."""
    if not latex_available():
        pytest.skip("latexmk/pdflatex are not installed (CI installs TeX Live in .ci/run)")
    project = copy_project(tmp_path_factory.mktemp("submission") / "project")
    proc = run_cli(["package", "--student-number", NUMBER, "--full-name", NAME], project)
    assert proc.returncode == 0, proc.stderr
    path = project / "dist" / ZIP_NAME
    assert path.is_file(), proc.stdout
    return path


@pytest.fixture(scope="session")
def unpacked(submission: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The submission and its inner HW14_Solution.zip, unpacked."""
    out = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(submission) as archive:
        archive.extractall(out)
    with zipfile.ZipFile(out / "HW14_Solution.zip") as archive:
        archive.extractall(out / "latex")
    return out


# --- the good path -------------------------------------------------------------------------------


def test_zip_layout_and_names(submission: Path, unpacked: Path) -> None:
    assert submission.name == ZIP_NAME
    with zipfile.ZipFile(submission) as archive:
        names = archive.namelist()
    assert len(names) == len(set(names))
    for required in (
        "HW14_Solution.pdf",
        "HW14_Solution.zip",
        "Notebooks/HW14_MAML.ipynb",
        "Notebooks/hw14_lib/__init__.py",
        "Notebooks/hw14_lib/rl/maml.py",
        "Notebooks/requirements.txt",
        "Notebooks/configs/backward.yaml",
    ):
        assert required in names
    top = {n.split("/")[0] for n in names}
    assert top == {"HW14_Solution.pdf", "HW14_Solution.zip", "Notebooks"}
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", "checkpoint.pt"))]
    assert (unpacked / "Notebooks" / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()

    with zipfile.ZipFile(unpacked / "HW14_Solution.zip") as archive:
        source = archive.namelist()
    assert "HW14_Solution.tex" in source
    assert "report/generated/numbers.tex" in source
    assert "report/generated/tab_performance.tex" in source
    assert not [n for n in source if n.endswith((".aux", ".log", ".pdf", ".fls", ".fdb_latexmk"))]
    student = (unpacked / "latex" / "report" / "generated" / "student.tex").read_text()
    assert "{Jane Doe}" in student and f"{{{NUMBER}}}" in student


@needs_latex
def test_latex_source_compiles_on_its_own(unpacked: Path, tmp_path: Path) -> None:
    pdf = build_pdf(unpacked / "latex" / "HW14_Solution.tex", build_dir=tmp_path / "build")
    assert pdf.is_file() and pdf.stat().st_size > 10_000


def test_unpacked_notebook_folder_imports_hw14_lib(unpacked: Path) -> None:
    notebooks = unpacked / "Notebooks"
    proc = subprocess.run(
        [sys.executable, "-c", "import pathlib, hw14_lib; print(pathlib.Path(hw14_lib.__file__).resolve())"],
        cwd=notebooks,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, proc.stderr
    imported = Path(proc.stdout.strip().splitlines()[-1])
    assert imported == (notebooks / "hw14_lib" / "__init__.py").resolve()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_pdf_first_page_is_not_blank(unpacked: Path, tmp_path: Path) -> None:
    import matplotlib.image

    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "40",
            "-f",
            "1",
            "-l",
            "1",
            str(unpacked / "HW14_Solution.pdf"),
            str(tmp_path / "p"),
        ],
        check=True,
        timeout=120,
    )
    pages = sorted(tmp_path.glob("p*.png"))
    assert len(pages) == 1
    pixels = np.asarray(matplotlib.image.imread(pages[0]), dtype=float)[..., :3].mean(-1)
    assert pixels.var() > 1e-3  # a white page has zero variance
    assert (pixels < 0.5).mean() > 0.002  # some ink
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-f", "1", "-l", "1", str(unpacked / "HW14_Solution.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "Jane Doe" in text and NUMBER in text and "Homework 14" in text


# --- bad input: exit status 2, one line, nothing written ------------------------------------------


BAD_NAMES = ["Jane Doe", "janeDoe", "Jane", "JANEDOE", "Jane_Doe", "JaneDoe2", "JaneDoé", "", " JaneDoe"]
BAD_NUMBERS = ["40012345a", "", "-400123456", "400 123 456", "４００１２３４５６", "4.5"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_full_name_is_rejected(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["package", "--student-number", NUMBER, "--full-name", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: full name") and "CamelCase" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="CamelCase"):
        validate_full_name(name)


@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_bad_student_number_is_rejected(number: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["package", "--student-number", number, "--full-name", NAME]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: student number") and "digits" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="digits"):
        validate_student_number(number)


def test_bad_input_through_the_real_command(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    proc = run_cli(["package", "--student-number", NUMBER, "--full-name", "Jane Doe"], project)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not CamelCase" in proc.stderr
    assert not (project / "dist").exists()


def test_missing_notebook_is_rejected(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project", notebook=False)
    proc = run_cli(["package", "--student-number", NUMBER, "--full-name", NAME], project)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "notebook" in proc.stderr and "does not exist" in proc.stderr
    assert not (project / "dist").exists()


def test_pdf_that_cannot_be_rebuilt_without_latex(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    proc = run_cli(["package", "--student-number", NUMBER, "--full-name", NAME], project, PATH=str(empty_bin))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "could not be rebuilt" in proc.stderr and "not installed" in proc.stderr
    assert not (project / "dist").exists()


@needs_latex
def test_pdf_that_cannot_be_rebuilt_keeps_the_old_zip(tmp_path: Path) -> None:
    """A LaTeX error (here an unknown number key, which numbers.tex turns into an error) stops the
    build; an earlier zip is left exactly as it was."""
    project = copy_project(tmp_path / "project")
    tex = project / "HW14_Solution.tex"
    tex.write_text(tex.read_text().replace(r"\section{Overview}", r"\section{Overview}\val{no.such.key}", 1))
    old = project / "dist" / ZIP_NAME
    old.parent.mkdir()
    old.write_bytes(b"an earlier submission")
    proc = run_cli(["package", "--student-number", NUMBER, "--full-name", NAME], project)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "could not be rebuilt" in proc.stderr and "no.such.key" in proc.stderr
    assert old.read_bytes() == b"an earlier submission"
    assert [p.name for p in old.parent.iterdir()] == [ZIP_NAME]


# --- small pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["JaneDoe", "MohammadHosseinRohban", "AliMcDonald"])
def test_good_names(name: str) -> None:
    assert validate_full_name(name) == name
    assert submission_name("0042", name) == f"DRL_HW14_0042_{name}.zip"


def test_display_name() -> None:
    assert display_name("MohammadHosseinRohban") == "Mohammad Hossein Rohban"


def test_library_raises_value_error_before_writing(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="CamelCase"):
        build_submission(student_number=NUMBER, full_name="jane", root=tmp_path, dist=tmp_path / "dist")
    with pytest.raises(SubmissionError, match="notebook"):
        build_submission(student_number=NUMBER, full_name=NAME, root=tmp_path, dist=tmp_path / "dist")
    assert list(tmp_path.iterdir()) == []


def test_log_parsing() -> None:
    log = (
        "LaTeX Warning: Reference `sec:x' on page 3 undefined on input line 12.\n"
        "LaTeX Warning: Citation `foo2020' on page 4 undefined on input line 40.\n"
        "LaTeX Warning: Reference `sec:x' on page 5 undefined on input line 80.\n"
        "./HW14_Solution.tex:99: Undefined control sequence.\n"
    )
    assert undefined_references(log) == ["reference sec:x", "citation foo2020"]
    assert undefined_references("LaTeX Warning: There were undefined references.") == ["(unnamed)"]
    assert undefined_references("all fine") == []
    assert first_error(log) == "./HW14_Solution.tex:99: Undefined control sequence."
    assert first_error("! Missing $ inserted.\nmore") == "Missing $ inserted."


# --- the notebook a grader gets --------------------------------------------------------------------


def notebook_with(mode_line: str | None, *, error: bool = False) -> dict:
    """The committed notebook with its mode line replaced (``None``: every output cleared), optionally
    with an error output in its last code cell."""
    notebook = json.loads((ROOT / "Notebooks" / "HW14_MAML.ipynb").read_text(encoding="utf-8"))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    for cell in code:
        if mode_line is None:
            cell["outputs"], cell["execution_count"] = [], None
        for output in cell["outputs"]:
            if output["output_type"] == "stream" and "mode: full (" in "".join(output["text"]):
                output["text"] = mode_line + "\n"
    if error:
        code[-1]["outputs"].append({"output_type": "error", "ename": "RuntimeError", "evalue": "x", "traceback": []})
    return notebook


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("quick", "holds the outputs of a quick-mode run"),
        ("cleared", "holds no full-mode outputs"),
        ("error", "code cell"),
    ],
)
def test_notebook_without_full_mode_outputs_is_refused(case: str, expected: str, tmp_path: Path) -> None:
    """Run All in quick mode autosaves a smoke run over the committed outputs: `package` refuses it with
    one line saying how to restore the full outputs, exit 2, nothing written."""
    project = copy_project(tmp_path / "project")
    notebook = {
        "quick": lambda: notebook_with("mode: quick (HW14_QUICK=1: the smoke configuration ...)"),
        "cleared": lambda: notebook_with(None),
        "error": lambda: notebook_with("mode: full (...)", error=True),
    }[case]()
    (project / "Notebooks" / "HW14_MAML.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    proc = run_cli(["package", "--student-number", NUMBER, "--full-name", NAME], project)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert expected in proc.stderr and "git checkout Notebooks/HW14_MAML.ipynb" in proc.stderr
    assert not (project / "dist").exists()


def test_committed_notebook_passes_the_submission_check() -> None:
    from hw14_lib.report.packaging import check_submission_notebook

    check_submission_notebook(ROOT / "Notebooks" / "HW14_MAML.ipynb")


def test_zip_readme_tells_a_grader_how_to_run_it(unpacked: Path, tmp_path: Path) -> None:
    """The zip's own README: Python version, install, JupyterLab, quick mode; every file it names is in
    the zip; its command-line example runs from the unpacked folder with the package found there."""
    notebooks = unpacked / "Notebooks"
    readme = (notebooks / "README.md").read_text(encoding="utf-8")
    for piece in ("Python 3.11", "pip install -r requirements.txt", "jupyter lab HW14_MAML.ipynb", "HW14_QUICK=1"):
        assert piece in readme
    for name in ("HW14_MAML.ipynb", "requirements.txt", "configs/backward.yaml", "results/dir_maml_s0/policy.pt"):
        assert name in readme and (notebooks / name).is_file(), name
    assert "../HW14_Solution.pdf" in readme and (unpacked / "HW14_Solution.pdf").is_file()
    assert "make " not in readme
    assert "jupyterlab==" in (notebooks / "requirements.txt").read_text()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    train = ["train", "--config", "configs/smoke.yaml", "--out", str(tmp_path / "run"), "--no-progress"]
    proc = subprocess.run(
        [sys.executable, "-m", "hw14_lib", *train],
        cwd=notebooks,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "summary.json").is_file()
