"""Outer (meta) optimizers: Adam on the meta-gradient (the starter code's) and a TRPO meta-step.

Both minimize ``L_meta(theta)`` of :func:`hw14_lib.rl.maml.meta_objective` and refuse to step when
the loss or the gradient is not finite (:class:`NonFiniteError` names the quantity), so a bad
batch can never corrupt ``theta``.

TRPO (Schulman et al. 2015), as in the MAML paper's RL experiments: the step direction solves
``F s = -g`` by conjugate gradient, where ``F`` is the Hessian of the mean KL between the query
policies before and after the step (products computed as ``J^T F' J`` in :mod:`hw14_lib.rl.trust_region`,
for any number of inner steps), scaled to ``0.5 s^T F s = delta``, then a backtracking line search
accepts the first step that lowers ``L_meta`` and keeps the KL below ``delta``.

Each takes its settings as one dataclass defined next to it (:class:`AdamSettings`, :class:`TRPOSettings`; ProMP's
in :mod:`hw14_lib.rl.promp`) and the policy once, and finishes its whole update, both projections included
(:func:`finish_step`); :mod:`hw14_lib.rl.meta_learners` registers them. All follow :class:`OuterOptimizer`, the one
interface the training loop uses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from hw14_lib.rl.losses import Estimator
from hw14_lib.rl.maml import (
    InnerLoop,
    MetaBatch,
    Params,
    adapt_task,
    meta_objective,
    policy_step_sizes,
    query_loss,
    task_workers,
)
from hw14_lib.rl.parallel import map_in_threads
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, learned_step_sizes, policy_params
from hw14_lib.rl.trust_region import (
    conjugate_gradient,
    detach_distribution,
    mean_kl,
    meta_fisher_vector_product,
    query_distributions,
)


class OuterOptimizer(Protocol):
    """What training needs of an outer optimizer: one meta-step on a sampled meta-batch, and its state
    for checkpoints (so a resumed run continues bit for bit)."""

    def step(self, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        """Update the policy's parameters in place to lower ``L_meta`` on ``batch``, projections included
        (:func:`finish_step`); returns at least ``meta_loss`` (before the step) and ``grad_norm``."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state (e.g. Adam's moments)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        ...


class NonFiniteError(FloatingPointError):
    """A loss or gradient became NaN or infinite; ``quantity`` names which one."""

    def __init__(self, quantity: str, detail: str = "the optimizer step was skipped"):
        super().__init__(f"{quantity} is not finite; {detail}")
        self.quantity = quantity


def _check_finite(name: str, *tensors: Tensor) -> None:
    if not all(torch.isfinite(t).all() for t in tensors):
        raise NonFiniteError(name)


def project_log_std(policy: GaussianMLPPolicy) -> None:
    """Clamp the ``log_std`` parameter into ``LOG_STD_BOUNDS`` in place (a projection after each step).

    ``forward`` already clamps ``log sigma``, so the policy's distribution is unchanged; but the clamp
    has zero gradient outside the bounds, so a parameter pushed past them (by Adam's momentum or a
    TRPO step) would stay stuck there, and with no weight decay drift without limit. Projecting keeps
    it on the boundary, where the gradient flows again.
    """
    with torch.no_grad():
        policy.log_std.clamp_(*LOG_STD_BOUNDS)


def finish_step(policy: GaussianMLPPolicy) -> None:
    """The projections every outer step ends with: ``log_std`` into its bounds (:func:`project_log_std`) and
    learned inner step sizes into theirs (:meth:`~hw14_lib.rl.step_sizes.LearnedStepSizes.project`)."""
    if (learned := learned_step_sizes(policy)) is not None:
        learned.project()
    project_log_std(policy)


@dataclass(frozen=True)
class AdamSettings:
    """Adam's outer step (the starter code's)."""

    lr: float = 3e-4
    """Adam's learning rate of ``theta``."""
    weight_decay: float = 1e-4
    """L2 weight decay of ``theta``."""
    grad_clip: float | None = None
    """Clip the meta-gradient's norm to this value; None disables."""
    step_size_lr: float = 1e-3
    """Adam's learning rate of learned log step sizes (no weight decay)."""
    CONFIG_KEYS: ClassVar[dict[str, str]] = {
        "lr": "outer_lr", "weight_decay": "weight_decay", "grad_clip": "grad_clip", "step_size_lr": "step_size_lr"
    }  # fmt: skip
    """The :class:`~hw14_lib.run.config.TrainConfig` field of each setting."""


