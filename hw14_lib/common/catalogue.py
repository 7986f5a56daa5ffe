"""The catalogue: every method and every task family of the study, each one object in one place.

A :class:`Method` says how the protocol chooses its step sizes, how the report and the notebook label and colour
it, and which tables and figures show it; a :class:`Family` names its task distribution and carries the MAML
paper's numbers where the paper has them. The protocol, the report, the notebook and the figures ask the
catalogue; none keeps a list of method or family names of its own. Adding a method is one entry here (and the
experiments that train it, :mod:`hw14_lib.study.experiments`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Schedule = Literal["validated", "learned", "own_alpha", "alpha", "none"]
"""How the protocol sets a method's inner step sizes: ``validated``, the run's alpha then ``c * alpha`` with ``c``
chosen on validation tasks; ``learned``, the sizes the policy learned; ``own_alpha``, the step size of the best
one-step validation return (a baseline trained without adaptation); ``alpha``, the run's alpha throughout;
``none``, no step at all (the return at theta, an oracle's)."""


@dataclass(frozen=True)
class Method:
    """One method of the study.

    Attributes:
        name: as ``results/table.json``, the protocol's files and the run folders name it.
        label: plain text, in figures, tables and the notebook (``α`` where LaTeX wants ``$\\alpha$``).
        color: its matplotlib colour in every figure.
        schedule: how the protocol sets its step sizes (:data:`Schedule`).
        main: a row of the main text's comparison with the paper (table and figure).
        curve: its training curve is drawn in the extensions' figure (it meta-trains on the paper's environment).
        baseline: one of the paper's baselines (no meta-training), shown beside MAML in the notebook.
        overrides: how it trains: the configuration fields it sets on its family's configuration (its meta-learner,
            objective and settings; a run's seed and budget are the experiment's).
        trained: ``False`` for a policy evaluated at its initialization (the random baseline).
    """

    name: str
    label: str
    color: str
    schedule: Schedule
    main: bool = False
    curve: bool = False
    baseline: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)
    trained: bool = True

    @property
    def scores_once(self) -> bool:
        """Evaluated at ``k = 0`` only (an oracle does not adapt)."""
        return self.schedule == "none"

    @property
    def tex_label(self) -> str:
        """:attr:`label` for LaTeX."""
        return self.label.replace("α", r"$\alpha$")


@dataclass(frozen=True)
class PaperNumbers:
    """Finn et al. (2017) on one task family: mean return after 0..3 inner steps per method, the oracle's return,
    and the env steps (millions) per seed behind the evaluated checkpoints (from cbfinn/maml_rl's launch scripts)."""

    curves: Mapping[str, tuple[float, ...]]
    oracle: float
    budget_m: float


@dataclass(frozen=True)
class Family:
    """One task family.

    Attributes:
        short: the prefix of its experiments' folders (``dir``).
        name: its task distribution, ``TrainConfig.task`` (``direction``).
        paper: the MAML paper's numbers, or ``None`` for a family the paper did not run.
        gymnasium: the report has Gymnasium runs of it (the appendix's own-evaluation tables and figures).
        label: how headings name it (``"Crippled-motor"`` in "Crippled-motor tasks"); by default its name.
    """

    short: str
    name: str
    paper: PaperNumbers | None = None
    gymnasium: bool = False
    label: str = ""

    @property
    def title(self) -> str:
        """The heading word(s): :attr:`label`, or the capitalized name."""
        return self.label or self.name.capitalize()


PROMP_TRAINING: Mapping[str, Any] = {"outer_optimizer": "promp", "outer_lr": 1e-3}
"""ProMP's training: the LVC inner step and five PPO-clipped Adam steps per meta-batch at Adam's rate 1e-3."""
PRETRAINING: Mapping[str, Any] = {"objective": "pretrain"}
"""Training without adaptation: the query loss at theta on all tasks jointly."""

