"""The notebook's two modes and display helpers: where it reads results and writes files, strict
warnings, whether widgets can be drawn, and embedded images and animations.

Modes, chosen by the notebook's ``parameters`` cell (``quick = True``; papermill: ``-p quick True``) or, while
it says ``quick = None``, by the environment variable ``HW14_QUICK``:

* full (unset or ``0``): a short live training run of ``configs/backward.yaml`` (the first 60 of its
  250 iterations, a few minutes on two cores) written to ``runs/notebook/``, and the committed
  results of the full runs read from ``results/``;
* quick (``1``): the same cells on ``configs/smoke.yaml`` with tiny sizes, writing only into a fresh
  temporary folder, with every warning raised as an error: the mode the tests run under nbval.

``HW14_WIDGETS=1|0`` forces the interactive cell on or off; ``HW14_RESULTS`` and ``HW14_WORK_DIR``
replace the folder results are read from and the folder the notebook writes to.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw14_lib.rl.envs import MAX_EPISODE_STEPS
from hw14_lib.run.config import TrainConfig

_TRUE, _FALSE = ("1", "true", "yes"), ("", "0", "false", "no")
MODE_HINTS = {
    "full": "set quick = True in the parameters cell above, or HW14_QUICK=1, for the seconds-long test mode",
    "quick": "quick = True or HW14_QUICK=1: the smoke configuration at tiny sizes, as the tests run it",
}
"""The first line :meth:`NotebookSettings.describe` prints says which mode runs and how to change it;
:func:`hw14_lib.report.packaging.check_submission_notebook` reads it back from the saved outputs
(``packaging.MODE_LINE``)."""


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
        temporary_work_dir: ``work_dir`` is a fresh temporary folder, removed when the kernel exits.
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
    temporary_work_dir: bool = False

    def __post_init__(self) -> None:
        for name in ("rollout_trajectories", "rollout_horizon", "video_horizon", "adaptation_trajectories"):
            if getattr(self, name) < 1:
                raise ValueError(f"NotebookSettings.{name}={getattr(self, name)!r}; allowed: an integer >= 1")
        if self.live_iterations is not None and self.live_iterations < 1:
            raise ValueError(f"NotebookSettings.live_iterations={self.live_iterations!r}; allowed: None or >= 1")
        if self.max_adaptation_steps < 0:
            raise ValueError(f"NotebookSettings.max_adaptation_steps={self.max_adaptation_steps!r}; allowed: >= 0")
        if max(self.rollout_horizon, self.video_horizon) > MAX_EPISODE_STEPS:
            raise ValueError(f"NotebookSettings horizons must be <= {MAX_EPISODE_STEPS} (HalfCheetah's time limit)")
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
                f"mode: {self.mode} ({MODE_HINTS[self.mode]})",
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
    package_parent = Path(__file__).resolve().parents[2]  # <repo>/hw14_lib/notebook/settings.py
    for candidate in (package_parent, start, *start.resolve().parents):
        if (candidate / "configs" / "backward.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no configs/backward.yaml in the package's folder, {str(start)!r} or its parents")


def notebook_settings(environ: Mapping[str, str] | None = None, *, quick: bool | None = None) -> NotebookSettings:
    """The settings of the mode ``quick`` selects, or when it is ``None`` the mode ``environ`` (default:
    ``os.environ``) selects with ``HW14_QUICK``; see the module docstring.

    Quick mode creates a fresh temporary ``work_dir`` unless ``HW14_WORK_DIR`` names one.

    Raises:
        ValueError: ``quick`` is neither ``None`` nor a bool (papermill passes ``-p quick True`` as a bool).
    """
    env = os.environ if environ is None else environ
    if quick is not None and not isinstance(quick, bool):
        raise ValueError(f"quick={quick!r}; allowed: True, False or None (None reads HW14_QUICK)")
    quick = bool(env_flag(env, "HW14_QUICK")) if quick is None else quick
    root = find_repo_root()
    results = Path(env["HW14_RESULTS"]) if env.get("HW14_RESULTS") else root / "results"
    if env.get("HW14_WORK_DIR"):
        work_dir = Path(env["HW14_WORK_DIR"])
    elif quick:
        work_dir = Path(tempfile.mkdtemp(prefix="hw14_notebook_"))
    else:
        work_dir = root / "runs" / "notebook"
    temporary = quick and not env.get("HW14_WORK_DIR")
    common = {
        "quick": quick,
        "repo_root": root,
        "results_root": results,
        "work_dir": work_dir,
        "temporary_work_dir": temporary,
    }
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
    """Create the output folders, have a temporary ``work_dir`` removed when the kernel exits, compute with the
    live run's ``torch_threads``, and, in quick mode, turn every warning into an error.

    Training sets torch's thread count to its configuration's, and a float sum over another number of threads
    rounds differently: setting it here, before any cell computes, gives every cell the same numbers on every
    Run All, whether or not the training cell ran before it."""
    import torch

    for folder in (settings.work_dir, settings.figures_dir, settings.videos_dir):
        folder.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(TrainConfig.from_yaml(settings.live_config).torch_threads)
    if settings.temporary_work_dir:
        atexit.register(shutil.rmtree, settings.work_dir, ignore_errors=True)
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


@dataclass(frozen=True)
class Note:
    """A line of text a helper returns for the cell to display (a missing folder, a run's status), so that
    everything a cell shows comes back from the call; shown as plain text, without quotes."""

    text: str

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)


def project_path(path: str | os.PathLike[str], root: Path | None = None) -> str:
    """``path`` as a reader finds it: relative to the project folder ``root`` (default: :func:`find_repo_root`, the
    folder JupyterLab serves; the submission's ``Notebooks/``), or absolute when it lies outside."""
    path = Path(path).resolve()
    root = (find_repo_root() if root is None else root).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def caption(text: str) -> Any:
    """One sentence under a figure saying what to look at, as Markdown (a display object)."""
    from IPython.display import Markdown

    return Markdown(f"*{text}*")


def animation(path: str | os.PathLike[str], *, width: int | None = None) -> list[Any]:
    """The mp4 at ``path`` as an embedded animated GIF, and a line naming the mp4 file relative to the project
    folder (:func:`project_path`).

    A GIF is an image: JupyterLab, Notebook 7, VS Code and notebook viewers draw it in a notebook
    opened untrusted (every notebook from another machine is), whereas they strip an embedded
    ``<video>`` player there. Frames are thinned to at most 10 per second and scaled down to
    ``width`` pixels (:func:`hw14_lib.run.video.gif_bytes`); the mp4 keeps every frame.

    Raises:
        FileNotFoundError: no file at ``path``.
    """
    from IPython.display import Image, Markdown

    from hw14_lib.run.video import gif_bytes, read_video

    frames, fps = read_video(path)
    seconds = len(frames) / fps
    where = project_path(path)
    made_here = "" if where.startswith("results/") else " (written when this cell runs)"  # not in the zip
    return [
        Image(data=gif_bytes(frames, fps, width=width), format="gif"),
        Markdown(f"*{seconds:.0f} s, looping; every frame in `{where}`{made_here}*"),
    ]


def image(path: str | os.PathLike[str], *, width: int = 520) -> Any:
    """An ``IPython.display.Image`` of the PNG at ``path``, embedded as a 256-colour palette PNG (about a third of
    the bytes; the plots' lines and text lose nothing visible), its ``filename`` naming the file."""
    from IPython.display import Image
    from PIL import Image as PILImage

    with PILImage.open(path) as picture:
        palette = picture.convert("RGB").quantize(colors=256, method=PILImage.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    shown = Image(data=buffer.getvalue(), format="png", width=width)
    shown.filename = str(path)
    return shown
