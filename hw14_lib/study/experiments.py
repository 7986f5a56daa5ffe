"""The experiments of the report (``make results``): MAML, baselines and ablations, resumable.

Each experiment trains (or, for the random baseline, only initializes) a policy directly into
``results/<name>/`` (small files, committed: config, metrics, checkpoint, policy, summary), so a
run interrupted in one session resumes in the next. The final evaluation is the MAML paper's
protocol: held-out tasks (both directions; 40 fresh goal velocities), N = 20 trajectories of 200
steps, returns after 0, 1, 2 and 3 inner policy-gradient steps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw14_lib.common import catalogue
from hw14_lib.common.io_utils import atomic_write_json, atomic_write_text
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.evaluation import evaluate_meta_policy
from hw14_lib.run.folder_lock import check_not_in_use, exclusive_folder
from hw14_lib.run.run_folder import CHECKPOINT, INTERIM_SUMMARY, prepare_run_folder, read_checkpoint, read_metrics
from hw14_lib.run.run_folder import is_finished as run_is_finished
from hw14_lib.run.training import finish_run, make_policy
from hw14_lib.run.training import train as train_run
from hw14_lib.study.jobs import run_in_subprocesses

RESULTS_ROOT = Path("results")


@dataclass(frozen=True)
class Experiment:
    """One entry of the results table.

    Attributes:
        name: folder under ``results/``.
        config: YAML file it starts from.
        overrides: fields changed from that file.
        train: ``False`` for the randomly initialized baseline (evaluation only).
        group: which figure/table it belongs to.
        method: the catalogue's method whose row of ``results/table.json`` it belongs to (with its family, read from
            the configuration's ``task``, its environment and horizon); ``None`` for a run the protocol does not
            evaluate (the backward run, the ablations, the meta-batch variant).
    """

    name: str
    config: str
    overrides: dict[str, Any] = field(default_factory=dict)
    train: bool = True
    group: str = "main"
    method: str | None = None

    def load_config(self, **runtime: Any) -> TrainConfig:
        """The configuration of this experiment (``runtime``: fields such as ``physics_threads``
        that do not change its results)."""
        return TrainConfig.from_yaml(self.config, **{**self.overrides, **runtime})


def _seeds(prefix: str, config: str, seeds: Sequence[int], method: str = catalogue.REFERENCE) -> list[Experiment]:
    return [Experiment(f"{prefix}_s{s}", config, {"seed": s}, method=method) for s in seeds]


PRETRAIN: dict[str, Any] = {"objective": "pretrain"}
"""The pretrained baseline's overrides (and its iterations)."""
ORACLE: dict[str, Any] = {"objective": "pretrain", "oracle": True}
"""An oracle's overrides (and its iterations)."""
RANDOM, PROMP, PROMP_B20, ANIL = (catalogue.method(name).name for name in ("random", "promp", "promp_b20", "anil"))

