"""ANIL, "almost no inner loop" (Raghu et al., ICLR 2020): the inner step adapts only the policy's head, here
the mean's last linear layer and the log standard deviation; the body's features are meta-learned by the same
outer step as MAML's and stay fixed during adaptation,

    theta'_p = theta_p - alpha * grad_p L_support(theta)   for p in the head,   theta'_p = theta_p otherwise.

In this package it is a restriction of MAML's step sizes: ``alpha_p = 0`` for the body's tensors
(:func:`restrict_step_size`), so the inner step, the meta-gradient and TRPO's curvature product
``(I - A H)`` with ``A = diag(alpha_p)`` are MAML's code paths, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

HEAD: tuple[str, ...] = ("mean_head.weight", "mean_head.bias", "log_std")
"""The parameter tensors ANIL adapts (names of :class:`~hw14_lib.rl.policy.GaussianMLPPolicy`'s parameters)."""


def restrict_step_size(
    alpha: float | Mapping[str, Tensor | float], names: Sequence[str], adapted: Sequence[str] | None
) -> float | Mapping[str, Tensor | float]:
    """``alpha`` (one size, or one per tensor) with the tensors outside ``adapted`` given size 0; ``alpha`` itself
    when ``adapted`` is ``None`` (every tensor adapts, MAML).

    Raises:
        ValueError: an ``adapted`` name that is not among ``names``.
    """
    if adapted is None:
        return alpha
    unknown = sorted(set(adapted) - set(names))
    if unknown:
        raise ValueError(f"adapted parameters {unknown} are not the policy's; it has {', '.join(names)}")
    size = (lambda k: alpha[k]) if isinstance(alpha, Mapping) else (lambda k: alpha)
    return {k: size(k) if k in adapted else 0.0 for k in names}
