"""Outer (meta) optimizers: Adam on the meta-gradient (the starter code's) and a TRPO meta-step.

Both minimize ``L_meta(theta)`` of :func:`hw14_lib.rl.maml.meta_objective` and refuse to step when
the loss or the gradient is not finite (:class:`NonFiniteError` names the quantity), so a bad
batch can never corrupt ``theta``.

TRPO (Schulman et al. 2015), as in the MAML paper's RL experiments: the step direction solves
``F s = -g`` by conjugate gradient, where ``F`` is the Hessian of the mean KL between the query
policies before and after the step (products computed as ``J^T F' J`` in :mod:`hw14_lib.rl.trust_region`,
for any number of inner steps), scaled to ``0.5 s^T F s = delta``, then a backtracking line search
accepts the first step that lowers ``L_meta`` and keeps the KL below ``delta``.

Both follow :class:`OuterOptimizer`, the one interface the training loop uses.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from hw14_lib.rl.maml import InnerLoop, MetaBatch, meta_objective
from hw14_lib.rl.policy import GaussianMLPPolicy, learned_step_sizes, policy_params
from hw14_lib.rl.step_sizes import LearnedStepSizes
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

    def step(self, policy: GaussianMLPPolicy, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        """Update ``policy``'s parameters in place to lower ``L_meta``; returns at least ``meta_loss`` (before
        the step) and ``grad_norm``."""
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


class AdamMetaOptimizer:
    """``theta <- Adam(theta, grad L_meta)`` with L2 weight decay and optional norm clipping."""

    def __init__(
        self,
        policy: nn.Module,
        *,
        lr: float = 3e-4,
        weight_decay: float = 1e-4,
        grad_clip: float | None = None,
        step_size_lr: float = 1e-3,
    ):
        self.policy = policy
        self.grad_clip = grad_clip
        groups: list[dict[str, Any]] = [{"params": list(policy_params(policy).values())}]
        learned = learned_step_sizes(policy)
        if learned is not None:  # log alpha: its own learning rate, no weight decay
            groups.append({"params": list(learned.parameters()), "lr": step_size_lr, "weight_decay": 0.0})
        self.optimizer = torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)

    def step(self, policy: GaussianMLPPolicy, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        """One outer step; returns ``{"meta_loss", "grad_norm"}`` (loss before the step)."""
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
        if (learned := learned_step_sizes(self.policy)) is not None:
            learned.project()
        return {"meta_loss": loss.item(), "grad_norm": grad_norm.item(), **step_size_summary(self.policy)}

    def state_dict(self) -> dict[str, Any]:
        """Adam's moments, for checkpoints."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore Adam's moments."""
        self.optimizer.load_state_dict(state)


class TRPOMetaOptimizer:
    """The MAML paper's TRPO meta-step (see the module docstring); ``workers`` threads share the per-task work
    that builds no graph of the meta-gradient (the Fisher-vector products, the query distributions, the line
    search's evaluations), so the step does not depend on their number."""

    def __init__(
        self,
        *,
        max_kl: float = 0.01,
        cg_iterations: int = 10,
        cg_damping: float = 1e-5,
        line_search_steps: int = 15,
        backtrack_ratio: float = 0.8,
        curvature_trajectories: int | None = None,
        workers: int = 1,
        step_sizes: LearnedStepSizes | None = None,
        step_size_lr: float = 1e-3,
    ):
        if workers < 1:
            raise ValueError(f"workers={workers!r}; allowed: an integer >= 1")
        # Learned inner step sizes take an Adam step on the same meta-gradient after the trust-region step of theta.
        self.step_sizes = step_sizes
        self.step_size_optimizer = (
            None if step_sizes is None else torch.optim.Adam(step_sizes.parameters(), lr=step_size_lr)
        )
        self.workers = workers
        self.max_kl = max_kl
        self.cg_iterations = cg_iterations
        self.cg_damping = cg_damping
        self.line_search_steps = line_search_steps
        self.backtrack_ratio = backtrack_ratio
        self.curvature_trajectories = curvature_trajectories

    def step(self, policy: GaussianMLPPolicy, batch: MetaBatch, inner: InnerLoop) -> dict[str, float]:
        """One TRPO meta-step; returns ``{"meta_loss", "grad_norm", "kl", "accepted_step"}``."""
        theta = policy_params(policy)
        params = list(theta.values())
        alphas = [] if self.step_sizes is None else list(self.step_sizes.parameters())
        loss, adapted = meta_objective(policy, theta, batch, inner, estimator="ratio")
        _check_finite("meta-loss", loss)
        grads = torch.autograd.grad(loss, params + alphas, retain_graph=True)
        g = nn.utils.parameters_to_vector(grads[: len(params)])
        _check_finite("meta-gradient", g, *grads[len(params) :])

        old_dists = [detach_distribution(d) for d in query_distributions(policy, adapted, batch, workers=self.workers)]
        kl_hessian_product = meta_fisher_vector_product(
            policy, theta, adapted, batch, inner, trajectories=self.curvature_trajectories, workers=self.workers
        )

        def fisher_vector_product(v: Tensor) -> Tensor:
            return kl_hessian_product(v) + self.cg_damping * v

        direction = conjugate_gradient(fisher_vector_product, -g, iterations=self.cg_iterations)
        shs = 0.5 * direction @ fisher_vector_product(direction)
        _check_finite("TRPO step direction", direction, shs)
        # shs = s^T F s / 2 is the predicted KL of the step s, so this scaling predicts KL = delta.
        full_step = direction * torch.sqrt(self.max_kl / shs.clamp_min(1e-12))
        old_vector = nn.utils.parameters_to_vector(params).detach()
        old_loss = loss.item()

        fraction, accepted, new_kl, new_loss = 1.0, False, float("nan"), old_loss
        for _ in range(self.line_search_steps):
            candidate = old_vector + fraction * full_step
            with torch.no_grad():
                nn.utils.vector_to_parameters(candidate, params)
            trial = {k: v.detach().requires_grad_() for k, v in theta.items()}
            trial_loss, trial_adapted = meta_objective(
                policy, trial, batch, inner, create_graph=False, estimator="ratio", workers=self.workers
            )
            with torch.no_grad():
                trial_kl = mean_kl(old_dists, query_distributions(policy, trial_adapted, batch, workers=self.workers))
            if torch.isfinite(trial_loss) and float(trial_loss) < old_loss and float(trial_kl) <= self.max_kl:
                accepted, new_kl, new_loss = True, float(trial_kl), float(trial_loss)
                break
            fraction *= self.backtrack_ratio
        if not accepted:
            with torch.no_grad():
                nn.utils.vector_to_parameters(old_vector, params)
        if self.step_size_optimizer is not None:
            for alpha, grad in zip(alphas, grads[len(params) :], strict=True):
                alpha.grad = grad.detach().clone()
            self.step_size_optimizer.step()
            self.step_sizes.project()
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