# The pretrained baseline gets the MAML run's env-step budget: without support sets an iteration
# samples half as much, so it runs twice the iterations.
EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("backward", "configs/backward.yaml"),
    *_seeds("dir_maml", "configs/dir.yaml", (0, 1, 2)),
    *_seeds("vel_maml", "configs/vel.yaml", (0, 1, 2)),
    *(
        Experiment(
            f"{fam}_pretrained",
            f"configs/{fam}.yaml",
            PRETRAIN | {"iterations": 1000},
            group="baseline",
            method=catalogue.PRETRAINED,
        )
        for fam in ("dir", "vel")
    ),
    *(
        Experiment(f"{fam}_random", f"configs/{fam}.yaml", train=False, group="baseline", method=RANDOM)
        for fam in ("dir", "vel")
    ),
    Experiment("ablation_dir_first_order", "configs/dir.yaml", {"first_order": True}, group="ablation"),
    Experiment(
        "ablation_dir_no_baseline",
        "configs/dir.yaml",
        {"baseline": "none", "normalize_advantages": False},
        group="ablation",
    ),
    Experiment("ablation_dir_two_inner_steps", "configs/dir.yaml", {"inner_steps": 2}, group="ablation"),
    # Velocity with 20 tasks per meta-batch, the configuration before 40 (the report: what one inner step does).
    Experiment("vel_maml_b20_s0", "configs/vel.yaml", {"meta_batch_size": 20}, group="variant"),
    # Direction at the reimplementations' convention (ProMP, learn2learn, RLlib): horizon 100, cost 0.05 ||a||^2,
    # 300 iterations of 20 tasks x 20 trajectories (24 M env steps).
    Experiment(
        "dir_maml_h100",
        "configs/dir.yaml",
        {"horizon": 100, "ctrl_weight": 0.5, "iterations": 300},
        group="variant",
        method=catalogue.REFERENCE,
    ),
    # Oracles on Gymnasium: the task parameter in the observation. Direction: 1000 pretraining iterations, the
    # MAML runs' 80 M env steps. Velocity: 100 iterations (16 M, a tenth of its MAML runs' budget), a lower bound
    # on what a policy told the task reaches.
    Experiment("dir_oracle", "configs/dir.yaml", ORACLE | {"iterations": 1000}, method=catalogue.ORACLE),
    Experiment("vel_oracle", "configs/vel.yaml", ORACLE | {"iterations": 100}, method=catalogue.ORACLE),
    # The MAML paper's environment: MAML seeds, then the baselines with the same env-step budget (no
    # support sets: twice the iterations) and the oracles (task parameter in the observation, trained likewise).
    *_seeds("paper_dir_maml", "configs/paper_dir.yaml", (0, 1, 2)),
    *_seeds("paper_vel_maml", "configs/paper_vel.yaml", (0, 1, 2)),
    *(
        Experiment(
            f"paper_{family}_{method}",
            f"configs/paper_{family}.yaml",
            overrides | {"iterations": iterations},
            group="paper",
            method=method,
        )
        for family, iterations in (("dir", 100), ("vel", 200))
        for method, overrides in ((catalogue.PRETRAINED, PRETRAIN), (catalogue.ORACLE, ORACLE))
    ),
    *(
        Experiment(f"paper_{fam}_random", f"configs/paper_{fam}.yaml", train=False, group="paper", method=RANDOM)
        for fam in ("dir", "vel")
    ),
    # Learned step sizes: K = 3 inner steps in training (the protocol's three), alpha per step and tensor
    # (MAML++'s LSLR), on the MAML runs' env-step budget (four sampled sets per iteration: 25 and 50 iterations).
    # log alpha's Adam rate 0.03: with so few outer steps, 1e-3 (MAML++'s, for 10^5 steps) would leave alpha within
    # a few percent of its start; 0.03 lets it move by up to e^0.75 (direction) and e^1.5 (velocity). TRPO's
    # curvature from all 20 support trajectories, not 5: through three inner steps the Jacobians of a 5-trajectory
    # Hessian inflate the predicted KL, and the steps shrank to a twentieth of the bound (0.0005 instead of 0.01,
    # measured at a trained policy: 0.0066 with all 20).
    *(
        Experiment(
            f"paper_{family}_maml_lslr_s{seed}",
            f"configs/paper_{family}.yaml",
            {
                "seed": seed,
                "inner_steps": 3,
                "learned_step_sizes": "per_tensor",
                "step_size_lr": 0.03,
                "trpo_curvature_trajectories": None,
                "iterations": iterations,
            },
            group="extension",
            method=catalogue.LEARNED,
        )
        for family, iterations in (("dir", 25), ("vel", 50))
        for seed in (0, 1, 2)
    ),
    # The dynamics family: MAML seeds, and the baselines and oracle as on direction and velocity.
    *_seeds("paper_dyn_maml", "configs/paper_dyn.yaml", (0, 1, 2)),
    *(
        Experiment(
            f"paper_dyn_{method}",
            "configs/paper_dyn.yaml",
            overrides | {"iterations": 100},
            group="extension",
            method=method,
        )
        for method, overrides in ((catalogue.PRETRAINED, PRETRAIN), (catalogue.ORACLE, ORACLE))
    ),
    Experiment("paper_dyn_random", "configs/paper_dyn.yaml", train=False, group="extension", method=RANDOM),
    # ProMP: the LVC inner step and five PPO-clipped Adam steps per meta-batch, on the MAML budget.
    *(
        Experiment(
            f"paper_{family}_promp_s{seed}",
            f"configs/paper_{family}.yaml",
            {"seed": seed, "outer_optimizer": "promp", "outer_lr": 1e-3},
            group="extension",
            method=PROMP,
        )
        for family in ("dir", "vel")
        for seed in (0, 1, 2)
    ),
    # ProMP with 20 tasks per meta-batch instead of 40: twice the outer steps on the same env steps (100 iterations,
    # 16 M); direction tasks are two, so 20 tasks still draw both about equally.
    *(
        Experiment(
            f"paper_dir_promp_b20_s{seed}",
            "configs/paper_dir.yaml",
            {"seed": seed, "outer_optimizer": "promp", "outer_lr": 1e-3, "meta_batch_size": 20, "iterations": 100},
            group="extension",
            method=PROMP_B20,
        )
        for seed in (0, 1, 2)
    ),
    # ANIL: MAML's configuration with the inner step restricted to the policy's head (rl/anil.py).
    *(
        Experiment(
            f"paper_{family}_anil_s{seed}",
            f"configs/paper_{family}.yaml",
            {"seed": seed, "inner_params": "head"},
            method=ANIL,
        )
        for family in ("dir", "vel")
        for seed in (0, 1, 2)
    ),
    # The motors families (one motor crippled or reversed, or every motor's sign drawn): oracle and pretrained,
    # measured before any meta-training. On none does the oracle lead the pretrained policy by 50 at k = 0 (the state
    # reveals the motors to a policy that is not told them), so none is meta-trained.
    *(
        Experiment(
            f"paper_{short}_{method}",
            f"configs/paper_{family}.yaml",
            overrides | {"iterations": 100},
            group="extension",
            method=method,
        )
        for short, family in (("crip", "crippled"), ("rev", "reversed"), ("sgn", "signs"))
        for method, overrides in ((catalogue.ORACLE, ORACLE), (catalogue.PRETRAINED, PRETRAIN))
    ),
    # Goal velocities in both directions: oracle and pretrained first, then MAML seeds and the random baseline.
    *(
        Experiment(
            f"paper_svel_{method}",
            "configs/paper_signed_velocity.yaml",
            overrides | {"iterations": 100},
            group="extension",
            method=method,
        )
        for method, overrides in ((catalogue.ORACLE, ORACLE), (catalogue.PRETRAINED, PRETRAIN))
    ),
    *_seeds("paper_svel_maml", "configs/paper_signed_velocity.yaml", (0, 1, 2)),
    Experiment(
        "paper_svel_random", "configs/paper_signed_velocity.yaml", train=False, group="extension", method=RANDOM
    ),
)


