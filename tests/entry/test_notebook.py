"""The notebook: it defines no function or class, its committed copy is executed and clean, it runs
under nbval in quick mode; and the helpers of :mod:`hw14_lib.notebook` it relies on."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from hw14_lib import TrainConfig
from hw14_lib import notebook as nb
from hw14_lib.run.plots import plot_returns_per_step

from conftest import REPO, SMOKE

NOTEBOOK = REPO / "Notebooks" / "HW14_MAML.ipynb"
MAX_NOTEBOOK_BYTES = 3_000_000


# ---------------------------------------------------------------------------------------------------
# The notebook file
# ---------------------------------------------------------------------------------------------------
def strip_magics(source: str) -> str:
    """Cell source without IPython-only lines (``%magic``, ``!shell``, ``name?``), so ``ast`` can parse it."""
    kept = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(("%", "!")) or (stripped.endswith("?") and not stripped.startswith("#")):
            kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept)


def definitions(source: str) -> list[str]:
    """``def``, ``async def``, ``class`` and ``lambda`` found in one code cell."""
    found = []
    for node in ast.walk(ast.parse(strip_magics(source))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(f"def {node.name} (line {node.lineno})")
        elif isinstance(node, ast.ClassDef):
            found.append(f"class {node.name} (line {node.lineno})")
        elif isinstance(node, ast.Lambda):
            found.append(f"lambda (line {node.lineno})")
    return found


def code_cells() -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]


def test_definition_finder_catches_every_kind() -> None:
    source = (
        "%matplotlib inline\n!ls\nx = 1\nclass A:\n    def f(self):\n        return lambda y: y\n"
        "async def g():\n    pass\n"
    )
    assert [d.split()[0] for d in definitions(source)] == ["class", "def", "def", "lambda"]
    assert definitions("print(sum(p for p in range(3)))\nfor i in range(2):\n    print(i)\n") == []


def test_notebook_code_cells_define_no_function_or_class() -> None:
    cells = code_cells()
    assert len(cells) >= 15
    offenders = {i: definitions(c.source) for i, c in enumerate(cells) if definitions(c.source)}
    assert not offenders, f"code cells define their own functions or classes (move them to hw14_lib): {offenders}"


def test_notebook_imports_only_from_hw14_lib_for_project_logic() -> None:
    sources = "\n".join(c.source for c in code_cells())
    assert "from hw14_lib import notebook as nb" in sources
    assert "import hw14_lib" in sources


def test_committed_notebook_is_executed_clean_and_small() -> None:
    """The committed copy holds a run's outputs, with no error, no stderr stream and a modest size."""
    assert NOTEBOOK.stat().st_size < MAX_NOTEBOOK_BYTES, f"{NOTEBOOK.name} is {NOTEBOOK.stat().st_size:,} bytes"
    cells = code_cells()
    not_run = [i for i, c in enumerate(cells) if c.execution_count is None]
    assert not not_run, f"code cells {not_run} were not executed; run the notebook (see tests/entry/test_notebook.py)"
    for i, cell in enumerate(cells):
        for output in cell.outputs:
            assert output.output_type != "error", f"code cell {i} raised {output.get('ename')}: {output.get('evalue')}"
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                f"code cell {i} wrote to stderr: {output.text[:300]}"
            )
    checked = [c for c in cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert len(checked) >= 5 and all(c.outputs for c in checked)


TRACKER_WORDS = re.compile(
    r"\bissue\b|\btarget|\bstretch\b|(?<!progress )\bbar\b|\bso far\b|first version", re.IGNORECASE
)
"""Words of the project's tracker, not of the subject: no cell and no saved output says them."""


def test_notebook_reads_as_a_course_notebook() -> None:
    """nbval's markers are cell tags, not comments in the code; the first code cell is papermill's ``parameters``
    cell; no cell or output speaks the tracker's language; a path shown to the reader is relative to the project
    folder (no ``../``); an mp4 a caption names under ``results/`` exists."""
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    code = [c for c in cells if c.cell_type == "code"]
    assert not [c.source[:40] for c in code if "NBVAL" in c.source]
    assert code[0].metadata.get("tags") == ["parameters"] and re.fullmatch(r"(#.*\n)*quick = None", code[0].source)
    texts = [c.source for c in cells if c.cell_type == "markdown"]
    for cell in code:
        for output in cell.outputs:
            data = output.get("data", {})
            texts.append(output.get("text", "") + data.get("text/plain", "") + data.get("text/markdown", ""))
            texts.append(data.get("text/html", ""))
    spoken = [m.group(0) for text in texts for m in [TRACKER_WORDS.search(text)] if m]
    assert not spoken, spoken
    named = [m for text in texts for m in re.findall(r"every frame in `([^`]+)`", text)]
    assert named and not [n for n in named if n.startswith(("..", "/"))], named
    assert all((REPO / n).is_file() for n in named if n.startswith("results/")), named


@pytest.mark.slow
def test_notebook_runs_under_nbval_in_quick_mode(tmp_path: Path) -> None:
    """``pytest --nbval-lax`` in quick mode: every cell runs, marked cells reproduce the committed output,
    no warning is raised (quick mode makes warnings errors), and nothing is written into the repository."""
    notebooks_before = sorted(p.name for p in NOTEBOOK.parent.iterdir())
    live_before = (REPO / "runs" / "notebook").exists()
    env = {
        **os.environ,
        "HW14_QUICK": "1",
        "HW14_WIDGETS": "0",
        "HW14_WORK_DIR": str(tmp_path / "work"),
        "JUPYTER_PLATFORM_DIRS": "1",  # jupyter_core otherwise warns about its path migration
        "PYTHONUNBUFFERED": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            str(NOTEBOOK),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"nbval failed\nstdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert f"{len(code_cells())} passed" in result.stdout, result.stdout[-2000:]
    assert (tmp_path / "work" / "live_run" / "policy.pt").is_file()
    assert sorted(p.name for p in NOTEBOOK.parent.iterdir()) == notebooks_before
    assert (REPO / "runs" / "notebook").exists() == live_before


# ---------------------------------------------------------------------------------------------------
# Settings and modes
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_env_flag_values(value: str, expected: bool) -> None:
    assert nb.env_flag({"X": value}, "X") is expected
    assert nb.env_flag({}, "X") is None


def test_env_flag_rejects_other_values() -> None:
    with pytest.raises(ValueError, match=r"HW14_QUICK='maybe'.*use 1 or 0"):
        nb.env_flag({"HW14_QUICK": "maybe"}, "HW14_QUICK")


def test_repo_root_is_found_from_the_package_outside_the_repository(tmp_path: Path) -> None:
    assert nb.find_repo_root(tmp_path) == REPO  # the editable install's folder, whatever the working directory


def test_full_mode_settings() -> None:
    s = nb.notebook_settings({})
    assert not s.quick and s.mode == "full"
    assert s.repo_root == REPO and s.results_root == REPO / "results"
    assert s.work_dir == REPO / "runs" / "notebook"  # git-ignored
    assert s.live_config == REPO / "configs" / "backward.yaml" and s.live_iterations == 60
    assert (s.rollout_horizon, s.max_adaptation_steps, s.strict_warnings) == (200, 3, False)
    cfg = nb.live_training_config(s)
    assert cfg.iterations == 60 and cfg.task == "backward" and cfg.video is False
    assert cfg.meta_batch_size == TrainConfig.from_yaml(s.live_config).meta_batch_size


def test_quick_mode_settings_write_outside_the_repository() -> None:
    s = nb.notebook_settings({"HW14_QUICK": "1"})
    try:
        assert s.quick and s.strict_warnings and s.mode == "quick"
        assert s.work_dir.is_dir() and not s.work_dir.resolve().is_relative_to(REPO)
        assert nb.live_training_config(s) == TrainConfig.from_yaml(SMOKE, video=False)
        assert s.rollout_horizon <= 20 and s.video_width * s.video_height <= 96 * 64
        assert "mode: quick" in s.describe()
    finally:
        shutil.rmtree(s.work_dir)


def test_settings_overrides(tmp_path: Path) -> None:
    s = nb.notebook_settings({"HW14_QUICK": "1", "HW14_RESULTS": str(tmp_path / "r"), "HW14_WORK_DIR": str(tmp_path)})
    assert s.results_root == tmp_path / "r" and s.work_dir == tmp_path
    assert s.live_run_dir == tmp_path / "live_run" and s.videos_dir == tmp_path / "videos"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("video_width", 100, "multiple of 16"),
        ("video_height", 0, "multiple of 16"),
        ("rollout_horizon", 1001, "<= 1000"),
        ("rollout_trajectories", 0, ">= 1"),
        ("live_iterations", 0, "None or >= 1"),
        ("max_adaptation_steps", -1, ">= 0"),
    ],
)
def test_settings_validation(tmp_path: Path, field: str, value: int, message: str) -> None:
    import dataclasses

    s = nb.notebook_settings({"HW14_QUICK": "1", "HW14_WORK_DIR": str(tmp_path)})
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(s, **{field: value})


