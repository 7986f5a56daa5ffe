"""The notebook's "try it" section: adapt the meta-trained policy of a task family to a task of the
user's choice with k inner steps, print the returns and play the adapted policy; the ipywidgets
controls around it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw14_lib.common import catalogue
from hw14_lib.notebook.results import FAMILY_PREFIXES
from hw14_lib.notebook.settings import Note, NotebookSettings, animation, has_widget_frontend, project_path
from hw14_lib.rl.policy import GaussianMLPPolicy, load_policy
from hw14_lib.rl.task_families import TASK_FAMILIES
from hw14_lib.rl.tasks import Task
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.evaluation import adaptation_curve, later_step_sizes
from hw14_lib.run.run_folder import CONFIG, POLICY
from hw14_lib.run.video import record_video
from hw14_lib.study.experiments import BACKWARD_RUN


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
        settings.results_root / BACKWARD_RUN,
        settings.repo_root / "runs" / "default",
        settings.live_run_dir,
    ]
    for folder in candidates:
        if (folder / POLICY).is_file() and (folder / CONFIG).is_file():
            return MetaTrainedPolicy(load_policy(folder / POLICY), TrainConfig.from_yaml(folder / CONFIG), folder)
    raise FileNotFoundError(
        f"no {POLICY} with a {CONFIG} in {', '.join(str(c) for c in candidates)}; run the training cell first"
    )


def make_task(family: str, value: float) -> Task:
    """The task of ``family`` with parameter ``value``: a direction task (``value`` = d, -1 or +1) or a
    goal-velocity task (``value`` = v in m/s).

    Raises:
        ValueError: a family whose tasks are not one number, naming those that are.
    """
    entry = TASK_FAMILIES.get(family)
    if entry is None or entry.of_value is None:
        known = ", ".join(name for name, f in TASK_FAMILIES.items() if f.of_value is not None)
        raise ValueError(f"family={family!r} is unknown; use one of {known}")
    return entry.of_value(value)


DIRECTION, VELOCITY = (catalogue.family(short).name for short in ("dir", "vel"))
"""The families of the widget: a direction (a toggle) or a goal velocity (a slider)."""


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
        horizon: the steps of each sampled trajectory (``None``: not recorded).
        video_horizon: the steps of the video's episode (``None``: not recorded).
    """

    task: Task
    folder: Path
    stochastic: list[float]
    deterministic: list[float]
    step_sizes: list[float]
    video_path: Path | None
    video_return: float | None
    horizon: int | None = None
    video_horizon: int | None = None

    @property
    def steps(self) -> int:
        """k."""
        return len(self.stochastic) - 1

    def describe(self) -> str:
        """The returns after each step, one line each."""
        over = f" over {self.horizon} steps" if self.horizon else ""
        lines = [
            f"task {self.task.label()}, policy meta-trained in {project_path(self.folder)}/, "
            f"k = {self.steps} inner {_steps(self.steps)}"
        ]
        if self.steps:
            lines[0] += " of size " + ", ".join(f"{a:g}" for a in self.step_sizes)
        for k, (sto, det) in enumerate(zip(self.stochastic, self.deterministic, strict=True)):
            lines.append(
                f"  after {k} {_steps(k)}: return{over} {sto:8.1f} (sampled actions)   {det:8.1f} (mean action)"
            )
        if self.video_return is not None:
            length = f" of {self.video_horizon} steps" if self.video_horizon else ""
            lines.append(
                f"video: one episode{length} with the mean action after {self.steps} inner {_steps(self.steps)}, "
                f"return {self.video_return:.1f} over that episode"
            )
        return "\n".join(lines)

    def items(self) -> list[Any]:
        """What a cell shows: :meth:`describe` and the video's animation (``display(*demo.items())``)."""
        return [Note(self.describe()), *(animation(self.video_path) if self.video_path is not None else [])]


