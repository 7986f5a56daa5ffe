"""The course submission: zip layout and names, a self-contained LaTeX source, an importable notebook
folder that carries exactly the results the notebook reads (finished runs only), every path the notebook
and the zip's README name, symbolic links packed as their in-project target or refused, a PDF that is not
blank, and every bad input rejected with exit status 2 and nothing written.

LaTeX builds are slow, so one session-scoped submission (built by the real command in a copy of the
project) serves most tests; tests that need TeX Live are skipped, with the reason, only when
latexmk/pdflatex are not installed (CI installs them in ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import re
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
    LIVE_ITERATIONS,
    ZIP_README,
    SubmissionError,
    build_submission,
    display_name,
    submission_name,
    validate_full_name,
    validate_student_number,
)
from hw14_lib.report.submission_files import (
    describe_zip,
    is_unfinished_run,
    notebook_result_files,
    project_file,
    project_files,
)
from hw14_lib.run.run_folder import RUN_FILES, SUMMARY

pytestmark = pytest.mark.slow  # builds the PDF with LaTeX and runs the command line

ROOT = Path(__file__).resolve().parents[2]
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
    """What ``build_submission`` reads, copied to ``dest`` (a stand-in notebook if there is none yet); hidden
    files are left out (a run still training writes its temporaries and lock there)."""
    ignore = shutil.ignore_patterns("__pycache__", "build", "generated", "checkpoint.pt", ".*")
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


UNFINISHED = "dir_maml_s9"
"""A run folder the fixture adds still training (no summary.json): it must stay out of the zip and the report."""
LINKED = "results/dir_maml_s0/policy.pt"
"""A file the fixture turns into a symbolic link to a copy elsewhere inside the project."""


def add_unfinished_run(project: Path) -> Path:
    """``results/<UNFINISHED>/``: the configuration and first metrics of seed 0, a checkpoint, no summary."""
    folder = project / "results" / UNFINISHED
    folder.mkdir()
    shutil.copyfile(project / "results" / "dir_maml_s0" / "config.yaml", folder / "config.yaml")
    lines = (project / "results" / "dir_maml_s0" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "metrics.jsonl").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    (folder / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (project / "results" / "STATUS.md").write_text(f"| {UNFINISHED} | not started |\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip written by ``python -m hw14_lib package`` in a copy of the project, to which a run still
    training (:data:`UNFINISHED`), a status page and an in-project symbolic link (:data:`LINKED`) are added."""
    if not latex_available():
        pytest.skip("latexmk/pdflatex are not installed (CI installs TeX Live in .ci/run)")
    project = copy_project(tmp_path_factory.mktemp("submission") / "project")
    add_unfinished_run(project)
    store = project / "store" / "policy.pt"
    store.parent.mkdir()
    (project / LINKED).rename(store)
    (project / LINKED).symlink_to(Path("..", "..", "store", "policy.pt"))
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
    source = tex.read_text()
    assert r"\begin{document}" in source
    tex.write_text(source.replace(r"\begin{document}", r"\begin{document}\val{no.such.key}", 1))
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


# --- what results/ carries: what the notebook reads, from finished runs ---------------------------


def write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_notebook_result_files_keep_what_the_notebook_reads(tmp_path: Path) -> None:
    """Run files of finished runs only; a video and policies only where the notebook plays or loads them; no
    plots (the notebook draws them from the metrics), status page, diagnostics or protocol file it does not read."""
    results = tmp_path / "results"
    runs = ("backward", "dir_maml_s0", "dir_maml_s1", "vel_maml_s0", "paper_dir_maml_lslr_s0", "paper_vel_maml_lslr_s1")
    for run in runs:
        for name in (*RUN_FILES, "checkpoint.pt", "policy.pt", "video.mp4", "meta_loss.png", "query_return.png"):
            write(results / run / name)
    (results / "paper_vel_maml_lslr_s1" / SUMMARY).unlink()  # still training
    write(results / "vel_oracle" / "metrics.jsonl")  # still training
    for name in (
        "STATUS.md",
        "README.md",
        "table.json",
        "later_steps/dir_maml_s0.json",
        "diagnostics/dir_maml_s0_final_alpha.json",
        "figures/fig_learning_dir.png",
        "protocol/dir_maml_s0.json",
        "protocol/paper_dir_maml_lslr_s0.json",
        "protocol/paper_dir_maml_lslr_s0_old.json",
        "protocol/paper_vel_maml_lslr_s1.json",
    ):
        write(results / name)
    finished = runs[:-1]
    expected = {f"{run}/{name}" for run in finished for name in RUN_FILES}
    expected |= {"backward/video.mp4", "dir_maml_s0/policy.pt", "vel_maml_s0/policy.pt"}
    expected |= {"table.json", "later_steps/dir_maml_s0.json", "protocol/paper_dir_maml_lslr_s0.json"}
    assert {p.relative_to(results).as_posix() for p in notebook_result_files(results)} == expected