def test_configure_notebook_makes_folders_and_strict_warnings(tmp_path: Path) -> None:
    import warnings

    s = nb.notebook_settings({"HW14_QUICK": "1", "HW14_WORK_DIR": str(tmp_path / "w")})
    with warnings.catch_warnings():
        nb.configure_notebook(s)
        assert s.figures_dir.is_dir() and s.videos_dir.is_dir()
        with pytest.raises(UserWarning):
            warnings.warn("any warning fails quick mode", UserWarning, stacklevel=1)


def test_widget_frontend_detection() -> None:
    assert nb.has_widget_frontend({"HW14_WIDGETS": "1"}) is True
    assert nb.has_widget_frontend({"HW14_WIDGETS": "0", "JPY_SESSION_NAME": "x.ipynb"}) is False
    # no IPython kernel in this process, whatever the environment says
    assert nb.has_widget_frontend({"JPY_SESSION_NAME": "x.ipynb"}) is False
    assert nb.has_widget_frontend({}) is False


def notes(items: list[object]) -> str:
    """The text of the :class:`~hw14_lib.notebook.Note` lines among a helper's returned items."""
    return "\n".join(item.text for item in items if isinstance(item, nb.Note))


def test_adaptation_explorer_degrades_to_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("HW14_WIDGETS", "0")
    s = nb.notebook_settings({"HW14_QUICK": "1", "HW14_WORK_DIR": str(tmp_path)})
    note = nb.adaptation_explorer(s)
    assert isinstance(note, nb.Note) and repr(note).startswith("Run this cell in JupyterLab")
    assert "open the notebook" not in repr(note).lower()
    assert capsys.readouterr().out == ""  # returned, not printed
    monkeypatch.setenv("HW14_WIDGETS", "1")
    assert type(nb.adaptation_explorer(s)).__name__ == "VBox"