class AdamMetaOptimizer:
    """``theta <- Adam(theta, grad L_meta)`` with L2 weight decay and optional norm clipping (:class:`AdamSettings`)."""

    def __init__(self, policy: GaussianMLPPolicy, settings: AdamSettings | None = None):
        settings = settings if settings is not None else AdamSettings()
        self.policy = policy
        self.grad_clip = settings.grad_clip
        groups: list[dict[str, Any]] = [{"params": list(policy_params(policy).values())}]
        learned = learned_step_sizes(policy)
        if learned is not None:  # log alpha: its own learning rate, no weight decay
            groups.append({"params": list(learned.parameters()), "lr": settings.step_size_lr, "weight_decay": 0.0})
        self.optimizer = torch.optim.Adam(groups, lr=settings.lr, weight_decay=settings.weight_decay)

    def step(self, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        """One outer step; returns ``{"meta_loss", "grad_norm"}`` (loss before the step)."""
        policy = self.policy
        theta = policy_params(policy)
        loss, _ = meta_objective(policy, theta, batch, inner)
        _check_finite("meta-loss", loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in policy.parameters() if p.grad is not None]
        _check_finite("meta-gradient", *grads)
        max_norm = self.grad_clip if self.grad_clip is not None else math.inf
        grad_norm = nn.utils.clip_grad_norm_(policy.parameters(), max_norm)
        self.optimizer.step()
        finish_step(policy)
        return {"meta_loss": loss.item(), "grad_norm": grad_norm.item(), **step_size_summary(policy)}

    def state_dict(self) -> dict[str, Any]:
        """Adam's moments, for checkpoints."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore Adam's moments."""
        self.optimizer.load_state_dict(state)


@dataclass(frozen=True)
class TRPOSettings:
    """The MAML paper's TRPO meta-step."""

    max_kl: float = 0.01
    """Trust-region size delta (mean KL between the query policies before and after the step)."""
    cg_iterations: int = 10
    """Conjugate-gradient iterations."""
    cg_damping: float = 1e-5
    """Damping added to the Fisher-vector products."""
    line_search_steps: int = 15
    """Backtracking steps of the line search."""
    backtrack_ratio: float = 0.8
    """Step shrink factor of each backtracking step, in (0, 1)."""
    curvature_trajectories: int | None = None
    """Estimate the trust-region curvature on this many trajectories per task (None: all)."""
    step_size_lr: float = 1e-3
    """Adam's learning rate of learned log step sizes, stepped on the same meta-gradient."""
    CONFIG_KEYS: ClassVar[dict[str, str]] = {
        **{name: f"trpo_{name}" for name in (
            "max_kl", "cg_iterations", "cg_damping", "line_search_steps", "backtrack_ratio", "curvature_trajectories"
        )},
        "step_size_lr": "step_size_lr",
    }  # fmt: skip
    """The :class:`~hw14_lib.run.config.TrainConfig` field of each setting."""


def meta_gradient(
    policy: GaussianMLPPolicy,
    theta: Mapping[str, Tensor],
    batch: MetaBatch,
    inner: InnerLoop,
    wrt: Sequence[Tensor],
    *,
    estimator: Estimator = "reinforce",
    workers: int = 1,
) -> tuple[Tensor, list[Tensor], list[Params]]:
    """``L_meta(theta)``, its gradient with respect to ``wrt`` (theta's tensors, then any learned step sizes) and the
    adapted dicts ``theta'_b`` (detached), task by task: each task's inner steps and query loss are built and
    differentiated as a graph of its own, in one of ``workers`` threads, and the tasks' losses and gradients are
    summed in task order, so the numbers do not depend on ``workers``. The value and the gradient of
    :func:`~hw14_lib.rl.maml.meta_objective`'s, to float32 rounding (one graph of all tasks sums in another order).
    """

    def task(b: int) -> tuple[Tensor, tuple[Tensor, ...], Params]:
        steps = len(batch.supports)
        sizes = policy_step_sizes(policy, steps, detach=False) or [None] * steps  # this task's own graph to log alpha
        params = adapt_task(policy, theta, batch.supports, batch.support_advantages, b, inner, sizes)
        loss = query_loss(policy, params, batch, b, estimator)
        grads = torch.autograd.grad(loss, list(wrt))
        return loss.detach(), grads, {k: v.detach() for k, v in params.items()}

    results = map_in_threads(task, range(len(batch.query.tasks)), workers=task_workers(policy, workers))
    count = len(results)
    loss, grads = results[0][0], list(results[0][1])
    for task_loss, task_grads, _ in results[1:]:
        loss = loss + task_loss
        grads = [total + g for total, g in zip(grads, task_grads, strict=True)]
    return loss / count, [g / count for g in grads], [adapted for _, _, adapted in results]


class TRPOMetaOptimizer:
    """The MAML paper's TRPO meta-step (see the module docstring; :class:`TRPOSettings`); ``workers`` threads share
    the per-task work (each task's meta-gradient, :func:`meta_gradient`, the Fisher-vector
    products, the query distributions, the line search's evaluations), summed in task order, so the step does not
    depend on their number. Learned inner step
    sizes take an Adam step on the same meta-gradient after the trust-region step of ``theta``."""

    def __init__(self, policy: GaussianMLPPolicy, settings: TRPOSettings | None = None, *, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers={workers!r}; allowed: an integer >= 1")
        self.policy = policy
        self.settings = settings if settings is not None else TRPOSettings()
        self.workers = workers
        self.step_sizes = learned_step_sizes(policy)
        self.step_size_optimizer = (
            None
            if self.step_sizes is None
            else torch.optim.Adam(self.step_sizes.parameters(), lr=self.settings.step_size_lr)
        )

    def step(self, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        """One TRPO meta-step; returns ``{"meta_loss", "grad_norm", "kl", "accepted_step"}``."""
        policy, settings = self.policy, self.settings
        theta = policy_params(policy)
        params = list(theta.values())
        alphas = [] if self.step_sizes is None else list(self.step_sizes.parameters())
        loss, grads, adapted = meta_gradient(
            policy, theta, batch, inner, params + alphas, estimator="ratio", workers=self.workers
        )
        _check_finite("meta-loss", loss)
        g = nn.utils.parameters_to_vector(grads[: len(params)])
        _check_finite("meta-gradient", g, *grads[len(params) :])

        old_dists = [detach_distribution(d) for d in query_distributions(policy, adapted, batch, workers=self.workers)]
        kl_hessian_product = meta_fisher_vector_product(
            policy, theta, adapted, batch, inner, trajectories=settings.curvature_trajectories, workers=self.workers
        )

        def fisher_vector_product(v: Tensor) -> Tensor:
            return kl_hessian_product(v) + settings.cg_damping * v

        direction = conjugate_gradient(fisher_vector_product, -g, iterations=settings.cg_iterations)
        shs = 0.5 * direction @ fisher_vector_product(direction)
        _check_finite("TRPO step direction", direction, shs)
        # shs = s^T F s / 2 is the predicted KL of the step s, so this scaling predicts KL = delta.
        full_step = direction * torch.sqrt(settings.max_kl / shs.clamp_min(1e-12))
        old_vector = nn.utils.parameters_to_vector(params).detach()
        old_loss = loss.item()

        fraction, accepted, new_kl, new_loss = 1.0, False, float("nan"), old_loss
        for _ in range(settings.line_search_steps):
            candidate = old_vector + fraction * full_step
            with torch.no_grad():
                nn.utils.vector_to_parameters(candidate, params)
            trial = {k: v.detach().requires_grad_() for k, v in theta.items()}
            trial_loss, trial_adapted = meta_objective(
                policy, trial, batch, inner, create_graph=False, estimator="ratio", workers=self.workers
            )
            with torch.no_grad():
                trial_kl = mean_kl(old_dists, query_distributions(policy, trial_adapted, batch, workers=self.workers))
            if torch.isfinite(trial_loss) and float(trial_loss) < old_loss and float(trial_kl) <= settings.max_kl:
                accepted, new_kl, new_loss = True, float(trial_kl), float(trial_loss)
                break
            fraction *= settings.backtrack_ratio
        if not accepted:
            with torch.no_grad():
                nn.utils.vector_to_parameters(old_vector, params)
        if self.step_size_optimizer is not None:
            for alpha, grad in zip(alphas, grads[len(params) :], strict=True):
                alpha.grad = grad.detach().clone()
            self.step_size_optimizer.step()
        finish_step(policy)
        return {
            "meta_loss": old_loss,
            "grad_norm": float(g.norm()),
            "kl": new_kl,
            "accepted_step": fraction if accepted else 0.0,
            "surrogate_improvement": old_loss - new_loss,
            **step_size_summary(policy),
        }

    def state_dict(self) -> dict[str, Any]:
        """TRPO keeps no state between steps; the learned step sizes' Adam does."""
        return {} if self.step_size_optimizer is None else {"step_sizes": self.step_size_optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if self.step_size_optimizer is not None and "step_sizes" in state:
            self.step_size_optimizer.load_state_dict(state["step_sizes"])


def step_size_summary(policy: nn.Module) -> dict[str, float]:
    """``{"alpha_j": mean alpha of inner step j}`` for a policy with learned step sizes (logged each iteration)."""
    learned = learned_step_sizes(policy)
    return {} if learned is None else {f"alpha_{j}": a for j, a in enumerate(learned.summary())}