def test_zip_holds_finished_runs_only(submission: Path, unpacked: Path) -> None:
    """No status page, no folder still training (the fixture's :data:`UNFINISHED` and whatever the project's
    results/ holds still training), every run folder in the zip finished, and the report built from the same
    finished runs (no generated file names the unfinished run or lists unfinished runs)."""
    project = submission.parent.parent
    with zipfile.ZipFile(submission) as archive:
        names = archive.namelist()
    assert not [n for n in names if "STATUS" in n]
    training = {p.name for p in (project / "results").iterdir() if p.is_dir() and is_unfinished_run(p)}
    assert UNFINISHED in training
    assert not [n for n in names if n.split("/")[:2] == ["Notebooks", "results"] and n.split("/")[2] in training]
    results = unpacked / "Notebooks" / "results"
    for folder in (p for p in results.iterdir() if p.is_dir()):
        if any((folder / name).is_file() for name in RUN_FILES):
            assert (folder / SUMMARY).is_file(), folder.name
    generated = unpacked / "latex" / "report" / "generated"
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in generated.rglob("*.tex"))
    assert UNFINISHED not in text and UNFINISHED.replace("_", r"\_") not in text
    assert "unfinished runs" not in text


TRACE = r"""
import json, os, sys
from pathlib import Path

results, work = Path(sys.argv[1]).resolve(), sys.argv[2]
touched = set()


def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        touched.add(os.fsdecode(args[0]))
    elif event == "subprocess.Popen":  # ffmpeg decodes the videos
        touched.update(str(a) for a in args[1] or [])


sys.addaudithook(hook)
from hw14_lib import notebook as nb

settings = nb.notebook_settings({"HW14_RESULTS": str(results), "HW14_WORK_DIR": work})
nb.configure_notebook(settings)
full = nb.full_run_folder(settings)
shown = [nb.full_run_note(full, settings), *nb.training_figures(full, settings)]
shown += [*nb.adaptation_results(full, settings), *nb.run_video(full, settings)]
for family in nb.FAMILY_PREFIXES:
    shown += nb.family_results(settings, family)
    nb.meta_trained_policy(settings, family)
shown += [*nb.later_step_results(settings), *nb.comparable_results(settings), *nb.extension_results(settings)]
paths = [Path(p).resolve() for p in touched if os.path.isabs(p)]
read = sorted({p.relative_to(results).as_posix() for p in paths if p.is_relative_to(results) and p.is_file()})
print(json.dumps({"read": read, "notes": [item.text for item in shown if isinstance(item, nb.Note)]}))
"""
TRACED_HELPERS = {
    "full_run_folder",
    "full_run_note",
    "training_figures",
    "adaptation_results",
    "run_video",
    "family_results",
    "later_step_results",
    "comparable_results",
    "extension_results",
    "adaptation_explorer",  # these two read results/ only through meta_trained_policy, which TRACE calls
    "adaptation_demo",
}
"""The notebook's helpers that read results/, all called by :data:`TRACE`."""
OTHER_HELPERS = {"notebook_settings", "configure_notebook", "image", "animation", "make_task", "live_training_config"}


def trace_notebook_reads(project: Path, results: Path, work: Path) -> dict:
    """The files of ``results`` that the notebook's result cells open (imports ``hw14_lib`` from ``project``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-c", TRACE, str(results), str(work)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_trace_calls_every_helper_the_notebook_reads_results_with() -> None:
    notebook = json.loads((ROOT / "Notebooks" / "HW14_MAML.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert set(re.findall(r"\bnb\.(\w+)\(", code)) <= TRACED_HELPERS | OTHER_HELPERS


def test_zip_carries_exactly_what_the_notebook_reads(submission: Path, unpacked: Path, tmp_path: Path) -> None:
    """The notebook's result cells, run on the project copy and on the unpacked zip: everything they read from
    finished runs in the project is in the zip, and everything the zip's results/ holds is read there (run
    configurations aside, which the notebook reads only for the runs it lists), with no run shown in progress."""
    project = submission.parent.parent
    in_project = trace_notebook_reads(project, project / "results", tmp_path / "project")
    in_zip = trace_notebook_reads(unpacked / "Notebooks", unpacked / "Notebooks" / "results", tmp_path / "zip")
    with zipfile.ZipFile(submission) as archive:
        shipped = {
            n.removeprefix("Notebooks/results/") for n in archive.namelist() if n.startswith("Notebooks/results/")
        }
    training = {p.name for p in (project / "results").iterdir() if p.is_dir() and is_unfinished_run(p)}
    assert UNFINISHED in {f.split("/")[0] for f in in_project["read"]}  # the trace does see run folders
    needed = {f for f in in_project["read"] if f.split("/")[0] not in training}
    assert needed - shipped == set()
    assert "backward/video.mp4" in in_zip["read"]
    assert {f for f in shipped - set(in_zip["read"]) if not f.endswith("/config.yaml")} == set()
    assert [f for f in shipped if f.endswith((".mp4", ".gif"))] == ["backward/video.mp4"]
    assert not [n for n in in_zip["notes"] if "in progress" in n or "unfinished" in n], in_zip["notes"]


# --- every path the notebook and the zip's README name, relative to Notebooks/ ---------------------

WRITTEN_WHEN_RUN = ("runs/", ".venv/")
"""Folders that running the notebook or the README's commands creates in Notebooks/: not in the zip."""