SMOKE_SUITE: tuple[Experiment, ...] = tuple(
    Experiment(f"smoke_s{seed}", "configs/smoke.yaml", {"seed": seed, "iterations": 20}, group="smoke")
    for seed in (0, 1)
)
"""Seconds-long experiments for tests of the grid (local, and on a Ray cluster)."""
SUITES: dict[str, tuple[Experiment, ...]] = {"report": EXPERIMENTS, "smoke": SMOKE_SUITE}
"""Named sets of experiments (``results --suite``): the report's, and the smoke suite."""


def suite_experiments(suite: str) -> tuple[Experiment, ...]:
    """The experiments of ``suite``; ``ValueError`` lists the suites."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    return SUITES[suite]


def experiment_by_name(name: str, suite: str = "report") -> Experiment:
    """Look an experiment of ``suite`` up by name; ``ValueError`` lists the known names."""
    experiments = suite_experiments(suite)
    for exp in experiments:
        if exp.name == name:
            return exp
    raise ValueError(f"unknown experiment {name!r}; known: {', '.join(e.name for e in experiments)}")


def is_finished(exp: Experiment, root: Path = RESULTS_ROOT) -> bool:
    """Whether ``results/<name>/summary.json`` exists (the last file an experiment writes)."""
    return run_is_finished(root / exp.name)


def run_experiment(
    exp: Experiment,
    root: Path = RESULTS_ROOT,
    *,
    progress: bool = True,
    deadline: float | None = None,
    physics_threads: int = 2,
) -> bool:
    """Train (resuming when a checkpoint exists) and evaluate one experiment.

    Returns:
        ``True`` when it is finished, ``False`` when ``deadline`` stopped it first.
    """
    if is_finished(exp, root):
        return True
    cfg = exp.load_config(physics_threads=physics_threads)
    return run_configured(cfg, root / exp.name, train=exp.train, progress=progress, deadline=deadline)


def run_configured(
    cfg: TrainConfig, out: Path, *, train: bool = True, progress: bool = True, deadline: float | None = None
) -> bool:
    """Train ``cfg`` into ``out`` (resuming when a checkpoint exists) and evaluate it; with ``train=False`` only
    evaluate its initialization (the random baseline). Shared by the local and the Ray paths.

    Returns:
        ``True`` when it is finished, ``False`` when ``deadline`` stopped it first.
    """
    if run_is_finished(out):
        return True
    if not train:
        with exclusive_folder(out):
            prepare_run_folder(cfg, out, resume=False, overwrite=True)
            finish_run(cfg, out, make_policy(cfg))
        return True
    resume = (out / CHECKPOINT).exists()
    summary = train_run(cfg, out, resume=resume, overwrite=not resume, progress=progress, deadline=deadline)
    if summary is not None:
        (out / INTERIM_SUMMARY).unlink(missing_ok=True)  # superseded by summary.json
    return summary is not None


def evaluate_interim(exp: Experiment, root: Path = RESULTS_ROOT, *, physics_threads: int = 2) -> Path | None:
    """Evaluate an unfinished run's last checkpoint with the final protocol and write
    ``results/<name>/interim_summary.json`` (marked with its iteration and env steps).

    Returns:
        The file written, or ``None`` when the run is finished or has no checkpoint yet.
    """
    out = root / exp.name
    if is_finished(exp, root) or not (out / CHECKPOINT).exists():
        return None
    cfg = exp.load_config(physics_threads=physics_threads)
    checkpoint = read_checkpoint(out / CHECKPOINT)
    policy = make_policy(cfg)
    policy.load_state_dict(checkpoint["policy"])
    evaluation, _, _ = evaluate_meta_policy(cfg, policy)
    summary = {
        "interim": True,
        "config": cfg.to_dict(),
        "iterations": int(checkpoint["iteration"]),
        "env_steps": int(checkpoint["env_steps"]),
        "wall_seconds": float(checkpoint["wall_seconds"]),
        **evaluation,
    }
    return atomic_write_json(out / INTERIM_SUMMARY, summary)


def physics_threads_per_job(jobs: int, requested: int | None = None) -> int:
    """``requested``, or by default ``2 // jobs`` (at least 1): this machine has two cores."""
    return requested if requested is not None else max(1, 2 // jobs)


def run_experiments(
    names: Sequence[str] | None = None,
    root: Path = RESULTS_ROOT,
    *,
    jobs: int = 1,
    physics_threads: int | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
    suite: str = "report",
) -> list[str]:
    """Run the named experiments (default: all), ``jobs`` at a time, each in its own process
    with ``physics_threads`` physics threads (default ``2 // jobs``: this machine has two cores).

    Ctrl-C or SIGTERM stops every job at its last checkpoint (SIGTERM is passed on to the jobs).

    Returns:
        Names still unfinished (stopped by ``max_minutes``).

    Raises:
        FolderInUseError: another process writes one of the experiments' folders; nothing started.
    """
    selected = [experiment_by_name(n, suite) for n in names] if names else list(suite_experiments(suite))
    pending = [e for e in selected if not is_finished(e, root)]
    check_not_in_use([root / e.name for e in pending])  # another `results` or training: refuse before starting
    threads = physics_threads_per_job(jobs, physics_threads)
    deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
    if jobs <= 1:
        for exp in pending:
            run_experiment(exp, root, progress=progress, deadline=deadline, physics_threads=threads)
    else:
        run_in_subprocesses(
            [e.name for e in pending], root, jobs=jobs, physics_threads=threads, max_minutes=max_minutes, suite=suite
        )
    return [e.name for e in selected if not is_finished(e, root)]


def write_status(root: Path = RESULTS_ROOT, experiments: Sequence[Experiment] = EXPERIMENTS) -> Path:
    """Write ``results/STATUS.md``: which ``experiments`` are finished and how far the others got."""
    lines = ["# Experiment status", "", "| experiment | state | iterations | env steps |", "|---|---|---|---|"]
    for exp in experiments:
        folder = root / exp.name
        metrics = read_metrics(folder)
        target = exp.load_config().iterations if exp.train else 0
        state = "finished" if is_finished(exp, root) else ("in progress" if metrics else "not started")
        steps = metrics[-1]["env_steps"] if metrics else 0
        lines.append(f"| {exp.name} | {state} | {len(metrics)}/{target} | {steps:,} |")
    return atomic_write_text(root / "STATUS.md", "\n".join(lines) + "\n")