def adaptation_demo(
    settings: NotebookSettings, task: Task, steps: int, *, seed: int = 0, later_scale: float = 1.0
) -> AdaptationDemo:
    """Adapt the meta-trained policy of ``task``'s family with ``steps`` inner policy-gradient steps
    (:func:`hw14_lib.run.evaluation.adaptation_curve`, N = ``settings.adaptation_trajectories``) and render
    one deterministic episode of the adapted policy. The first step has the trained ``alpha``, every
    later one ``later_scale * alpha`` (the report's "Smaller later steps")."""
    if not 0 <= steps <= settings.max_adaptation_steps:
        raise ValueError(f"steps={steps!r}; allowed: an integer in [0, {settings.max_adaptation_steps}]")
    if not (math.isfinite(later_scale) and later_scale >= 0):
        raise ValueError(f"later_scale={later_scale!r}; allowed: a finite number >= 0")
    trained = meta_trained_policy(settings, task.kind)
    step_sizes = later_step_sizes(trained.config.inner_lr, steps, later_scale)
    curve, history = adaptation_curve(
        trained.policy,
        [task],
        steps=steps,
        num_trajectories=settings.adaptation_trajectories,
        horizon=settings.rollout_horizon,
        inner=trained.config.inner_loop,
        advantages=trained.config.advantage_settings,
        seed=seed,
        physics_threads=1,
        step_sizes=step_sizes,
        env=trained.config.env_spec,
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
        env=trained.config.env_spec,
    )
    return AdaptationDemo(
        task=task,
        folder=trained.folder,
        stochastic=curve.mean_stochastic(),
        deterministic=curve.mean_deterministic(),
        step_sizes=step_sizes,
        video_path=path if video_return is not None else None,
        video_return=video_return,
        horizon=settings.rollout_horizon,
        video_horizon=settings.video_horizon,
    )


def _steps(k: int) -> str:
    return "step" if k == 1 else "steps"


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
            options=[(DIRECTION, DIRECTION), ("goal velocity", VELOCITY)], description="task"
        )
        self.direction = widgets.ToggleButtons(
            options=[("backward (d = -1)", -1.0), ("forward (d = +1)", 1.0)], description=DIRECTION
        )
        self.velocity = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="v (m/s)")
        self.steps = widgets.IntSlider(
            value=min(1, settings.max_adaptation_steps), min=0, max=settings.max_adaptation_steps, description="k"
        )
        self.later_scale = widgets.FloatSlider(
            value=0.25, min=0.0, max=1.0, step=0.05, description="later steps", readout_format=".2f"
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
        value = self.direction.value if self.family.value == DIRECTION else self.velocity.value
        return make_task(self.family.value, value)

    def _show_parameter(self, _change: Any = None) -> None:
        is_direction = self.family.value == DIRECTION
        self.direction.layout.display = None if is_direction else "none"
        self.velocity.layout.display = "none" if is_direction else None

    def run(self, _button: Any = None) -> AdaptationDemo:
        """Adapt to the chosen task and show the returns and the video in the output area."""
        from IPython.display import clear_output, display

        with self.output:
            clear_output()
            display(Note(f"adapting to {self.task().label()} with k = {self.steps.value} ..."))
            demo = adaptation_demo(self.settings, self.task(), self.steps.value, later_scale=self.later_scale.value)
            clear_output()
            display(*demo.items())
        return demo


EXPLORER_NOTE = (
    "Run this cell in JupyterLab, Notebook 7 or VS Code to get the controls here: the task (a direction or a goal "
    "velocity), k, the size of the later steps and a button that adapts and plays the video. (This output was saved "
    "by a run without a front end, which draws no controls.) The next cell does the same for one fixed choice."
)
"""What the explorer cell shows where no widget can be drawn (the committed notebook's saved output)."""


def adaptation_explorer(settings: NotebookSettings) -> Any:
    """The interactive widget when a widget frontend is present; otherwise :data:`EXPLORER_NOTE`, which tells the
    reader of a saved notebook what running the cell gives."""
    if not has_widget_frontend():
        return Note(EXPLORER_NOTE)
    return AdaptationExplorer(settings).widget