METHODS: tuple[Method, ...] = (
    Method("maml", "MAML", "tab:blue", "validated", main=True, curve=True),
    # K = 3 inner steps in training (the protocol's three), alpha per step and tensor (MAML++'s LSLR). log alpha's
    # Adam rate 0.03: with so few outer steps, 1e-3 (MAML++'s, for 10^5 steps) would leave alpha within a few percent
    # of its start. TRPO's curvature from all 20 support trajectories, not 5: through three inner steps the Jacobians
    # of a 5-trajectory Hessian inflate the predicted KL, and the steps shrank to a twentieth of the bound (0.0005
    # instead of 0.01, measured at a trained policy: 0.0066 with all 20).
    Method(
        "maml_lslr",
        "MAML, learned α",
        "tab:purple",
        "learned",
        curve=True,
        overrides={
            "inner_steps": 3,
            "learned_step_sizes": "per_tensor",
            "step_size_lr": 0.03,
            "trpo_curvature_trajectories": None,
        },
    ),
    Method("promp", "ProMP", "tab:brown", "validated", curve=True, overrides=PROMP_TRAINING),
    # Twice the outer steps on the same env steps (the experiment doubles the iterations).
    Method(
        "promp_b20",
        "ProMP, B = 20",
        "teal",
        "validated",
        curve=True,
        overrides={**PROMP_TRAINING, "meta_batch_size": 20},
    ),
    # MAML's configuration with the inner step restricted to the policy's head (rl/anil.py).
    Method("anil", "ANIL", "tab:olive", "validated", curve=True, overrides={"inner_params": "head"}),
    Method("pretrained", "pretrained", "tab:orange", "own_alpha", main=True, baseline=True, overrides=PRETRAINING),
    Method("random", "random", "tab:green", "alpha", main=True, baseline=True, trained=False),
    Method("oracle", "oracle", "0.35", "none", main=True, overrides={**PRETRAINING, "oracle": True}),
)
"""Every method, in the order of the tables."""
REFERENCE, LEARNED, PROMP, PROMP_B20, ANIL, PRETRAINED, RANDOM, ORACLE = (m.name for m in METHODS)
"""The methods' names. ``REFERENCE``: the method every other is compared with (MAML); ``LEARNED``: learned step
sizes; ``PRETRAINED``: the pretrained baseline (adapted with its own validated step size); ``ORACLE``: told the task,
scored without adaptation."""


PUBLISHED_ONE_STEP: dict[tuple[str, str], tuple[float, float]] = {(ANIL, "dir"): (363.2, 14.8)}
"""Published one-step returns on rllab's half-cheetah beyond the MAML paper's, ``(method, family) -> (mean, std over
seeds)``: ANIL, Raghu et al. (ICLR 2020), Table 2, three seeds."""

FAMILIES: tuple[Family, ...] = (
    Family(
        "dir",
        "direction",
        PaperNumbers(
            {
                REFERENCE: (-50.7, 293.2, 313.5, 315.7),
                PRETRAINED: (-43.0, -24.8, -12.9, 19.6),
                RANDOM: (-35.7, 21.8, 62.3, 86.2),
            },
            oracle=442.7,
            budget_m=32.0,
        ),
        gymnasium=True,
    ),
    Family(
        "vel",
        "velocity",
        PaperNumbers(
            {REFERENCE: (-129.5, -78.6, -66.6, -60.8), PRETRAINED: (-158.0, -135.4, -128.5, -133.6)},
            oracle=-54.5,
            budget_m=76.0,
        ),
        gymnasium=True,
    ),
    Family("dyn", "dynamics"),
    Family("crip", "crippled", label="Crippled-motor"),
    Family("rev", "reversed", label="Reversed-motor"),
    Family("sgn", "signs", label="Motor-sign"),
    Family("svel", "signed_velocity", label="Signed-velocity"),
)
"""Every task family of the paper-protocol table, in the order of the tables."""


def method(name: str) -> Method:
    """The catalogue's entry of method ``name``.

    Raises:
        ValueError: an unknown method, naming the known ones.
    """
    for entry in METHODS:
        if entry.name == name:
            return entry
    raise ValueError(f"method={name!r}; allowed: one of {', '.join(m.name for m in METHODS)}")


def family(short_or_name: str) -> Family:
    """The catalogue's entry of a family, by its short name (``dir``) or its distribution (``direction``).

    Raises:
        ValueError: an unknown family, naming the known ones.
    """
    for entry in FAMILIES:
        if short_or_name in (entry.short, entry.name):
            return entry
    raise ValueError(f"family={short_or_name!r}; allowed: one of {', '.join(f.short for f in FAMILIES)}")


def paper_families() -> dict[str, Family]:
    """``short -> family`` of the families the MAML paper ran (it has numbers for)."""
    return {f.short: f for f in FAMILIES if f.paper is not None}


def paper_curve(fam: str, name: str = REFERENCE) -> tuple[float, ...]:
    """The paper's returns after 0..3 steps of method ``name`` on family ``fam`` (short name)."""
    paper = family(fam).paper
    if paper is None or name not in paper.curves:
        raise ValueError(f"the paper reports no {name!r} on {fam!r}")
    return tuple(paper.curves[name])
