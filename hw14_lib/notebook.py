"""What ``Notebooks/HW14_MAML.ipynb`` calls beyond the rest of :mod:`hw14_lib`: its two modes, the
result folders it shows, embedded videos and the interactive adaptation widget.

The notebook defines no function or class of its own (a test enforces it), so every step that is
more than a call lives here, where tests reach it.

Modes, chosen by the environment variable ``HW14_QUICK``:

* full (unset or ``0``): a short live training run of ``configs/backward.yaml`` (the first 60 of its
  250 iterations, a few minutes on two cores) written to ``runs/notebook/``, and the committed
  results of the full runs read from ``results/``;
* quick (``1``): the same cells on ``configs/smoke.yaml`` with tiny sizes, writing only into a fresh
  temporary folder, with every warning raised as an error: the mode the tests run under nbval.

``HW14_WIDGETS=1|0`` forces the interactive cell on or off; ``HW14_RESULTS`` and ``HW14_WORK_DIR``
replace the folder results are read from and the folder the notebook writes to.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hw14_lib.config import TrainConfig
from hw14_lib.evaluation import adaptation_curve, record_video
from hw14_lib.io_utils import read_jsonl
from hw14_lib.plots import plot_adaptation_curves, plot_seed_learning_curves, plot_training_curves
from hw14_lib.policy import GaussianMLPPolicy, load_policy
from hw14_lib.tasks import Task
from hw14_lib.training import advantage_settings, inner_loop

FAMILY_PREFIXES: dict[str, str] = {"direction": "dir", "velocity": "vel"}
"""Task family -> prefix of its experiment folders under ``results/`` (``dir_maml_s0``, ...)."""
BASELINE_METHODS: tuple[str, ...] = ("pretrained", "random")
_TRUE, _FALSE = ("1", "true", "yes"), ("", "0", "false", "no")


@dataclass(frozen=True)
class NotebookSettings:
    """Sizes and folders of one notebook mode (build it with :func:`notebook_settings`).

    Attributes:
        quick: the test mode (smoke configuration, tiny sizes).
        repo_root: the repository (holds ``configs/``).
        results_root: where the committed results are read (``results/``).
        work_dir: the only folder the notebook writes to (live run, figures, videos).
        live_config: YAML configuration of the live training run.
        live_iterations: iterations of the live run; ``None`` keeps the configuration's.
        rollout_trajectories: N, trajectories of the rollout, evaluation and demo cells.
        rollout_horizon: T, steps per trajectory in those cells.
        video_horizon: steps shown in each rendered video.
        video_width, video_height: rendered frame size in pixels (multiples of 16, which H.264 needs).
        adaptation_trajectories: trajectories per inner step in the interactive cell.
        max_adaptation_steps: the largest k the interactive cell offers.
        strict_warnings: raise every warning as an error (quick mode: a warning fails the test).
    """

    quick: bool
    repo_root: Path
    results_root: Path
    work_dir: Path
    live_config: Path
    live_iterations: int | None
    rollout_trajectories: int
    rollout_horizon: int
    video_horizon: int
    video_width: int
    video_height: int
    adaptation_trajectories: int
    max_adaptation_steps: int
    strict_warnings: bool

    def __post_init__(self) -> None:
        for name in ("rollout_trajectories", "rollout_horizon", "video_horizon", "adaptation_trajectories"):
            if getattr(self, name) < 1:
                raise ValueError(f"NotebookSettings.{name}={getattr(self, name)!r}; allowed: an integer >= 1")
        if self.live_iterations is not None and self.live_iterations < 1:
            raise ValueError(f"NotebookSettings.live_iterations={self.live_iterations!r}; allowed: None or >= 1")
        if self.max_adaptation_steps < 0:
            raise ValueError(f"NotebookSettings.max_adaptation_steps={self.max_adaptation_steps!r}; allowed: >= 0")
        if max(self.rollout_horizon, self.video_horizon) > 1000:
            raise ValueError("NotebookSettings horizons must be <= 1000 (HalfCheetah's time limit)")
        for name in ("video_width", "video_height"):
            value = getattr(self, name)
            if value < 16 or value % 16:
                raise ValueError(f"NotebookSettings.{name}={value!r}; allowed: a positive multiple of 16")

    @property
    def mode(self) -> str:
        """``"quick"`` or ``"full"``."""
        return "quick" if self.quick else "full"

    @property
    def live_run_dir(self) -> Path:
        """Run folder of the live training run."""
        return self.work_dir / "live_run"

    @property
    def figures_dir(self) -> Path:
        """Where the notebook's own figures are written."""
        return self.work_dir / "figures"

    @property
    def videos_dir(self) -> Path:
        """Where the notebook's own videos are written."""
        return self.work_dir / "videos"

    def describe(self) -> str:
        """A few lines saying what this mode trains, reads and writes."""
        iterations = "as configured" if self.live_iterations is None else f"{self.live_iterations} iterations"
        return "\n".join(
            [
                f"mode: {self.mode} (set HW14_QUICK=1 for the quick test mode)",
                f"live training run: {self.relative(self.live_config)}, {iterations}",
                f"committed results read from: {self.relative(self.results_root)}/",
                f"outputs written to: {self.relative(self.work_dir)}/",
                f"rollouts: N = {self.rollout_trajectories} trajectories of T = {self.rollout_horizon} steps; "
                f"videos: {self.video_horizon} steps at {self.video_width}x{self.video_height}",
            ]
        )

    def relative(self, path: Path) -> str:
        """``path`` relative to the repository when it lies inside it (for messages)."""
        return str(path.relative_to(self.repo_root)) if path.is_relative_to(self.repo_root) else str(path)


