"""The Fisher matrix of a plain Gaussian MLP policy times a vector, in closed form.

For ``K`` states ``s_t`` and the policy ``pi_theta(. | s) = N(mu_theta(s), diag(sigma^2))``,
``sigma = exp(clamp(rho))``, ``mu_theta`` an MLP of linear and tanh layers, the Hessian of the mean
``KL(pi_theta0 || pi_theta)`` at ``theta = theta0`` is the Fisher matrix

    F v = (1/K) sum_t J_t^T diag(sigma^-2) J_t v  +  2 m * v_rho,

with ``J_t = d mu_theta(s_t) / d theta`` and ``m`` the indicator of ``rho`` inside ``LOG_STD_BOUNDS`` (the clamp
passes no gradient outside). ``J v`` is one forward-mode pass through the network (a layer's ``R{x W^T + b} =
R{x} W^T + x V^T + c``; a tanh's ``R{tanh z} = (1 - tanh^2 z) R{z}``) and ``J^T u`` one backward pass, both on the
activations kept from the first forward: two matrix products per layer each and a few element-wise operations,
where differentiating the KL's gradient by autograd builds and walks a second-order graph (about three times the
time on the paper's policy). Equal to autograd's to float32 rounding (``tests/rl/test_fisher.py``); a tanh-squashed
policy has the same KL (the squash is a bijection).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hw14_lib.rl.activation import Tanh, tanh
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, has_plain_forward


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
            raise ValueError(f"the closed-form Fisher product needs a plain GaussianMLPPolicy, not {type(policy)}")
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
        for i, (layer, x) in enumerate(zip(self.layers, self.inputs, strict=False)):
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
