"""Curvature products of a plain Gaussian MLP policy in closed form: the Fisher matrix (the KL's Hessian) and a support
loss's Hessian (:class:`SupportLossHessian`), each times a vector.

For ``K`` states ``s_t`` and the policy ``pi_theta(. | s) = N(mu_theta(s), diag(sigma^2))``,
``sigma = exp(clamp(rho))``, ``mu_theta`` an MLP of linear and tanh layers, the Hessian of the mean
``KL(pi_theta0 || pi_theta)`` at ``theta = theta0`` is the Fisher matrix

    F v = (1/K) sum_t J_t^T diag(sigma^-2) J_t v  +  2 m * v_rho,

with ``J_t = d mu_theta(s_t) / d theta`` and ``m`` the indicator of ``rho`` inside ``LOG_STD_BOUNDS`` (the clamp
passes no gradient outside). ``J v`` is one forward-mode pass through the network (a layer's ``R{x W^T + b} =
R{x} W^T + x V^T + c``; a tanh's ``R{tanh z} = (1 - tanh^2 z) R{z}``) and ``J^T u`` one backward pass, both on the
activations kept from the first forward: two matrix products per layer each and a few element-wise operations,
where differentiating the KL's gradient by autograd builds and walks a second-order graph (about three times the
time on the paper's policy). Equal to autograd's to float32 rounding (``tests/rl/test_mlp_curvature.py``); a
tanh-squashed policy has the same KL (the squash is a bijection).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hw14_lib.rl.activation import Tanh, tanh
from hw14_lib.rl.losses import ESTIMATORS, Estimator, dice_increments
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, has_plain_forward
from hw14_lib.rl.sampling import TrajectoryBatch


@dataclass(frozen=True)
class _Linear:
    weight: str
    bias: str


Layer = _Linear | None
"""A linear layer (its parameters' names) or a tanh (``None``)."""


@dataclass(frozen=True)
class _Network:
    """The mean network at ``weights`` on ``K`` states, with every layer's input kept (``inputs[i]``, ``(K, width)``;
    ``inputs[-1]`` is the output ``mu``)."""

    layers: tuple[Layer, ...]
    inputs: tuple[Tensor, ...]
    weights: Mapping[str, Tensor]

    @classmethod
    def at(cls, policy: GaussianMLPPolicy, params: Mapping[str, Tensor], observations: Tensor) -> _Network:
        if not has_plain_forward(policy):
            raise ValueError(
                f"closed-form curvature products need a plain GaussianMLPPolicy, not {type(policy).__name__}"
            )
        layers: list[Layer] = [
            None if type(module) is Tanh else _Linear(f"body.{name}.weight", f"body.{name}.bias")
            for name, module in policy.body.named_children()
        ]
        layers.append(_Linear("mean_head.weight", "mean_head.bias"))
        weights = {k: v.detach() for k, v in params.items()}
        x = observations.detach().reshape(-1, observations.shape[-1])
        inputs = [x]
        with torch.no_grad():
            for layer in layers:
                x = tanh(x) if layer is None else nn.functional.linear(x, weights[layer.weight], weights[layer.bias])
                inputs.append(x)
        return cls(tuple(layers), tuple(inputs), weights)

    def derivative(self, i: int) -> Tensor:
        """``1 - tanh^2`` of tanh layer ``i``'s input."""
        y = self.inputs[i + 1]
        return 1 - y * y

    def tangents(self, v: Mapping[str, Tensor]) -> list[Tensor | None]:
        """``R{x_i}`` of every layer input and of the output, in direction ``v`` (None: zero, the states')."""
        tangent: Tensor | None = None
        out: list[Tensor | None] = [None]
        for i, (layer, x) in enumerate(zip(self.layers, self.inputs[:-1], strict=True)):
            if layer is None:
                tangent = None if tangent is None else self.derivative(i) * tangent
            else:
                moved = nn.functional.linear(x, v[layer.weight], v[layer.bias])
                tangent = moved if tangent is None else torch.addmm(moved, tangent, self.weights[layer.weight].t())
            out.append(tangent)
        return out

    def pull_back(self, delta: Tensor, out: dict[str, Tensor]) -> list[Tensor]:
        """``J^T delta`` into ``out`` (by parameter name) for ``delta = dS / d mu`` ``(K, act_dim)``; returns the
        gradient with respect to every layer's output (``[i]``: layer ``i``'s)."""
        deltas: list[Tensor] = [delta] * len(self.layers)
        for i in reversed(range(len(self.layers))):
            layer, x = self.layers[i], self.inputs[i]
            deltas[i] = delta
            if layer is None:
                delta = delta * self.derivative(i)
                continue
            out[layer.weight] = delta.t() @ x
            out[layer.bias] = delta.sum(0)
            if i > 0:
                delta = delta @ self.weights[layer.weight]
        return deltas


def _clamp_mask(rho: Tensor) -> Tensor:
    """1 where ``rho`` lies within ``LOG_STD_BOUNDS`` (the clamp passes the gradient), else 0."""
    low, high = LOG_STD_BOUNDS
    return ((rho >= low) & (rho <= high)).to(rho.dtype)


@dataclass(frozen=True)
class GaussianMLPFisher:
    """``v -> F v`` at parameters ``params`` on ``K`` states (see the module docstring)."""

    network: _Network
    inverse_variance: Tensor
    """``sigma^-2 / K``, ``(act_dim,)``."""
    inside: Tensor
    """:func:`_clamp_mask` of ``rho``."""

    @classmethod
    def of(cls, policy: GaussianMLPPolicy, params: Mapping[str, Tensor], observations: Tensor) -> GaussianMLPFisher:
        """The product at ``params`` (detached) on ``observations`` ``(..., obs_dim)``, for a plain policy.

        Raises:
            ValueError: ``policy`` is not plain (:func:`~hw14_lib.rl.policy.has_plain_forward`).
        """
        network = _Network.at(policy, params, observations)
        rho = network.weights["log_std"]
        inverse_variance = torch.exp(-2 * rho.clamp(*LOG_STD_BOUNDS)) / network.inputs[0].shape[0]
        return cls(network, inverse_variance, _clamp_mask(rho))

    def product(self, v: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``F v`` for ``v`` shaped as the parameters (by name), as a dict of the same shapes."""
        with torch.no_grad():
            out = {"log_std": 2 * self.inside * v["log_std"]}
            self.network.pull_back(self.network.tangents(v)[-1] * self.inverse_variance, out)
        return out


@dataclass(frozen=True)
class SupportLossHessian:
    """``v -> H v`` of a support loss ``L(theta) = S(mu_theta, clamp(rho)) - beta mean_t H_t + l2 ||theta||^2`` at
    ``params``: the surrogate ``S`` of :func:`hw14_lib.rl.losses.surrogate` (any estimator) on ``K`` recorded steps.

    With ``z = (u - mu) / sigma``, the log-likelihood's derivatives are ``d lp / d mu = z / sigma`` and
    ``d lp / d rho = z^2 - 1``, and every estimator's gradient is ``sum_t beta_t grad lp_t``: ``beta_t = -A_t / K``
    (REINFORCE), ``-A_t r_t / K`` with ``r_t = exp(lp_t - lp_t^old)`` (ratio), ``-(1/K) sum_{t' >= t} w_t' e^{C_t'}``
    along the trajectory (DiCE, ``C`` the running log-ratio). Its derivative in direction ``(R{mu}, R{rho})`` is
    ``sum_t (R{beta_t} grad lp_t + beta_t R{grad lp_t})``, the output-space part of Pearlmutter's ``R{grad L}``;
    the network's part is ``R{J^T delta}`` (:meth:`product`). The entropy of a Gaussian is linear in ``rho`` (no
    curvature); the squash's log-determinant does not depend on ``theta``.
    """

    network: _Network
    deltas: list[Tensor]
    """``dS / d x`` at each layer's output (``[i]``: layer ``i``'s), ``(K, width)``."""
    score_mean: Tensor
    """``d lp / d mu = z / sigma`` of every step, ``(K, act_dim)``, ``z = (u - mu) / sigma``."""
    z_squared: Tensor
    """``z^2`` of every step, ``(K, act_dim)`` (``d lp / d rho = z^2 - 1``)."""
    variance: Tensor
    """``sigma^2``, ``(act_dim,)``."""
    beta: Tensor
    """``dS / d lp_t``, ``(K, 1)``."""
    score_weights: Tensor | None
    """The factor of ``R{lp}`` in ``R{beta}``: ``-A_t r_t / K`` (ratio) or ``-w_t e^{C_t} / K`` (DiCE), ``(1, N, T)``;
    None for REINFORCE (``beta`` does not depend on ``theta``)."""
    estimator: Estimator
    inside: Tensor
    """:func:`_clamp_mask` of ``rho``, ``(act_dim,)``."""
    l2: float

    @classmethod
    def of(
        cls,
        policy: GaussianMLPPolicy,
        params: Mapping[str, Tensor],
        support: TrajectoryBatch,
        advantages: Tensor,
        *,
        estimator: Estimator,
        l2: float,
    ) -> SupportLossHessian:
        """The Hessian at ``params`` of the support loss on the trajectories ``support`` ``(1, N, T)`` weighted by
        ``advantages`` ``(1, N, T)``, for a plain policy.

        Raises:
            ValueError: ``policy`` is not plain, or ``estimator`` is unknown.
        """
        network = _Network.at(policy, params, support.observations)
        rho = network.weights["log_std"]
        with torch.no_grad():
            sigma = rho.clamp(*LOG_STD_BOUNDS).exp()
            mean = network.inputs[-1].view(support.raw_actions.shape)
            gaussian = torch.distributions.Independent(torch.distributions.Normal(mean, sigma.expand_as(mean)), 1)
            log_prob = policy.log_prob(gaussian, support.raw_actions)  # (1, N, T)
            z = ((support.raw_actions - mean) / sigma).reshape(-1, sigma.shape[0])
            count = advantages.numel()
            score_weights = None
            if estimator == "reinforce":
                beta = -advantages / count
            elif estimator == "ratio":
                score_weights = -advantages * torch.exp(log_prob - support.log_probs) / count
                beta = score_weights
            elif estimator == "dice":
                score_weights = (
                    -dice_increments(advantages) * torch.exp((log_prob - support.log_probs).cumsum(-1)) / count
                )
                beta = score_weights.flip(-1).cumsum(-1).flip(-1)
            else:
                raise ValueError(f"estimator={estimator!r} is unknown; use one of {', '.join(ESTIMATORS)}")
            beta = beta.reshape(-1, 1)
            deltas = network.pull_back(beta * z / sigma, {})
        return cls(
            network, deltas, z / sigma, z * z, sigma * sigma, beta, score_weights, estimator, _clamp_mask(rho), l2
        )

    def product(self, v: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``H v`` for ``v`` shaped as the parameters (by name), as a dict of the same shapes."""
        network, score_mean, z_squared = self.network, self.score_mean, self.z_squared
        with torch.no_grad():
            tangents = network.tangents(v)
            moved_mean, moved_rho = tangents[-1], self.inside * v["log_std"]  # R{mu} (K, A), R{rho} (A,)
            grad_mean, grad_rho = score_mean, z_squared - 1  # d lp / d mu, d lp / d rho per step
            # R{d lp / d mu} and R{d lp / d rho}: the log-likelihood's second derivatives times the direction.
            second_mean = -moved_mean / self.variance - 2 * score_mean * moved_rho
            second_rho = -2 * score_mean * moved_mean - 2 * z_squared * moved_rho
            out_mean, out_rho = self.beta * second_mean, self.beta * second_rho
            if self.score_weights is not None:
                change = (grad_mean * moved_mean).sum(-1) + (grad_rho * moved_rho).sum(-1)  # R{lp_t}, (K,)
                change = change.view(self.score_weights.shape)
                if self.estimator == "ratio":
                    moved_beta = self.score_weights * change
                else:  # DiCE: R{beta_t} = sum_{t' >= t} w_t' e^{C_t'} R{C_t'}, R{C_t'} = sum_{t'' <= t'} R{lp_t''}
                    moved_beta = (self.score_weights * change.cumsum(-1)).flip(-1).cumsum(-1).flip(-1)
                moved_beta = moved_beta.reshape(-1, 1)
                out_mean = out_mean + moved_beta * grad_mean
                out_rho = out_rho + moved_beta * grad_rho
            out = {"log_std": self.inside * out_rho.sum(0)}
            moved = out_mean  # R{delta} at the output
            for i in reversed(range(len(network.layers))):
                layer, x, tangent, delta = network.layers[i], network.inputs[i], tangents[i], self.deltas[i]
                if layer is None:  # R{delta (1 - y^2)} = R{delta} (1 - y^2) - 2 delta y R{y}
                    moved = moved * network.derivative(i)
                    if tangents[i + 1] is not None:
                        moved = moved - 2 * delta * network.inputs[i + 1] * tangents[i + 1]
                    continue
                weight = moved.t() @ x
                if tangent is not None:
                    weight = weight + delta.t() @ tangent
                out[layer.weight], out[layer.bias] = weight, moved.sum(0)
                if i > 0:
                    moved = torch.addmm(moved @ network.weights[layer.weight], delta, v[layer.weight])
            if self.l2:
                out = {k: h + 2 * self.l2 * v[k] for k, h in out.items()}
        return out