def env_flag(environ: Mapping[str, str], name: str) -> bool | None:
    """``True``/``False`` for a set boolean variable ``name``, ``None`` when unset.

    Raises:
        ValueError: a value other than 1/0, true/false, yes/no (any case) or empty.
    """
    if name not in environ:
        return None
    value = environ[name].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"environment variable {name}={environ[name]!r} is not allowed; use 1 or 0")


def find_repo_root(start: Path | None = None) -> Path:
    """The folder holding ``configs/backward.yaml``: this package's parent (editable install), else
    ``start`` (default: the working directory) or one of its parents.

    Raises:
        FileNotFoundError: no such folder.
    """
    start = Path.cwd() if start is None else Path(start)
    for candidate in (Path(__file__).resolve().parents[1], start, *start.resolve().parents):
        if (candidate / "configs" / "backward.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no configs/backward.yaml in the package's folder, {str(start)!r} or its parents")


def notebook_settings(environ: Mapping[str, str] | None = None) -> NotebookSettings:
    """The settings of the mode ``environ`` (default: ``os.environ``) selects; see the module docstring.

    Quick mode creates a fresh temporary ``work_dir`` unless ``HW14_WORK_DIR`` names one.
    """
    env = os.environ if environ is None else environ
    quick = bool(env_flag(env, "HW14_QUICK"))
    root = find_repo_root()
    results = Path(env["HW14_RESULTS"]) if env.get("HW14_RESULTS") else root / "results"
    if env.get("HW14_WORK_DIR"):
        work_dir = Path(env["HW14_WORK_DIR"])
    elif quick:
        work_dir = Path(tempfile.mkdtemp(prefix="hw14_notebook_"))
    else:
        work_dir = root / "runs" / "notebook"
    common = {"quick": quick, "repo_root": root, "results_root": results, "work_dir": work_dir}
    if quick:
        return NotebookSettings(
            **common,
            live_config=root / "configs" / "smoke.yaml",
            live_iterations=None,
            rollout_trajectories=4,
            rollout_horizon=20,
            video_horizon=8,
            video_width=96,
            video_height=64,
            adaptation_trajectories=3,
            max_adaptation_steps=1,
            strict_warnings=True,
        )
    return NotebookSettings(
        **common,
        live_config=root / "configs" / "backward.yaml",
        live_iterations=60,
        rollout_trajectories=10,
        rollout_horizon=200,
        video_horizon=100,
        video_width=240,
        video_height=160,
        adaptation_trajectories=20,
        max_adaptation_steps=3,
        strict_warnings=False,
    )