def named_paths(text: str, tops: set[str]) -> set[str]:
    """Paths in ``text`` that start (after any ``../``) with one of ``tops``, the project's and the zip's
    top-level names: ``results/backward/video.mp4``, ``../HW14_Solution.pdf``, ``configs/``."""
    alternatives = "|".join(re.escape(t) for t in sorted(tops, key=len, reverse=True))
    pattern = rf"(?<![\w/:.@-])((?:\.\./)+(?:{alternatives})(?![\w.-])(?:/[\w.-]*)*|(?:{alternatives})/[\w./-]*)"
    return {m.rstrip(".,") for m in re.findall(pattern, text)}


def missing_paths(texts: list[str], unpacked: Path) -> list[str]:
    """The paths named in ``texts`` that do not exist relative to ``unpacked/Notebooks``."""
    notebooks = unpacked / "Notebooks"
    tops = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} | {p.name for p in unpacked.iterdir()}
    tops |= {p.name for p in notebooks.iterdir()} | {"runs"}
    missing = []
    for path in sorted(set().union(*(named_paths(t, tops) for t in texts))):
        if os.path.normpath(path).startswith(WRITTEN_WHEN_RUN) or path.rstrip("/") in WRITTEN_WHEN_RUN:
            continue
        if path.rstrip("/") == notebooks.name:  # the folder itself, named as the zip lays it out
            continue
        target = (notebooks / path).resolve()
        if not (target.is_relative_to(unpacked.resolve()) and target.exists()):
            missing.append(path)
    return missing


def test_named_paths() -> None:
    tops = {"results", "configs", "HW14_Solution.pdf", "runs"}
    text = (
        "see `results/backward/video.mp4`, ../results/table.json. and ../HW14_Solution.pdf; configs/ but not "
        "hw14/HalfCheetahBackward-v0, m/s, https://example.org/results/x or my_results/x"
    )
    expected = {"results/backward/video.mp4", "../results/table.json", "../HW14_Solution.pdf", "configs/"}
    assert named_paths(text, tops) == expected


def test_zip_readme_paths_exist(unpacked: Path) -> None:
    readme = (unpacked / "Notebooks" / "README.md").read_text(encoding="utf-8")
    assert missing_paths([readme], unpacked) == []


def notebook_texts(path: Path) -> list[str]:
    """The notebook's Markdown cells and the text of its saved outputs (streams, plain text, Markdown)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    texts = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    for output in (o for c in cells for o in c.get("outputs", [])):
        texts.append("".join(output.get("text", "")))
        for kind in ("text/plain", "text/markdown"):
            value = output.get("data", {}).get(kind, "")
            texts.append("".join(value) if isinstance(value, list) else value)
    return texts


def test_notebook_paths_exist_in_the_zip(unpacked: Path) -> None:
    """DEPENDS ON THE NOTEBOOK BEING RE-EXECUTED: its captions must name files relative to the project folder
    (``results/backward/video.mp4``, which in the zip is ``Notebooks/results/backward/video.mp4``), not
    relative to the kernel's working folder (``../results/...``). Fails until the notebook is re-executed
    with such captions; the zip's side (the files being there) is checked by the tests above."""
    missing = missing_paths(notebook_texts(unpacked / "Notebooks" / "HW14_MAML.ipynb"), unpacked)
    assert missing == [], f"named by the notebook but not in Notebooks/ of the zip (re-execute the notebook): {missing}"


# --- the zip's README and `make submission`'s last line ---------------------------------------------


def test_zip_readme_wording() -> None:
    """``--allow-root`` for Jupyter as root; no tracker wording; no time typed by hand; the live run's
    iterations those of the notebook's full mode."""
    from hw14_lib.notebook import notebook_settings

    assert "--allow-root" in ZIP_README
    assert not re.search(r"\btargets?\b|so far|\bissues?\b|#\d", ZIP_README, re.IGNORECASE)
    assert not re.search(r"\b(seconds?|minutes?|hours?)\b|a few\b", ZIP_README, re.IGNORECASE)
    assert LIVE_ITERATIONS == notebook_settings({}).live_iterations
    assert f"{LIVE_ITERATIONS} iterations" in ZIP_README


