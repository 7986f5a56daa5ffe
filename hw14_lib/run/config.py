"""The training configuration: one frozen, validated dataclass, loaded from YAML.

Every field is documented below; a bad value raises ``ValueError`` (or ``TypeError`` for a wrong
type) naming the field, the value and what is allowed, before anything is written.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from hw14_lib.common.seeds import MAX_SEED
from hw14_lib.rl.advantages import AdvantageSettings, Baseline
from hw14_lib.rl.anil import HEAD
from hw14_lib.rl.envs import MAX_EPISODE_STEPS
from hw14_lib.rl.losses import Estimator
from hw14_lib.rl.make_env import EnvName, EnvSpec, Sampler
from hw14_lib.rl.maml import META_OBJECTIVE, InnerLoop, Objective
from hw14_lib.rl.meta_learners import AdamSettings, ProMPSettings, TRPOSettings, meta_learner, settings_from
from hw14_lib.rl.policy import LOG_STD_BOUNDS
from hw14_lib.rl.task_families import BACKWARD, TaskDistribution
from hw14_lib.rl.vector_env import Backend
from hw14_lib.run.config_checks import at_least, check_combinations, check_types, fail, non_negative, positive
from hw14_lib.run.config_digest import config_digest

MAX_PHYSICS_THREADS = 256

StepSizeMode = Literal["none", "per_tensor", "per_parameter"]
InnerParams = Literal["all", "head"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one MAML training run (defaults: the starter code's, Finn et al. 2017)."""

    # --- tasks ---
    env: EnvName = "gymnasium"
    """'gymnasium' (HalfCheetah-v5: dt 0.05 s, 17-d observation) or 'paper' (the MAML paper's rllab half-cheetah:
    dt 0.01 s, centre-of-mass reward, 0.05 ||clip(a)||^2 with ctrl_weight 0.5, 20-d observation)."""
    task: str = BACKWARD
    """Task distribution p(T): the name of a family of ``rl.task_families.TASK_FAMILIES``, where each is one entry
    (the default: the starter code's single backward task)."""
    velocity_low: float = 0.0
    """Lower end of the goal-velocity range U[low, high] (velocity tasks)."""
    velocity_high: float = 2.0
    """Upper end of the goal-velocity range."""
    dynamics_low: float = 0.5
    """Lower end of the dynamics tasks' factor range (each factor log-uniform in [low, high])."""
    dynamics_high: float = 2.0
    """Upper end of the dynamics tasks' factor range."""
    ctrl_weight: float = 0.05
    """Weight of reward_ctrl (-0.1 ||a||^2) in the task reward: 0.05 is the starter code's; 0.5 gives the paper env's
    cost."""

    # --- sampling ---
    iterations: int = 100
    """Number of meta-iterations (outer steps)."""
    meta_batch_size: int = 5
    """B: tasks per meta-iteration."""
    trajectories_per_task: int = 20
    """N: trajectories per task for each support and query set."""
    horizon: int = 200
    """T: steps per trajectory (at most 1000, HalfCheetah's time limit)."""
    backend: Backend = "mujoco"
    """Vector environment: 'mujoco' (batched C rollout) or 'gymnasium' (SyncVectorEnv reference)."""
    physics_threads: int = field(default=2, compare=False)
    """Threads of the 'mujoco' backend's physics, of the sampler (one block of copies each) and of the TRPO step's
    Fisher-vector products (results do not depend on it, so a run may resume with another)."""
    sampler: Sampler = field(default="threads", compare=False)
    """Where the sampler's blocks of copies run: 'threads' or 'processes' (a worker each; the same numbers)."""

    # --- returns and variance reduction ---
    gamma: float = 0.99
    """Discount factor, in (0, 1]."""
    gae_lambda: float = 1.0
    """GAE lambda, in (0, 1]; 1 gives G_t - V(s_t)."""
    baseline: Baseline = "linear"
    """'linear' (feature baseline fitted per task) or 'none' (raw returns, as the starter code)."""
    normalize_advantages: bool = True
    """Standardize advantages within each task's batch."""

    # --- inner loop ---
    objective: Objective = META_OBJECTIVE
    """MAML's, ``maml`` (adapt, then the query loss), or ``pretrain`` (the query loss at theta on all tasks jointly,
    no adaptation during training: the paper's pretrained baseline)."""
    inner_lr: float = 0.1
    """alpha, the inner (adaptation) step size (the initial one when learned)."""
    inner_params: InnerParams = "all"
    """Which parameters the inner step adapts: 'all' (MAML) or 'head' (ANIL: the mean's last layer and log std,
    hw14_lib/rl/anil.py)."""
    learned_step_sizes: StepSizeMode = "none"
    """'none' (a fixed alpha), 'per_tensor' (MAML++'s LSLR: alpha learned per inner step and parameter tensor; the
    table's method maml_lslr) or 'per_parameter' (Meta-SGD: per inner step and parameter)."""
    step_size_lr: float = AdamSettings.step_size_lr
    """Adam learning rate of the learned log step sizes (after each outer step)."""
    inner_steps: int = 1
    """Number of inner gradient steps, each on fresh support data."""
    inner_l2: float = 1e-3
    """L2 coefficient on theta in the support loss (the starter code's)."""
    first_order: bool = False
    """First-order MAML: no second derivatives through the inner step."""
    inner_estimator: Estimator = "reinforce"
    """Support-loss estimator: 'reinforce' (the starter code's), 'ratio' (ProMP's low-variance curvature) or 'dice'
    (the full curvature, DiCE); see hw14_lib/rl/losses.py."""
    entropy_coef: float = 0.0
    """Entropy bonus beta in the support loss."""

    oracle: bool = False
    """The paper's oracle: the task's parameters (d, v, a dynamics task's log-factors, a motors task's gears) end the
    observation; needs objective 'pretrain' (no adaptation). Its table result is the return at theta (k = 0)."""

    # --- outer loop ---
    outer_optimizer: str = "adam"
    """A meta-learner of ``rl.meta_learners.META_LEARNERS``: Adam (the starter code's), TRPO (the MAML paper's) or
    ProMP (LVC inner step, PPO-clipped outer steps)."""
    outer_lr: float = AdamSettings.lr
    """Adam learning rate (also ProMP's)."""
    promp_steps: int = ProMPSettings.steps
    """ProMP: Adam steps per meta-batch."""
    promp_clip: float = ProMPSettings.clip
    """ProMP: PPO clipping range eps, in (0, 1)."""
    promp_kl_coef: float = ProMPSettings.kl_coef
    """ProMP: the coefficient of the inner-step KL penalty (fixed, as in ProMP's MuJoCo runs; the initial one when
    adaptive)."""
    promp_adaptive_kl: bool = ProMPSettings.adaptive_kl
    """ProMP: adapt the KL coefficient after each meta-batch towards ``promp_target_kl`` (halved below target / 1.5,
    doubled above 1.5 target). Off by default: on the paper's direction tasks the doubling lagged the inner KL by
    ten iterations, then held the inner step near zero and adaptation collapsed."""
    promp_target_kl: float = ProMPSettings.target_kl
    """ProMP: the inner step's KL that an adaptive penalty coefficient adapts towards."""
    weight_decay: float = AdamSettings.weight_decay
    """Adam L2 weight decay."""
    grad_clip: float | None = AdamSettings.grad_clip
    """Clip the meta-gradient's norm to this value (Adam); null disables."""
    trpo_max_kl: float = TRPOSettings.max_kl
    """TRPO trust-region size delta (mean KL)."""
    trpo_cg_iterations: int = TRPOSettings.cg_iterations
    """Conjugate-gradient iterations per TRPO step."""
    trpo_cg_damping: float = TRPOSettings.cg_damping
    """Damping added to the Fisher-vector products."""
    trpo_line_search_steps: int = TRPOSettings.line_search_steps
    """Backtracking steps of the line search."""
    trpo_backtrack_ratio: float = TRPOSettings.backtrack_ratio
    """Step shrink factor of each backtracking step, in (0, 1)."""
    trpo_curvature_trajectories: int | None = TRPOSettings.curvature_trajectories
    """Estimate the trust-region curvature on this many trajectories per task (null: all)."""
    outer_settings: dict[str, Any] = field(default_factory=dict)
    """A meta-learner's settings by their own names (``{momentum: 0.9}``): a new one's live here, not in new fields
    (Adam's, TRPO's and ProMP's keep the flat fields above, which every committed config.yaml has)."""

    # --- policy ---
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the Tanh hidden layers."""
    init_log_std: float = 0.0
    """Initial log standard deviation of every action dimension."""
    squash: bool = False
    """Tanh-squashed Gaussian instead of clipping actions to the bounds."""

    # --- evaluation and bookkeeping ---
    seed: int = 0
    """Seed of every random number generator of the run."""
    eval_tasks: int = 4
    """Held-out tasks for the final evaluation (velocity; direction uses both directions)."""
    eval_trajectories: int = 20
    """Trajectories per held-out task for adaptation during evaluation."""
    eval_adaptation_steps: int = 3
    """Inner steps measured by the final evaluation (returns after 0..k steps)."""
    video: bool = True
    """Write an evaluation video (skipped with a warning when rendering is unavailable)."""
    torch_threads: int = 1
    """Intra-op threads of PyTorch (1 is fastest for these small networks and deterministic)."""

    notes: str = field(default="", compare=False)
    """Free text, e.g. what this configuration is for."""

    def __post_init__(self) -> None:
        check_types(self)
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        for name in (
            "iterations", "meta_batch_size", "trajectories_per_task", "horizon", "physics_threads",
            "inner_steps", "promp_steps", "trpo_cg_iterations", "trpo_line_search_steps", "eval_tasks",
            "eval_trajectories", "torch_threads",
        ):  # fmt: skip
            at_least(self, name, 1)
        at_least(self, "eval_adaptation_steps", 0)
        if not 0 <= self.seed <= MAX_SEED:
            fail("seed", self.seed, f"an integer in [0, {MAX_SEED}] (the evaluations add offsets to it)")
        if self.physics_threads > MAX_PHYSICS_THREADS:
            fail("physics_threads", self.physics_threads, f"an integer in [1, {MAX_PHYSICS_THREADS}]")
        if self.horizon > MAX_EPISODE_STEPS:
            fail("horizon", self.horizon, f"an integer in [1, {MAX_EPISODE_STEPS}] (HalfCheetah's time limit)")
        for name in ("inner_lr", "outer_lr", "trpo_max_kl", "step_size_lr", "promp_target_kl", "promp_kl_coef"):
            positive(self, name)
        for name in ("inner_l2", "weight_decay", "entropy_coef", "trpo_cg_damping", "ctrl_weight"):
            non_negative(self, name)
        for name in ("gamma", "gae_lambda"):
            value = getattr(self, name)
            if not (0.0 < value <= 1.0):
                fail(name, value, "a number in (0, 1]")
        if self.trpo_curvature_trajectories is not None and self.trpo_curvature_trajectories < 1:
            fail("trpo_curvature_trajectories", self.trpo_curvature_trajectories, "an integer >= 1 or null")
        if not 0.0 < self.trpo_backtrack_ratio < 1.0:
            fail("trpo_backtrack_ratio", self.trpo_backtrack_ratio, "a number in (0, 1)")
        if self.grad_clip is not None and not self.grad_clip > 0:
            fail("grad_clip", self.grad_clip, "a positive number or null")
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            fail("hidden_sizes", list(self.hidden_sizes), "a non-empty list of positive integers")
        check_combinations(self)
        if not 0.0 < self.promp_clip < 1.0:
            fail("promp_clip", self.promp_clip, "a number in (0, 1)")
        if self.oracle and self.objective != "pretrain":
            fail("objective", self.objective, "'pretrain' with oracle: true (an oracle is trained without adaptation)")
        if not LOG_STD_BOUNDS[0] <= self.init_log_std <= LOG_STD_BOUNDS[1]:
            fail("init_log_std", self.init_log_std, f"a number in [{LOG_STD_BOUNDS[0]:g}, {LOG_STD_BOUNDS[1]:g}]")
        self.meta_learner_settings  # noqa: B018 - refuses an outer_settings key the meta-learner does not have

    # --- derived values ---
    @property
    def digest(self) -> str:
        """What a checkpoint records of its configuration (:func:`hw14_lib.run.config_digest.config_digest`)."""
        return config_digest(self.to_dict(), type(self)().to_dict())

    @property
    def task_distribution(self) -> TaskDistribution:
        """The task family with every parameter it takes: where tasks are drawn from, at every call site."""
        return TaskDistribution(
            self.task,
            velocity_range=self.velocity_range,
            dynamics_range=self.dynamics_range,
            ctrl_weight=self.ctrl_weight,
        )

    @property
    def velocity_range(self) -> tuple[float, float]:
        """``(velocity_low, velocity_high)``."""
        return (self.velocity_low, self.velocity_high)

    @property
    def dynamics_range(self) -> tuple[float, float]:
        """``(dynamics_low, dynamics_high)``."""
        return (self.dynamics_low, self.dynamics_high)

    @property
    def training_inner_steps(self) -> int:
        """Inner steps taken during training: ``inner_steps`` for MAML, 0 for pretraining."""
        return self.inner_steps if self.objective == META_OBJECTIVE else 0

    @property
    def env_spec(self) -> EnvSpec:
        """The environment and its observation: ``env``, with the task parameter for an oracle."""
        return EnvSpec(
            self.env, task_in_observation=self.oracle, task_parameters=self.task_distribution.parameter_count
        )

    @property
    def observation_dim(self) -> int:
        """The policy's input size: 17 (HalfCheetah-v5) or 20 (the paper's environment), plus an oracle's task
        parameters (1, or 3 for dynamics)."""
        return self.env_spec.observation_dim

    @property
    def meta_learner_settings(self) -> Any:
        """The settings of the meta-learner ``outer_optimizer`` names, from the fields its ``CONFIG_KEYS`` list and
        ``outer_settings``."""
        return settings_from(meta_learner(self.outer_optimizer), self.to_dict())

    @property
    def step_size_settings(self) -> dict[str, Any] | None:
        """Learned step sizes (one set per training inner step, from ``inner_lr``), or ``None``: a fixed alpha."""
        if self.learned_step_sizes == "none":
            return None
        return {"steps": self.inner_steps, "init": self.inner_lr, "granularity": self.learned_step_sizes}

    @property
    def inner_loop(self) -> InnerLoop:
        """The adaptation step: ``alpha = inner_lr``, first order or not, the support loss's L2, entropy
        and estimator."""
        return InnerLoop(
            alpha=self.inner_lr,
            first_order=self.first_order,
            l2=self.inner_l2,
            entropy_coef=self.entropy_coef,
            estimator=self.inner_estimator,
            adapted=HEAD if self.inner_params == "head" else None,
        )

    @property
    def advantage_settings(self) -> AdvantageSettings:
        """How sampled trajectories become advantage weights (discount, GAE, baseline, normalization)."""
        return AdvantageSettings(
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            baseline=self.baseline,
            normalize_advantages=self.normalize_advantages,
        )

    @property
    def env_steps_per_iteration(self) -> int:
        """``B * N * T * (training_inner_steps + 1)``: support sets plus the query set."""
        return self.meta_batch_size * self.trajectories_per_task * self.horizon * (self.training_inner_steps + 1)

    # --- conversion ---
    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML/JSON-serializable dict of every field."""
        data = dataclasses.asdict(self)
        data["hidden_sizes"] = list(self.hidden_sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys raise ``ValueError`` listing the known ones."""
        if not isinstance(data, dict):
            raise TypeError(f"a config must be a mapping of field: value, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known, key=str)  # YAML keys may be numbers too
        if unknown:
            raise ValueError(f"unknown config key {unknown[0]!r}; allowed keys: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
        """Load ``path`` (YAML) and apply ``overrides``.

        Raises:
            FileNotFoundError: no such file.
            ValueError: malformed YAML, unknown key or bad value.
        """
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"config file {str(path)!r} is a folder; name a YAML file")
        if path.exists() and not path.is_file():
            raise ValueError(f"config file {str(path)!r} is not a regular file; name a YAML file")
        if not path.exists():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"config file {str(path)!r} is not valid YAML ({detail})") from exc
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ValueError(f"config file {str(path)!r} must hold a mapping of field: value")
        return cls.from_dict({**data, **overrides})