def configure_notebook(settings: NotebookSettings) -> None:
    """Create the output folders and, in quick mode, turn every warning into an error."""
    for folder in (settings.work_dir, settings.figures_dir, settings.videos_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if settings.strict_warnings:
        warnings.simplefilter("error")
        # Only the notebook's code is held to this: ipykernel 7 itself warns when the kernel shuts down.
        warnings.filterwarnings("ignore", module=r"(ipykernel|jupyter_client|zmq|tornado|traitlets|comm)(\.|$)")


def live_training_config(settings: NotebookSettings) -> TrainConfig:
    """The live run's configuration: ``settings.live_config`` with ``live_iterations`` and no video
    (the notebook renders its own, smaller videos)."""
    overrides: dict[str, Any] = {"video": False}
    if settings.live_iterations is not None:
        overrides["iterations"] = settings.live_iterations
    return TrainConfig.from_yaml(settings.live_config, **overrides)


def has_widget_frontend(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ipywidgets will be drawn: ``HW14_WIDGETS`` when set, else whether this is a Jupyter
    kernel started by Jupyter Server (JupyterLab, Notebook 7: it sets ``JPY_SESSION_NAME``), VS Code
    (which defines ``__vsc_ipynb_file__``) or Colab. ``nbconvert`` and ``nbval`` start bare kernels,
    so they get ``False``."""
    env = os.environ if environ is None else environ
    forced = env_flag(env, "HW14_WIDGETS")
    if forced is not None:
        return forced
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    if env.get("JPY_SESSION_NAME"):
        return True
    return "__vsc_ipynb_file__" in shell.user_ns or "google.colab" in sys.modules


def video(path: str | os.PathLike[str], *, width: int | None = None) -> Any:
    """An ``IPython.display.Video`` with the mp4 at ``path`` embedded (base64) in the notebook.

    Raises:
        FileNotFoundError: no file at ``path``.
    """
    from IPython.display import Video

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {str(path)!r} does not exist")
    return Video(str(path), embed=True, width=width, html_attributes="controls loop muted")


def image(path: str | os.PathLike[str], *, width: int = 520) -> Any:
    """An ``IPython.display.Image`` of the PNG at ``path``, embedded."""
    from IPython.display import Image

    return Image(filename=str(path), width=width)


# --- committed results ------------------------------------------------------------------------------


def full_run_folder(settings: NotebookSettings) -> Path | None:
    """The README's default run: ``results/backward/`` (committed), else ``runs/default/`` (``make
    run``); ``None``, after printing a note, when neither holds a ``metrics.jsonl`` yet."""
    candidates = (settings.results_root / "backward", settings.repo_root / "runs" / "default")
    for folder in candidates:
        if (folder / "metrics.jsonl").is_file():
            summary = read_summary(folder)
            if summary is None:
                print(f"full run: {settings.relative(folder)}/ (unfinished: no summary.json yet)")
            else:
                print(
                    f"full run: {settings.relative(folder)}/ ({summary['iterations']} iterations, "
                    f"{summary['env_steps']:,} env steps, {summary['wall_seconds'] / 60:.0f} minutes of training)"
                )
            return folder
    print(
        "Note: the full run is not available yet: neither "
        + " nor ".join(f"{settings.relative(f)}/" for f in candidates)
        + " exists. Produce it with `make run` (runs/default/) or "
        "`python -m hw14_lib results --only backward` (results/backward/); the cells below print notes meanwhile."
    )
    return None


def training_figures(folder: Path | None, settings: NotebookSettings) -> list[Any]:
    """The seed's two plots of a run (``meta_loss.png``, ``query_return.png``), regenerated from
    ``metrics.jsonl`` into ``settings.figures_dir`` when the run folder lacks them."""
    if folder is None:
        print("skipped: no run folder (see the note above)")
        return []
    paths = [folder / "meta_loss.png", folder / "query_return.png"]
    if not all(p.is_file() for p in paths):
        metrics = read_jsonl(folder / "metrics.jsonl") if (folder / "metrics.jsonl").is_file() else []
        if not metrics:
            print(f"Note: {settings.relative(folder)}/ has no metrics yet")
            return []
        paths = plot_training_curves(metrics, settings.figures_dir / folder.name)
    return [image(p) for p in paths]


def read_summary(folder: Path | None, *, interim: bool = False) -> dict[str, Any] | None:
    """``summary.json`` of a run folder, or ``None`` when it is missing (run unfinished).

    With ``interim``, an unfinished run's ``interim_summary.json`` (the evaluation of its last
    checkpoint, marked ``"interim": true``) stands in for the missing summary.
    """
    if folder is None:
        return None
    for name in ("summary.json", "interim_summary.json") if interim else ("summary.json",):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text(encoding="utf-8"))
    return None


def adaptation_table(curve: Mapping[str, Any]) -> str:
    """A Markdown table of a summary's ``adaptation_curve``: mean return after k = 0, 1, ... steps,
    sampled (the MAML paper's metric) and with the mean action, plus one row per task when few."""
    steps = len(curve["mean_stochastic"])
    header = "| return after k inner steps | " + " | ".join(f"k = {k}" for k in range(steps)) + " |"
    rows = [header, "|---" * (steps + 1) + "|"]
    rows.append(
        "| sampled actions, mean over tasks | " + " | ".join(f"{v:.1f}" for v in curve["mean_stochastic"]) + " |"
    )
    rows.append(
        "| mean action, mean over tasks | " + " | ".join(f"{v:.1f}" for v in curve["mean_deterministic"]) + " |"
    )
    if 1 < len(curve["tasks"]) <= 4:
        for i, label in enumerate(curve["tasks"]):
            values = " | ".join(f"{curve['stochastic'][k][i]:.1f}" for k in range(steps))
            rows.append(f"| sampled actions, task {label} | {values} |")
    return "\n".join(rows)


def adaptation_results(folder: Path | None, settings: NotebookSettings, *, title: str = "") -> list[Any]:
    """Returns before and after 1..k adaptation steps of a finished run: a Markdown table and a
    figure (mean over held-out tasks, error bars: std over tasks)."""
    from IPython.display import Markdown

    summary = read_summary(folder)
    if folder is None or summary is None or "adaptation_curve" not in summary:
        where = "no run folder" if folder is None else f"{settings.relative(folder)}/ has no evaluated summary.json yet"
        print(f"skipped: {where}")
        return []
    curve = summary["adaptation_curve"]
    stochastic = np.asarray(curve["stochastic"], dtype=float)
    path = plot_adaptation_curves(
        {"MAML": (stochastic.mean(1).tolist(), stochastic.std(1).tolist())},
        settings.figures_dir / f"{folder.name}_adaptation.png",
        title=title or f"{folder.name}: held-out tasks {', '.join(curve['tasks'])}",
    )
    return [Markdown(adaptation_table(curve)), image(path)]


def run_video(folder: Path | None, settings: NotebookSettings) -> list[Any]:
    """The run's ``video.mp4`` (one deterministic episode after one adaptation step), embedded."""
    if folder is None:
        print("skipped: no run folder")
        return []
    if not (folder / "video.mp4").is_file():
        print(f"Note: {settings.relative(folder)}/ has no video.mp4 (rendering was unavailable or video: false)")
        return []
    return [video(folder / "video.mp4", width=480)]


def family_folders(settings: NotebookSettings, family: str, method: str = "maml") -> list[Path]:
    """Run folders of ``method`` on a task family: ``results/<dir|vel>_<method>[_s<seed>]`` with metrics
    (or, for the untrained random baseline, a summary)."""
    if family not in FAMILY_PREFIXES:
        raise ValueError(f"family={family!r} is unknown; use one of {', '.join(FAMILY_PREFIXES)}")
    stem = f"{FAMILY_PREFIXES[family]}_{method}"
    folders = [*sorted(settings.results_root.glob(f"{stem}_s*")), settings.results_root / stem]
    return [f for f in folders if (f / "metrics.jsonl").is_file() or (f / "summary.json").is_file()]


def run_status(folder: Path, settings: NotebookSettings) -> str:
    """One line on a run folder: iterations logged out of those configured, finished or in progress."""
    metrics = read_jsonl(folder / "metrics.jsonl") if (folder / "metrics.jsonl").is_file() else []
    finished = (folder / "summary.json").is_file()
    if finished and not metrics:
        return f"{settings.relative(folder)}/: evaluated without training"
    planned = TrainConfig.from_yaml(folder / "config.yaml").iterations if (folder / "config.yaml").is_file() else "?"
    state = "finished" if finished else "in progress"
    return f"{settings.relative(folder)}/: {len(metrics)} of {planned} iterations, {state}"


def family_results(settings: NotebookSettings, family: str) -> list[Any]:
    """The direction or velocity experiments, where they exist: seed 0's two plots, the learning
    curves over seeds, and the adaptation curves of MAML and the baselines (mean +- std over seeds)."""
    maml = family_folders(settings, family)
    if not maml:
        prefix = FAMILY_PREFIXES[family]
        print(
            f"Note: no {family} runs yet ({settings.relative(settings.results_root)}/{prefix}_maml_s0, ... "
            f"do not exist); produce them with `python -m hw14_lib results --only {prefix}_maml_s0`"
        )
        return []
    for method in ("maml", *BASELINE_METHODS):
        for folder in family_folders(settings, family, method):
            print(run_status(folder, settings))
    items = training_figures(maml[0], settings)
    runs = [read_jsonl(f / "metrics.jsonl") for f in maml if (f / "metrics.jsonl").is_file()]
    runs = [r for r in runs if r]
    if runs and all(len(r) > 1 for r in runs):
        path = settings.figures_dir / f"{family}_learning_curves.png"
        items.append(image(plot_seed_learning_curves(runs, path, title=f"MAML, {family} tasks")))
    curves = {}
    for method in ("maml", *BASELINE_METHODS):
        summaries = [read_summary(f, interim=True) for f in family_folders(settings, family, method)]
        evaluated = [s for s in summaries if s and "adaptation_curve" in s]
        values = [s["adaptation_curve"]["mean_stochastic"] for s in evaluated]
        if values:
            for s in evaluated:
                if s.get("interim"):
                    print(
                        f"Note: a {family} {method} run is unfinished; its curve is an interim evaluation "
                        f"after {s['iterations']} iterations ({s['env_steps'] / 1e6:.0f}M env steps)"
                    )
            length = min(len(v) for v in values)
            stacked = np.array([v[:length] for v in values])
            std = stacked.std(0, ddof=1) if len(values) > 1 else np.zeros(length)
            curves["MAML" if method == "maml" else method] = (stacked.mean(0).tolist(), std.tolist())
    if curves:
        path = settings.figures_dir / f"{family}_adaptation.png"
        items.append(image(plot_adaptation_curves(curves, path, title=f"{family} tasks: mean over seeds, ±1 std")))
    else:
        print(f"Note: no finished {family} run has an adaptation curve yet")
    return items


def later_step_results(settings: NotebookSettings) -> list[Any]:
    """The studies of ``results/later_steps/`` (``python -m hw14_lib later-steps``): each run's final
    evaluation repeated with the steps after the first of size ``c * alpha``, one line per ``c``."""
    from hw14_lib.report_assets import later_step_figure
    from hw14_lib.report_data import load_later_steps

    studies = load_later_steps(settings.results_root / "later_steps")
    if not studies:
        print(
            f"Note: {settings.relative(settings.results_root)}/later_steps/ holds no study yet; produce one with "
            "`python -m hw14_lib later-steps results/vel_maml_s0`"
        )
        return []
    for study in studies:
        cells = ", ".join(f"c = {r['scale']:g}: {r['mean_stochastic'][-1]:.1f}" for r in study.rows)
        print(f"{study.label}: after {len(study.rows[0]['mean_stochastic']) - 1} steps, {cells}")
    return [image(later_step_figure(studies, settings.figures_dir / "later_steps.png"), width=900)]


# --- interactive adaptation ---------------------------------------------------------------------


@dataclass(frozen=True)
class MetaTrainedPolicy:
    """A policy file with the configuration it was trained with.

    Attributes:
        policy: the loaded policy.
        config: the run's configuration (inner step size, advantages).
        folder: the run folder it came from.
    """

    policy: GaussianMLPPolicy
    config: TrainConfig
    folder: Path


def meta_trained_policy(settings: NotebookSettings, family: str) -> MetaTrainedPolicy:
    """The best available meta-trained policy for a task family: seed 0 of that family's MAML run,
    else the full backward run, else the notebook's live run.

    Raises:
        FileNotFoundError: none of them exists (run the live training cell first).
    """
    if family not in FAMILY_PREFIXES:
        raise ValueError(f"family={family!r} is unknown; use one of {', '.join(FAMILY_PREFIXES)}")
    candidates = [
        settings.results_root / f"{FAMILY_PREFIXES[family]}_maml_s0",
        settings.results_root / "backward",
        settings.repo_root / "runs" / "default",
        settings.live_run_dir,
    ]
    for folder in candidates:
        if (folder / "policy.pt").is_file() and (folder / "config.yaml").is_file():
            return MetaTrainedPolicy(
                load_policy(folder / "policy.pt"), TrainConfig.from_yaml(folder / "config.yaml"), folder
            )
    raise FileNotFoundError(
        f"no policy.pt with a config.yaml in {', '.join(str(c) for c in candidates)}; run the training cell first"
    )


def make_task(family: str, value: float) -> Task:
    """A direction task (``value`` = d, -1 or +1) or a goal-velocity task (``value`` = v in m/s)."""
    if family == "direction":
        return Task("direction", direction=float(value))
    if family == "velocity":
        return Task("velocity", goal_velocity=float(value))
    raise ValueError(f"family={family!r} is unknown; use one of {', '.join(FAMILY_PREFIXES)}")


@dataclass(frozen=True)
class AdaptationDemo:
    """The result of adapting a meta-trained policy to one task with k inner steps.

    Attributes:
        task: the task.
        folder: the run folder the policy came from.
        stochastic: mean return of the sampled trajectories after 0..k steps.
        deterministic: return of the mean action after 0..k steps.
        step_sizes: the size of each of the k inner steps.
        video_path: one deterministic episode after k steps, or ``None`` when rendering is unavailable.
        video_return: that episode's return over the video's horizon.
    """

    task: Task
    folder: Path
    stochastic: list[float]
    deterministic: list[float]
    step_sizes: list[float]
    video_path: Path | None
    video_return: float | None

    @property
    def steps(self) -> int:
        """k."""
        return len(self.stochastic) - 1

    def describe(self) -> str:
        """The returns after each step, one line each."""
        lines = [f"task {self.task.label()}, policy meta-trained in {self.folder.name}/, k = {self.steps} step(s)"]
        if self.steps:
            lines[0] += " of size " + ", ".join(f"{a:g}" for a in self.step_sizes)
        for k, (sto, det) in enumerate(zip(self.stochastic, self.deterministic, strict=True)):
            lines.append(f"  after {k} step(s): return {sto:8.1f} (sampled actions)   {det:8.1f} (mean action)")
        if self.video_return is not None:
            lines.append(
                f"video: one episode with the mean action after {self.steps} step(s), return {self.video_return:.1f}"
            )
        return "\n".join(lines)

    def show(self) -> None:
        """Print :meth:`describe` and display the video (in a notebook)."""
        from IPython.display import display

        print(self.describe())
        if self.video_path is not None:
            display(video(self.video_path))


def adaptation_demo(
    settings: NotebookSettings, task: Task, steps: int, *, seed: int = 0, later_scale: float = 1.0
) -> AdaptationDemo:
    """Adapt the meta-trained policy of ``task``'s family with ``steps`` inner policy-gradient steps
    (:func:`hw14_lib.evaluation.adaptation_curve`, N = ``settings.adaptation_trajectories``) and render
    one deterministic episode of the adapted policy. The first step has the trained ``alpha``, every
    later one ``later_scale * alpha`` (the report's "Smaller later steps")."""
    if not 0 <= steps <= settings.max_adaptation_steps:
        raise ValueError(f"steps={steps!r}; allowed: an integer in [0, {settings.max_adaptation_steps}]")
    if not (math.isfinite(later_scale) and later_scale >= 0):
        raise ValueError(f"later_scale={later_scale!r}; allowed: a finite number >= 0")
    trained = meta_trained_policy(settings, task.kind)
    alpha = trained.config.inner_lr
    step_sizes = [alpha if j == 0 else later_scale * alpha for j in range(steps)]
    curve, history = adaptation_curve(
        trained.policy,
        [task],
        steps=steps,
        num_trajectories=settings.adaptation_trajectories,
        horizon=settings.rollout_horizon,
        inner=inner_loop(trained.config),
        advantages=advantage_settings(trained.config),
        seed=seed,
        physics_threads=1,
        step_sizes=step_sizes,
    )
    name = f"adapted_{task.label().replace('=', '').replace('.', 'p')}_k{steps}.mp4"
    path = settings.videos_dir / name
    video_return = record_video(
        trained.policy,
        history[steps][0],
        task,
        path,
        horizon=settings.video_horizon,
        seed=seed,
        width=settings.video_width,
        height=settings.video_height,
    )
    return AdaptationDemo(
        task=task,
        folder=trained.folder,
        stochastic=curve.mean_stochastic(),
        deterministic=curve.mean_deterministic(),
        step_sizes=step_sizes,
        video_path=path if video_return is not None else None,
        video_return=video_return,
    )


class AdaptationExplorer:
    """ipywidgets controls: a task family and its parameter, k and the size of the steps after the
    first; the button adapts and shows the video.

    Attributes:
        widget: the box to display.
    """

    def __init__(self, settings: NotebookSettings):
        import ipywidgets as widgets

        self.settings = settings
        self.family = widgets.ToggleButtons(
            options=[("direction", "direction"), ("target velocity", "velocity")], description="task"
        )
        self.direction = widgets.ToggleButtons(
            options=[("backward (d = -1)", -1.0), ("forward (d = +1)", 1.0)], description="direction"
        )
        self.velocity = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="v (m/s)")
        self.steps = widgets.IntSlider(
            value=min(1, settings.max_adaptation_steps), min=0, max=settings.max_adaptation_steps, description="k"
        )
        self.later_scale = widgets.FloatSlider(
            value=1.0, min=0.0, max=1.0, step=0.05, description="later steps", readout_format=".2f"
        )
        self.later_scale.tooltip = "size of each step after the first, as a fraction of alpha"
        self.button = widgets.Button(description="adapt and play", button_style="primary")
        self.output = widgets.Output()
        self.button.on_click(self.run)
        self.family.observe(self._show_parameter, names="value")
        self._show_parameter()
        self.widget = widgets.VBox(
            [self.family, self.direction, self.velocity, self.steps, self.later_scale, self.button, self.output]
        )

    def task(self) -> Task:
        """The task the controls describe."""
        value = self.direction.value if self.family.value == "direction" else self.velocity.value
        return make_task(self.family.value, value)

    def _show_parameter(self, _change: Any = None) -> None:
        is_direction = self.family.value == "direction"
        self.direction.layout.display = None if is_direction else "none"
        self.velocity.layout.display = "none" if is_direction else None

    def run(self, _button: Any = None) -> AdaptationDemo:
        """Adapt to the chosen task and show the returns and the video in the output area."""
        from IPython.display import clear_output

        with self.output:
            clear_output()
            print(f"adapting to {self.task().label()} with k = {self.steps.value} ...")
            demo = adaptation_demo(self.settings, self.task(), self.steps.value, later_scale=self.later_scale.value)
            clear_output()
            demo.show()
        return demo


def adaptation_explorer(settings: NotebookSettings) -> Any | None:
    """The interactive widget when a widget frontend is present; otherwise print a note, return ``None``."""
    if not has_widget_frontend():
        print(
            "Note: no widget frontend here (e.g. nbconvert or nbval), so the interactive controls are not shown. "
            "Open the notebook in JupyterLab, Notebook 7 or VS Code (or set HW14_WIDGETS=1) to use them; "
            "the next cell runs the same computation for one fixed choice."
        )
        return None
    return AdaptationExplorer(settings).widget