# ---------------------------------------------------------------------------------------------------
# Result folders (built from one smoke run)
# ---------------------------------------------------------------------------------------------------
def settings_with(tmp_path: Path, results: Path | None = None) -> nb.NotebookSettings:
    env = {
        "HW14_QUICK": "1",
        "HW14_WORK_DIR": str(tmp_path / "work"),
        "HW14_RESULTS": str(results or tmp_path / "none"),
    }
    s = nb.notebook_settings(env)
    for folder in (s.work_dir, s.figures_dir, s.videos_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return s


def without_working_tree_runs(s: nb.NotebookSettings, tmp_path: Path) -> nb.NotebookSettings:
    """``s`` with a project folder that holds no ``runs/`` (the working tree's ``runs/default``, left by ``make
    run``, would be found first), its configs the repository's."""
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    (root / "configs").symlink_to(REPO / "configs")
    return dataclasses.replace(s, repo_root=root)


def test_missing_results_return_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = without_working_tree_runs(settings_with(tmp_path), tmp_path)
    assert nb.full_run_folder(s) is None
    assert "not available yet" in nb.full_run_note(None, s).text
    for helper in (nb.training_figures, nb.adaptation_results, nb.run_video):
        items = helper(None, s)
        assert len(items) == 1 and notes(items).startswith("skipped")
    for family in ("direction", "velocity"):
        assert f"no {family} runs yet" in notes(nb.family_results(s, family))
    with pytest.raises(ValueError, match="family='speed'"):
        nb.family_results(s, "speed")
    assert capsys.readouterr().out == ""  # everything shown is returned


@pytest.mark.slow
def test_full_run_folder_prefers_results(tmp_path: Path, smoke_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    shutil.copytree(smoke_run, results / "backward")
    s = settings_with(tmp_path, results)
    assert nb.full_run_folder(s) == results / "backward"
    assert "3 iterations" in nb.full_run_note(results / "backward", s).text


def images_of(items: list[object]) -> list[str]:
    """The file names of the images among a helper's returned items."""
    return [Path(i.filename).name for i in items if type(i).__name__ == "Image" and getattr(i, "filename", None)]


def captions_of(items: list[object]) -> list[str]:
    """The Markdown captions among a helper's returned items (``*...*``)."""
    return [i.data for i in items if type(i).__name__ == "Markdown" and i.data.startswith("*")]


@pytest.mark.slow
def test_training_figures_are_drawn_with_titles_and_captions(tmp_path: Path, smoke_run: Path) -> None:
    s = settings_with(tmp_path)
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(smoke_run / "metrics.jsonl", bare)
    items = nb.training_figures(bare, s)
    assert images_of(items) == ["meta_loss.png", "query_return.png"] and len(captions_of(items)) == 2
    assert all(Path(i.filename).parent == s.figures_dir / "bare" for i in items if getattr(i, "filename", None))
    assert [type(i).__name__ for i in items] == ["Image", "Markdown", "Image", "Markdown"]  # a caption under each


@pytest.mark.slow
def test_adaptation_table_and_results(tmp_path: Path, smoke_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    curve = {
        "tasks": ["backward", "forward"],
        "stochastic": [[1.0, 3.0], [10.0, 30.0]],
        "mean_stochastic": [2.0, 20.0],
        "mean_deterministic": [5.0, 50.0],
    }
    table = nb.adaptation_table(curve).splitlines()
    assert table[0] == "| return after k inner steps | k = 0 | k = 1 |"
    assert table[2] == "| sampled actions, mean over tasks | 2.0 | 20.0 |"
    assert table[3] == "| mean action, mean over tasks | 5.0 | 50.0 |"
    assert table[5] == "| sampled actions, task forward | 3.0 | 30.0 |"

    s = settings_with(tmp_path)
    markdown, image, what = nb.adaptation_results(smoke_run, s)
    assert what.data.startswith("*k = 0 is the return before adaptation")
    summary = json.loads((smoke_run / "summary.json").read_text())
    assert f"{summary['adaptation_curve']['mean_stochastic'][0]:.1f}" in markdown.data
    assert Path(image.filename).is_file()
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    assert "no evaluated summary.json" in notes(nb.adaptation_results(unfinished, s))


@pytest.mark.slow
def test_family_results_with_seeds_and_baselines(tmp_path: Path, smoke_run: Path) -> None:
    results = tmp_path / "results"
    for name in ("dir_maml_s0", "dir_maml_s1", "dir_random"):
        shutil.copytree(smoke_run, results / name)
    s = settings_with(tmp_path, results)
    assert [r.name for r in nb.family_runs(s, "direction")] == ["dir_maml_s0", "dir_maml_s1"]
    assert [r.name for r in nb.family_runs(s, "direction", "random")] == ["dir_random"]
    items = nb.family_results(s, "direction")
    names = images_of(items)
    assert names == ["meta_loss.png", "query_return.png", "direction_learning_curves.png", "direction_adaptation.png"]
    assert len(captions_of(items)) == len(names)  # one sentence per figure
    assert notes(items).count(": 3 of 3 iterations, finished") == 3  # two MAML seeds and the baseline


@pytest.mark.slow
def test_run_status(tmp_path: Path, smoke_run: Path) -> None:
    s = settings_with(tmp_path)
    results = tmp_path / "results"
    shutil.copytree(smoke_run, results / "vel_maml_s1")
    s = settings_with(tmp_path, results)
    (run,) = nb.family_runs(s, "velocity")
    assert nb.run_status(run, s).text.endswith(": 3 of 3 iterations, finished")
    partial = tmp_path / "partial"
    shutil.copytree(smoke_run, partial)
    (partial / "summary.json").unlink()
    lines = (partial / "metrics.jsonl").read_text().splitlines(keepends=True)
    (partial / "metrics.jsonl").write_text(lines[0])
    # a one-iteration run has no learning curve to draw yet
    shutil.rmtree(results / "vel_maml_s1")
    shutil.copytree(partial, results / "vel_maml_s0")
    (run,) = nb.family_runs(s, "velocity")
    assert nb.run_status(run, s).text.endswith(": 1 of 3 iterations, in progress")
    assert images_of(nb.family_results(s, "velocity")) == ["meta_loss.png", "query_return.png"]


@pytest.mark.slow
def test_run_video_note(tmp_path: Path, smoke_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = nb.run_video(smoke_run, settings_with(tmp_path))  # the smoke config renders no video
    assert len(items) == 1 and "has no video.mp4" in notes(items)


# ---------------------------------------------------------------------------------------------------
# Videos and the interactive adaptation
# ---------------------------------------------------------------------------------------------------
def test_animation_is_a_gif_in_real_time_and_names_the_mp4(tmp_path: Path) -> None:
    """An untrusted notebook strips <video> but draws images: the mp4 becomes a looping GIF, thinned
    to 10 frames per second with each frame shown twice as long, so it still plays in real time."""
    import imageio.v2 as imageio
    from PIL import Image

    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        nb.animation(tmp_path / "missing.mp4")
    path = tmp_path / "clip.mp4"
    frames = [np.zeros((48, 64, 3), dtype=np.uint8) for _ in range(21)]
    for i, frame in enumerate(frames):
        frame[:, 3 * i : 3 * i + 3] = 255  # a moving bar: no two frames alike
    imageio.mimwrite(path, frames, fps=20, format="FFMPEG", codec="libx264", macro_block_size=16)
    gif, caption = nb.animation(path, width=32)
    assert gif.format == "gif" and "image/gif" in gif._repr_mimebundle_()[0]
    with Image.open(__import__("io").BytesIO(gif.data)) as im:
        assert im.n_frames == 11 and im.size == (32, 24) and im.info["duration"] == 100 and im.info["loop"] == 0
    assert "clip.mp4" in caption.data and "1 s" in caption.data


def test_make_task() -> None:
    assert nb.make_task("direction", 1).direction == 1.0
    assert nb.make_task("velocity", 1.5).goal_velocity == 1.5
    with pytest.raises(ValueError, match="family='height'"):
        nb.make_task("height", 1.0)


@pytest.mark.slow
def test_meta_trained_policy_order(tmp_path: Path, smoke_run: Path) -> None:
    results = tmp_path / "results"
    s = without_working_tree_runs(settings_with(tmp_path, results), tmp_path)
    with pytest.raises(FileNotFoundError, match="run the training cell first"):
        nb.meta_trained_policy(s, "direction")
    shutil.copytree(smoke_run, s.live_run_dir)
    assert nb.meta_trained_policy(s, "direction").folder == s.live_run_dir
    shutil.copytree(smoke_run, results / "backward")
    assert nb.meta_trained_policy(s, "velocity").folder == results / "backward"
    shutil.copytree(smoke_run, results / "vel_maml_s0")
    trained = nb.meta_trained_policy(s, "velocity")
    assert trained.folder == results / "vel_maml_s0" and trained.config == TrainConfig.from_yaml(SMOKE)
    assert nb.meta_trained_policy(s, "direction").folder == results / "backward"


@pytest.mark.slow
def test_adaptation_demo_and_explorer(tmp_path: Path, smoke_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = settings_with(tmp_path)
    shutil.copytree(smoke_run, s.live_run_dir)
    with pytest.raises(ValueError, match=r"steps=2; allowed: an integer in \[0, 1\]"):
        nb.adaptation_demo(s, nb.make_task("velocity", 1.0), 2)
    demo = nb.adaptation_demo(s, nb.make_task("velocity", 1.0), 1)
    assert demo.steps == 1 and len(demo.deterministic) == 2
    assert np.all(np.isfinite(demo.stochastic))
    assert demo.video_path is not None and demo.video_path.stat().st_size > 0
    assert "after 1 step: return over" in demo.describe() and "v=1.00" in demo.describe()

    explorer = nb.AdaptationExplorer(s)
    assert explorer.later_scale.value == 0.25  # the step size the text recommends, not the paper's 1
    assert explorer.task().direction == -1.0
    assert explorer.velocity.layout.display == "none" and explorer.direction.layout.display is None
    explorer.family.value = "velocity"
    explorer.velocity.value = 0.5
    assert explorer.task().goal_velocity == 0.5 and explorer.direction.layout.display == "none"
    explorer.steps.value = 0
    result = explorer.run()
    assert result.steps == 0 and result.task.goal_velocity == 0.5
    assert "v=0.50" in capsys.readouterr().out  # displayed (here, without a kernel, as text on stdout)
    items = result.items()
    assert isinstance(items[0], nb.Note) and items[0].text == result.describe() and len(items) == 3


@pytest.mark.slow
def test_adaptation_demo_scales_the_steps_after_the_first(tmp_path: Path, smoke_run: Path) -> None:
    s = dataclasses.replace(settings_with(tmp_path), max_adaptation_steps=2)
    shutil.copytree(smoke_run, s.live_run_dir)
    task = nb.make_task("velocity", 1.0)
    full = nb.adaptation_demo(s, task, 2)
    small = nb.adaptation_demo(s, task, 2, later_scale=0.25)
    assert full.step_sizes == [0.1, 0.1] and small.step_sizes == pytest.approx([0.1, 0.025])
    assert small.stochastic[:2] == full.stochastic[:2]  # same seeds: only the second step differs
    assert small.stochastic[2] != full.stochastic[2]
    assert "k = 2 inner steps of size 0.1, 0.025" in small.describe()
    with pytest.raises(ValueError, match="later_scale=-1; allowed: a finite number >= 0"):
        nb.adaptation_demo(s, task, 2, later_scale=-1)

    explorer = nb.AdaptationExplorer(s)
    explorer.family.value, explorer.steps.value, explorer.later_scale.value = "velocity", 2, 0.25
    assert explorer.run().stochastic == small.stochastic


def test_later_step_results_show_the_studies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    s = settings_with(tmp_path, results)
    assert "later_steps/ holds no study yet" in notes(nb.later_step_results(s))
    (results / "later_steps").mkdir(parents=True)
    rows = [{"scale": c, "step_sizes": [0.1, 0.1 * c], "mean_stochastic": [-100.0, -60.0, -60.0 + 20 * (1 - c)],
             "stochastic": [[-100.0], [-60.0], [-60.0 + 20 * (1 - c)]]} for c in (1.0, 0.25)]  # fmt: skip
    study = {"run": "vel_maml_s0", "config": {"task": "velocity"}, "rows": rows}
    (results / "later_steps" / "vel_maml_s0.json").write_text(json.dumps(study))
    items = nb.later_step_results(s)
    assert (s.figures_dir / "later_steps.png").read_bytes()[:4] == b"\x89PNG" and len(captions_of(items)) == 1
    assert notes(items).startswith("1 studies in") and len(notes(items).splitlines()) == 1
    (table,) = [i for i in items if isinstance(i, nb.HtmlTable)]
    html = table._repr_html_()
    assert len(table) == 1 and "c = 0.25" in html and "-45.0" in html and "-60.0" in html


def test_plot_returns_per_step(tmp_path: Path) -> None:
    rewards = np.ones((3, 5))
    returns = np.cumsum(rewards[:, ::-1], axis=1)[:, ::-1]
    path = plot_returns_per_step(rewards, returns, tmp_path / "r.png", gamma=1.0, title="t")
    assert path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match=r"shape \(N, T\)"):
        plot_returns_per_step(rewards, returns[:, :4], tmp_path / "bad.png", gamma=1.0)


# ---------------------------------------------------------------------------------------------------
# Through a real kernel: the saved progress bar, the mode line, the temporary folder
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_kernel_saves_the_finished_bar_and_removes_the_quick_mode_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Executed without a front end (as nbconvert and nbval do), the saved progress bar shows its final
    state, not the 0% captured when it was created, and still carries the widget for a live front end;
    quick mode's temporary folder is gone once the kernel exits; the mode line is the one the
    submission check reads."""
    import nbclient

    from hw14_lib.report.packaging import MODE_LINE

    monkeypatch.setenv("HW14_QUICK", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.delenv("HW14_WORK_DIR", raising=False)
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "from hw14_lib import notebook as nb\nsettings = nb.notebook_settings()\n"
                "nb.configure_notebook(settings)\nprint(settings.describe())"
            ),
            nbformat.v4.new_code_cell(
                "from hw14_lib.run.progress import progress_bar\nbar = progress_bar(total=3, desc='meta-training')\n"
                "for _ in range(3):\n    bar.update(1)\nbar.close()"
            ),
        ]
    )
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    described, bar = notebook.cells[0].outputs, notebook.cells[1].outputs
    assert MODE_LINE.match(described[0]["text"]) and described[0]["text"].startswith("mode: quick (")
    assert [o["output_type"] for o in bar] == ["display_data"]
    text = bar[0]["data"]["text/plain"]
    assert "100%" in text and "3/3" in text and "0%|" not in text.replace("100%|", "")
    assert "application/vnd.jupyter.widget-view+json" in bar[0]["data"]
    assert not list(tmp_path.glob("hw14_notebook_*")), "quick mode left its temporary folder behind"


def test_mode_line_is_read_back_by_the_submission_check() -> None:
    from hw14_lib.report.packaging import MODE_LINE

    for environ, mode in (({}, "full"), ({"HW14_QUICK": "1", "HW14_WORK_DIR": "/tmp/unused"}, "quick")):
        first = nb.notebook_settings(environ).describe().splitlines()[0]
        assert MODE_LINE.findall(first) == [mode]
        assert "HW14_QUICK=1" in first and "(set HW14_QUICK=1 for the quick test mode)" not in first


def test_committed_notebook_shows_finished_bars_and_no_repository_only_commands() -> None:
    """The saved bar reads 100%, not the 0% of its creation; the notebook, which the zip carries without
    the Makefile or the repository's README, points to neither."""
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    texts = [o.get("data", {}).get("text/plain", "") for c in cells if c.cell_type == "code" for o in c.outputs]
    bars = [t for t in texts if "meta-training" in t]
    assert bars and all("100%" in t for t in bars), bars
    assert not any(" 0%|" in t for t in texts)
    markdown = "\n".join(c.source for c in cells)
    assert not re.search(r"`make \w+|make (run|test|lab|results)\b", markdown) and "README" not in markdown


@pytest.mark.slow
def test_make_lab_opens_the_notebook_with_the_pinned_jupyterlab() -> None:
    """The README's `make lab` and `.venv/bin/jupyter lab Notebooks/HW14_MAML.ipynb`: the JupyterLab that
    requirements.txt pins is installed beside this interpreter, and `make lab` opens the notebook with it."""
    pinned = re.search(r"^jupyterlab==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned, "requirements.txt does not pin jupyterlab"
    lab = Path(sys.executable).parent / "jupyter-lab"
    assert lab.is_file(), f"{lab} is missing: the README's notebook command would fail"
    version = subprocess.run([str(lab), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.strip() == pinned[1], version.stdout + version.stderr
    dry = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    command = re.search(r"^(JUPYTERLAB_SETTINGS_DIR=(\S+) )?\.venv/bin/jupyter lab (.*)$", dry.stdout, re.M)
    assert command, dry.stdout
    args = command[3].split()
    assert args[-1] == "Notebooks/HW14_MAML.ipynb" and "--ServerApp.root_dir=." in args, args  # results/ in view
    assert ("--allow-root" in args) == (os.geteuid() == 0), args
    # no news pop-up over the notebook: the project's settings say fetchNews "false"
    assert command[2], "make lab does not point JUPYTERLAB_SETTINGS_DIR at the project's settings"
    notification = REPO / command[2] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    assert json.loads(notification.read_text(encoding="utf-8")) == {"fetchNews": "false"}


def test_comparable_results_show_the_committed_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hw14_lib.report.comparison import load_table

    results = tmp_path / "results"
    s = settings_with(tmp_path, results)
    assert "table.json does not exist yet" in notes(nb.comparable_results(s))
    results.mkdir(parents=True, exist_ok=True)
    (results / "table.json").write_text((REPO / "results" / "table.json").read_text())
    table, *figures = nb.comparable_results(s)
    rows = load_table(REPO / "results" / "table.json")
    assert isinstance(table, nb.HtmlTable) and len(table) >= len(rows)
    html = table._repr_html_()
    assert html.count("<tr>") == len(table) + 1 + html.count("colspan")  # header, rows, a title per environment
    assert all(f"{r['returns'][0]:.1f}" in html for r in rows) and "white-space: nowrap" in html
    assert "\n" not in html  # one line per row, whatever the front end
    assert images_of(figures) == ["fig_protocol_dir.png", "fig_protocol_vel.png"] and len(captions_of(figures)) == 2
    assert capsys.readouterr().out == ""


def test_extension_results_follow_the_committed_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hw14_lib.report.comparison import load_table
    from hw14_lib.report.extensions import extension_facts
    from hw14_lib.run.run_folder import load_runs

    results = tmp_path / "results"
    s = settings_with(tmp_path, results)
    assert "holds no paper_dir_* or paper_vel_* run yet" in notes(nb.extension_results(s))
    s = settings_with(tmp_path, REPO / "results")
    items = nb.extension_results(s)
    facts = extension_facts(
        load_runs(REPO / "results"), load_table(REPO / "results" / "table.json"), REPO / "results" / "protocol"
    )
    table = items[0]
    assert isinstance(table, nb.HtmlTable) and len(table) == sum(c.best is not None for c in facts.curves.values())
    assert 'title="promp"' in table._repr_html_() and "direction" in table._repr_html_()
    assert images_of(items) == ["fig_extensions.png"] and len(captions_of(items)) == 1
    assert capsys.readouterr().out == ""


def test_images_are_embedded_as_palette_pngs_of_the_same_picture(tmp_path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0, 1, 0], color="C0", lw=2)
    path = tmp_path / "plot.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    shown = nb.image(path, width=300)
    assert shown.filename == str(path) and shown.width == 300
    embedded = Image.open(io.BytesIO(shown.data))
    with Image.open(path) as picture:
        original = np.asarray(picture.convert("RGB"), dtype=int)
    assert embedded.mode == "P" and embedded.size == (original.shape[1], original.shape[0])
    assert len(shown.data) < path.stat().st_size
    assert np.abs(np.asarray(embedded.convert("RGB"), dtype=int) - original).mean() < 2.0  # the same picture


# ---------------------------------------------------------------------------------------------------
# Figures: one colour per method, legends clear of the reference lines
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def drawn_figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every figure of the report and of the notebook's section 6 drawn from the committed results, kept open
    (``plots.save_figure`` still writes each file): its path under a temporary folder -> matplotlib figure (the
    notebook's under ``work/figures/``)."""
    import matplotlib.pyplot as plt

    from hw14_lib.report.assets import comparison_figures
    from hw14_lib.report.comparison import load_table, protocol_figure
    from hw14_lib.report.extensions import extension_figure
    from hw14_lib.run import plots
    from hw14_lib.run.run_folder import load_runs
    from hw14_lib.study.later_steps import load_later_steps

    out = tmp_path_factory.mktemp("figures")
    figures: dict[str, object] = {}
    save = plots.save_figure

    def keep(fig, path):
        figures[str(Path(path).relative_to(out))] = fig
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=60)
        return Path(path)

    runs = load_runs(REPO / "results")
    mp = pytest.MonkeyPatch()
    mp.setattr(plots, "save_figure", keep)
    try:
        comparison_figures(runs, out, later_steps=load_later_steps(REPO / "results" / "later_steps"))
        protocol_figure(load_table(REPO / "results" / "table.json"), out)
        extension_figure(runs, out)
        plots.plot_training_curves(runs["backward"].metrics, out / "backward", title="results/backward")
        s = settings_with(out, REPO / "results")
        for family in ("direction", "velocity"):
            nb.family_results(s, family)  # the notebook's figures: under work/figures/
    finally:
        mp.undo()
    assert save is plots.save_figure
    yield figures
    plt.close("all")


def labelled_colors(fig: object) -> list[tuple[str, str]]:
    """``(legend label, #rrggbb)`` of every labelled line, error bar and band of ``fig``'s axes and figure legends."""
    from matplotlib.collections import Collection
    from matplotlib.colors import to_hex
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D

    def color(handle: object) -> str:
        if isinstance(handle, ErrorbarContainer):
            handle = handle.lines[0]
        if isinstance(handle, Line2D):
            return to_hex(handle.get_color())
        assert isinstance(handle, Collection), handle
        return to_hex(handle.get_facecolor()[0])

    found = []
    for ax in fig.axes:  # type: ignore[attr-defined]
        handles, labels = ax.get_legend_handles_labels()
        found += [(label, color(h)) for h, label in zip(handles, labels, strict=True)]
    return found


def test_every_figure_draws_a_method_in_its_palette_colour(drawn_figures: dict[str, object]) -> None:
    """A series that names a method (``MAML (ours)``, ``pretrained, α = 4 (ours)``, ``ProMP (3 seeds)``) has the
    method's colour in :data:`hw14_lib.common.palette.METHOD_STYLES`, in the report's figures and the notebook's
    alike; a series that is no method (an ablation) takes none of the methods' colours."""
    from matplotlib.colors import to_hex

    from hw14_lib.common.palette import METHOD_STYLES, method_of

    palette = {method: to_hex(style.color) for method, style in METHOD_STYLES.items()}
    assert len(set(palette.values())) == len(palette), "two methods share a colour"
    seen: set[str] = set()
    for name, fig in drawn_figures.items():
        for label, color in labelled_colors(fig):
            method = method_of(label)
            if method is not None:
                seen.add(method)
                assert color == palette[method], f"{name}: {label!r} is {color}, {method} is {palette[method]}"
            elif name == "fig_ablations.png" and not label.startswith(("dir_maml", "paper")):
                assert color not in palette.values(), f"{name}: the ablation {label!r} has a method's colour"
    with_runs = {m for m in palette if any((REPO / "results").glob(f"*_{m}*/summary.json"))}
    assert seen == with_runs, f"methods with finished runs never drawn: {with_runs - seen}"
    # MAML's own runs: every series (before and after adaptation) in MAML's colour, told apart by line style
    for name in ("backward/query_return.png", "fig_learning_dir.png", "work/figures/direction_learning_curves.png"):
        colors = {c for _, c in labelled_colors(drawn_figures[name])}
        assert colors == {palette["maml"]}, (name, colors)


def test_method_of_reads_labels_with_qualifiers() -> None:
    from hw14_lib.common.palette import METHOD_STYLES, OTHER_COLORS, method_color, method_of

    assert method_of("MAML, learned α, K steps (3 seeds)") == "maml_lslr"
    assert method_of("MAML (ours)") == method_of("MAML, every step α") == "maml"
    assert method_of("pretrained, α = 4 (ours)") == "pretrained" and method_of("oracle (paper)") == "oracle"
    assert method_of("first_order") is None and method_of("MAMLx") is None
    assert method_color("no_baseline", other=1) == OTHER_COLORS[1]
    assert not set(OTHER_COLORS) & {s.color for s in METHOD_STYLES.values()}


@pytest.mark.parametrize("name", ["fig_protocol_dir.png", "fig_protocol_vel.png", "fig_extensions.png",
                                  "fig_ablations.png", "fig_adaptation_dir.png"])  # fmt: skip
def test_no_reference_line_crosses_a_legend(drawn_figures: dict[str, object], name: str) -> None:
    """The figures with horizontal reference lines (the paper's numbers, the oracles) keep their legends outside
    every axes, so no line can cross one."""
    fig = drawn_figures[name]
    fig.canvas.draw()  # type: ignore[attr-defined]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]  # type: ignore[attr-defined]
    assert legends, f"{name} has no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:  # type: ignore[attr-defined]
            assert not box.overlaps(ax.get_window_extent(renderer)), f"{name}: a legend lies inside an axes"


def test_moving_averages_say_their_window(drawn_figures: dict[str, object]) -> None:
    texts = []
    for fig in drawn_figures.values():
        for ax in fig.axes:  # type: ignore[attr-defined]
            texts.append(ax.get_title())
            texts += ax.get_legend_handles_labels()[1]
    assert not [t for t in texts if "mean of" in t]
    assert any(re.search(r"moving average over \d+ iterations", t) for t in texts)
    for name, fig in drawn_figures.items():
        suptitle = fig._suptitle.get_text() if fig._suptitle else ""  # type: ignore[attr-defined]
        titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]  # type: ignore[attr-defined]
        assert suptitle or all(titles), f"{name} has an axes without a title"


def test_papermill_injects_quick_after_the_parameters_cell(tmp_path: Path) -> None:
    """``papermill -p quick True`` works like ``HW14_QUICK=1``: the injected cell follows the cell tagged
    ``parameters``, before the first cell that reads ``quick`` (checked without running the notebook)."""
    import papermill

    out = tmp_path / "prepared.ipynb"
    papermill.execute_notebook(
        str(REPO / "Notebooks" / "HW14_MAML.ipynb"), str(out), parameters={"quick": True}, prepare_only=True
    )
    cells = nbformat.read(out, as_version=4).cells
    code = [c for c in cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "injected-parameters" in code[1].metadata.get("tags", []) and "quick = True" in code[1].source
    readers = [i for i, c in enumerate(code) if "quick=quick" in c.source]
    assert readers and readers[0] == 2, "the settings cell must follow the injected parameters"
