"""Learned inner step sizes: MAML++'s per-step, per-layer learning rates (Antoniou et al. 2019, "LSLR") and
Meta-SGD's per-parameter ones (Li et al. 2017).

Inner step ``j`` of task ``i`` updates every parameter tensor ``p`` with its own step size:

    theta'^(j+1)_p = theta'^(j)_p - alpha_{j,p} * grad_p L_j(theta'^(j)),    alpha_{j,p} = exp(log_alpha_{j,p})

``alpha_{j,p}`` is a scalar per tensor (``"per_tensor"``) or has the tensor's shape (``"per_parameter"``). The outer
step learns ``log_alpha`` with the meta-gradient, so ``alpha`` stays positive whatever the update; ``log_alpha`` is
kept in :data:`LOG_ALPHA_BOUNDS` (clamped where it is used, projected after each outer step), so that ``alpha``
neither underflows to 0 nor explodes. Steps beyond the ``K`` trained ones reuse the last step's sizes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal, get_args

import torch
from torch import Tensor, nn

LOG_ALPHA_BOUNDS = (math.log(1e-6), math.log(10.0))
"""``alpha`` stays in ``[1e-6, 10]``."""
Granularity = Literal["per_tensor", "per_parameter"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)


class LearnedStepSizes(nn.Module):
    """``alpha_{j,p}`` for ``steps`` inner steps and the parameter tensors ``shapes`` (name -> shape).

    Args:
        shapes: the adapted parameters' names and shapes (``theta``'s, in order).
        steps: ``K``, the inner steps trained with their own sizes (at least 1).
        init: every ``alpha`` at the start (positive).
        granularity: ``"per_tensor"`` (LSLR) or ``"per_parameter"`` (Meta-SGD).
    """

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], *, steps: int, init: float, granularity: Granularity):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps={steps!r}; allowed: an integer >= 1")
        if not (math.isfinite(init) and init > 0):
            raise ValueError(f"init={init!r}; allowed: a positive step size")
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity={granularity!r}; allowed: one of {', '.join(GRANULARITIES)}")
        self.names = list(shapes)
        self.steps, self.init, self.granularity = int(steps), float(init), granularity
        self.log_alpha = nn.ParameterList(
            nn.Parameter(torch.full(tuple(shapes[name]) if granularity == "per_parameter" else (), math.log(init)))
            for _ in range(self.steps)
            for name in self.names
        )

    def alphas(self, step: int) -> dict[str, Tensor]:
        """``{name: alpha_{j,p}}`` for inner step ``j = step`` (0-based; beyond ``K - 1`` the last step's)."""
        j = min(step, self.steps - 1)
        offset = j * len(self.names)
        return {name: self.log_alpha[offset + i].clamp(*LOG_ALPHA_BOUNDS).exp() for i, name in enumerate(self.names)}

    def project(self) -> None:
        """Clamp ``log_alpha`` into :data:`LOG_ALPHA_BOUNDS` in place (after an outer step; the clamp in
        :meth:`alphas` has no gradient outside the bounds, so a parameter left there would stay stuck)."""
        with torch.no_grad():
            for log_alpha in self.log_alpha:
                log_alpha.clamp_(*LOG_ALPHA_BOUNDS)

    def schedule(self, steps: int) -> list[dict[str, Tensor]]:
        """The sizes of inner steps ``0 .. steps - 1``."""
        return [self.alphas(j) for j in range(steps)]

    def summary(self) -> list[float]:
        """The mean ``alpha`` of each trained step (what the logs and the protocol record)."""
        with torch.no_grad():
            return [float(torch.stack([a.mean() for a in self.alphas(j).values()]).mean()) for j in range(self.steps)]

    def settings(self) -> dict[str, object]:
        """Constructor arguments besides the shapes (a policy file records them)."""
        return {"steps": self.steps, "init": self.init, "granularity": self.granularity}
