"""The experiments of the report (``make results``): MAML, baselines and ablations, each one entry of a registry
(running them: :mod:`hw14_lib.study.experiment_runs`).

Each experiment trains (or, for the random baseline, only initializes) a policy directly into
``results/<name>/`` (small files, committed: config, metrics, checkpoint, policy, summary), so a
run interrupted in one session resumes in the next. The final evaluation is the MAML paper's
protocol: held-out tasks (both directions; 40 fresh goal velocities), N = 20 trajectories of 200
steps, returns after 0, 1, 2 and 3 inner policy-gradient steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw14_lib.common import catalogue
from hw14_lib.run.config import TrainConfig

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


def _baselines(prefix: str, config: str, iterations: int, methods: Sequence[str], group: str) -> list[Experiment]:
    """``<prefix>_pretrained`` and ``<prefix>_oracle`` (those of ``methods``, in its order): pretrained without
    adaptation, the oracle told the task, ``iterations`` each."""
    overrides = {catalogue.PRETRAINED: PRETRAIN, catalogue.ORACLE: ORACLE}
    return [
        Experiment(f"{prefix}_{m}", config, overrides[m] | {"iterations": iterations}, group=group, method=m)
        for m in methods
    ]


PRETRAIN: dict[str, Any] = {"objective": "pretrain"}
"""The pretrained baseline's overrides (and its iterations)."""
ORACLE: dict[str, Any] = {"objective": "pretrain", "oracle": True}
"""An oracle's overrides (and its iterations)."""
PRETRAINED_FIRST = (catalogue.PRETRAINED, catalogue.ORACLE)
ORACLE_FIRST = PRETRAINED_FIRST[::-1]
"""The orders of a family's two baselines in the registry (the newer families measured the oracle first)."""
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
    *_baselines("paper_dir", "configs/paper_dir.yaml", 100, PRETRAINED_FIRST, "paper"),
    *_baselines("paper_vel", "configs/paper_vel.yaml", 200, PRETRAINED_FIRST, "paper"),
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
    *_baselines("paper_dyn", "configs/paper_dyn.yaml", 100, PRETRAINED_FIRST, "extension"),
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
        experiment
        for short, family in (("crip", "crippled"), ("rev", "reversed"), ("sgn", "signs"))
        for experiment in _baselines(f"paper_{short}", f"configs/paper_{family}.yaml", 100, ORACLE_FIRST, "extension")
    ),
    # Goal velocities in both directions: oracle and pretrained first, then MAML seeds and the random baseline.
    *_baselines("paper_svel", "configs/paper_signed_velocity.yaml", 100, ORACLE_FIRST, "extension"),
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
