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
from hw14_lib.rl.task_families import BACKWARD
from hw14_lib.run.config import TrainConfig

RESULTS_ROOT = Path("results")
BACKWARD_RUN = BACKWARD
"""The course's run (``results/backward``): the starter code's single task, named after its family."""


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


def _seeds(
    prefix: str,
    config: str,
    seeds: Sequence[int],
    method: str = catalogue.REFERENCE,
    group: str = "main",
    **budget: Any,
) -> list[Experiment]:
    """``<prefix>_s<seed>`` for each seed: ``method`` trained as the catalogue says (its overrides), ``budget`` (such
    as ``iterations``) on top."""
    overrides = catalogue.method(method).overrides
    return [
        Experiment(f"{prefix}_s{s}", config, {"seed": s, **overrides, **budget}, group=group, method=method)
        for s in seeds
    ]


def _baseline(prefix: str, config: str, method: str, group: str, **budget: Any) -> Experiment:
    """``<prefix>_<method>``: one seed of a baseline, trained as the catalogue says (or evaluated at its
    initialization when the method is not trained)."""
    entry = catalogue.method(method)
    overrides = {**entry.overrides, **budget}
    return Experiment(f"{prefix}_{method}", config, overrides, train=entry.trained, group=group, method=method)


def _baselines(prefix: str, config: str, iterations: int, methods: Sequence[str], group: str) -> list[Experiment]:
    """``<prefix>_pretrained`` and ``<prefix>_oracle`` (those of ``methods``, in its order): pretrained without
    adaptation, the oracle told the task, ``iterations`` each."""
    return [_baseline(prefix, config, m, group, iterations=iterations) for m in methods]


PRETRAINED_FIRST = (catalogue.PRETRAINED, catalogue.ORACLE)
ORACLE_FIRST = PRETRAINED_FIRST[::-1]
"""The orders of a family's two baselines in the registry (the newer families measured the oracle first)."""
PRETRAINED, RANDOM, ORACLE = catalogue.PRETRAINED, catalogue.RANDOM, catalogue.ORACLE

# The pretrained baseline gets the MAML run's env-step budget: without support sets an iteration
# samples half as much, so it runs twice the iterations.
EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment(BACKWARD_RUN, f"configs/{BACKWARD}.yaml"),
    *_seeds("dir_maml", "configs/dir.yaml", (0, 1, 2)),
    *_seeds("vel_maml", "configs/vel.yaml", (0, 1, 2)),
    *(_baseline(fam, f"configs/{fam}.yaml", PRETRAINED, "baseline", iterations=1000) for fam in ("dir", "vel")),
    *(_baseline(fam, f"configs/{fam}.yaml", RANDOM, "baseline") for fam in ("dir", "vel")),
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
    _baseline("dir", "configs/dir.yaml", ORACLE, "main", iterations=1000),
    _baseline("vel", "configs/vel.yaml", ORACLE, "main", iterations=100),
    # The MAML paper's environment: MAML seeds, then the baselines with the same env-step budget (no
    # support sets: twice the iterations) and the oracles (task parameter in the observation, trained likewise).
    *_seeds("paper_dir_maml", "configs/paper_dir.yaml", (0, 1, 2)),
    *_seeds("paper_vel_maml", "configs/paper_vel.yaml", (0, 1, 2)),
    *_baselines("paper_dir", "configs/paper_dir.yaml", 100, PRETRAINED_FIRST, "paper"),
    *_baselines("paper_vel", "configs/paper_vel.yaml", 200, PRETRAINED_FIRST, "paper"),
    *(_baseline(f"paper_{fam}", f"configs/paper_{fam}.yaml", RANDOM, "paper") for fam in ("dir", "vel")),
    # Learned step sizes on the MAML runs' env-step budget (four sampled sets per iteration: 25 and 50 iterations);
    # log alpha's rate 0.03 lets alpha move by up to e^0.75 (direction) and e^1.5 (velocity).
    *(
        experiment
        for family, iterations in (("dir", 25), ("vel", 50))
        for experiment in _seeds(
            f"paper_{family}_{catalogue.LEARNED}",
            f"configs/paper_{family}.yaml",
            (0, 1, 2),
            catalogue.LEARNED,
            "extension",
            iterations=iterations,
        )
    ),
    # The dynamics family: MAML seeds, and the baselines and oracle as on direction and velocity.
    *_seeds("paper_dyn_maml", "configs/paper_dyn.yaml", (0, 1, 2)),
    *_baselines("paper_dyn", "configs/paper_dyn.yaml", 100, PRETRAINED_FIRST, "extension"),
    _baseline("paper_dyn", "configs/paper_dyn.yaml", RANDOM, "extension"),
    # ProMP: the LVC inner step and five PPO-clipped Adam steps per meta-batch, on the MAML budget.
    *(
        experiment
        for family in ("dir", "vel")
        for experiment in _seeds(
            f"paper_{family}_{catalogue.PROMP}", f"configs/paper_{family}.yaml", (0, 1, 2), catalogue.PROMP, "extension"
        )
    ),
    # ProMP with 20 tasks per meta-batch instead of 40: twice the outer steps on the same env steps (100 iterations,
    # 16 M); direction tasks are two, so 20 tasks still draw both about equally.
    *_seeds(
        f"paper_dir_{catalogue.PROMP_B20}",
        "configs/paper_dir.yaml",
        (0, 1, 2),
        catalogue.PROMP_B20,
        "extension",
        iterations=100,
    ),
    # ANIL: MAML's configuration with the inner step restricted to the policy's head (rl/anil.py).
    *(
        experiment
        for family in ("dir", "vel")
        for experiment in _seeds(
            f"paper_{family}_{catalogue.ANIL}", f"configs/paper_{family}.yaml", (0, 1, 2), catalogue.ANIL
        )
    ),
    # The motors families (one motor crippled or reversed, or every motor's sign drawn): oracle and pretrained,
    # measured before any meta-training. On none does the oracle lead the pretrained policy by 50 at k = 0 (the state
    # reveals the motors to a policy that is not told them), so none is meta-trained.
    *(
        experiment
        for short in ("crip", "rev", "sgn")
        for experiment in _baselines(
            f"paper_{short}", f"configs/paper_{catalogue.family(short).name}.yaml", 100, ORACLE_FIRST, "extension"
        )
    ),
    # Goal velocities in both directions: oracle and pretrained first, then MAML seeds and the random baseline.
    *_baselines("paper_svel", "configs/paper_signed_velocity.yaml", 100, ORACLE_FIRST, "extension"),
    *_seeds("paper_svel_maml", "configs/paper_signed_velocity.yaml", (0, 1, 2)),
    _baseline("paper_svel", "configs/paper_signed_velocity.yaml", RANDOM, "extension"),
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