def test_describe_zip(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x/", "")
        archive.writestr("x/a.txt", "a" * 1000)
        archive.writestr("b.txt", "b")
    assert describe_zip(path) == f"{path}: {path.stat().st_size / 1e6:.1f} MB, 2 files"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def without_make_variables() -> dict[str, str]:
    """This process's environment without what an enclosing `make test` passes down (MAKEFLAGS, MAKELEVEL),
    which would make the dry run print "make[1]: Entering directory" lines into the commands."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}


def test_make_submission_prints_size_and_count(submission: Path) -> None:
    """The commands `make submission` runs after `package` print one line: the zip, its size and file count."""
    project = submission.parent.parent
    variables = [f"STUDENT_NUMBER={NUMBER}", f"FULL_NAME={NAME}", f"PY={sys.executable}"]
    make = ["make", "-n", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-o", "tex", "-o", ".venv/.installed"]
    dry = subprocess.run(
        [*make, "submission", *variables],
        cwd=project,
        env=without_make_variables(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = dry.split(" package --student-number", 1)[1].split("\n", 1)[1]
    proc = subprocess.run(["bash", "-c", after], cwd=project, capture_output=True, text=True, check=True)
    with zipfile.ZipFile(submission) as archive:
        count = len([n for n in archive.namelist() if not n.endswith("/")])
    size = submission.stat().st_size / 1e6
    assert proc.stdout == f"dist/{ZIP_NAME}: {size:.1f} MB, {count} files\n"


# --- symbolic links: packed as their in-project target, or refused ---------------------------------


def test_link_inside_the_project_is_packed_as_its_target(tmp_path: Path) -> None:
    root = tmp_path / "project"
    data = write(root / "data" / "a.txt", "A")
    (root / "configs").mkdir()
    (root / "configs" / "a.txt").symlink_to(Path("..", "data", "a.txt"))
    (root / "configs" / "sub").symlink_to(root / "data", target_is_directory=True)
    files = project_files(root / "configs", root)
    assert [p.relative_to(root).as_posix() for p in files] == ["configs/a.txt", "configs/sub/a.txt"]
    assert {project_file(p, root) for p in files} == {data.resolve()}


def test_in_project_link_in_the_zip(submission: Path, unpacked: Path) -> None:
    """The fixture's :data:`LINKED` (a link to ``store/policy.pt``) is a regular file with the target's bytes;
    the folder it points into is not packed."""
    project = submission.parent.parent
    with zipfile.ZipFile(submission) as archive:
        info = archive.getinfo(f"Notebooks/{LINKED}")
        names = archive.namelist()
    assert (info.external_attr >> 16) & 0o170000 != 0o120000  # not stored as a link
    assert (unpacked / "Notebooks" / LINKED).read_bytes() == (project / "store" / "policy.pt").read_bytes()
    assert not [n for n in names if "store/" in n]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("outside file", "outside the project folder"),
        ("outside folder", "outside the project folder"),
        ("dangling", "which does not exist"),
        ("own parent", "a folder that holds it"),
    ],
)
def test_link_leaving_the_project_is_refused(case: str, expected: str, tmp_path: Path) -> None:
    root, outside = tmp_path / "project", tmp_path / "outside"
    write(root / "configs" / "backward.yaml")
    write(outside / "a.txt")
    target = {
        "outside file": outside / "a.txt",
        "outside folder": outside,
        "dangling": root / "gone",
        "own parent": root,
    }
    (root / "configs" / "a").symlink_to(target[case])
    with pytest.raises(SubmissionError) as error:
        project_files(root / "configs", root)
    message = str(error.value)
    assert "\n" not in message and message.startswith("configs/a is a symbolic link to ") and expected in message


@pytest.mark.parametrize("where", ["results/backward/video.mp4", "results/dir_maml_s0", "report/outside.tex"])
def test_package_refuses_a_link_out_of_the_project(where: str, tmp_path: Path) -> None:
    """Through the real command: exit 2, one line naming the link, nothing written (LaTeX not needed)."""
    project = copy_project(tmp_path / "project")
    outside = write(tmp_path / "elsewhere" / "file", "not the project's")
    link = project / where
    if link.is_dir():
        shutil.rmtree(link)
    link.unlink(missing_ok=True)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside.parent if where == "results/dir_maml_s0" else outside)
    proc = run_cli(["package", "--student-number", NUMBER, "--full-name", NAME], project)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert (
        proc.stderr.startswith(f"error: {where} is a symbolic link to ") and "outside the project folder" in proc.stderr
    )
    assert not (project / "dist").exists()
