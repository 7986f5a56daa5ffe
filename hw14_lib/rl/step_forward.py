"""The policy's forward at every sampling step: ``s -> (mu(s), sigma)`` without autograd's or
``torch.distributions``' Python cost, which exceeds the arithmetic of a small MLP and is paid at every step.

:func:`gaussian_sampler` serves one parameter dict (bitwise the mean and standard deviation of
:func:`~hw14_lib.rl.policy.distribution`); :func:`stacked_gaussian_sampler` the B adapted dicts ``theta'_b`` of a
meta-batch in one batched product per layer; :func:`policy_forward` picks one for
:func:`~hw14_lib.rl.sampling.sample_trajectories`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from hw14_lib.rl.activation import tanh
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, distribution, gaussian_part, has_plain_forward


def gaussian_sampler(
    policy: GaussianMLPPolicy, params: Mapping[str, Tensor]
) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """The map ``s -> (mu_params(s), sigma_params)`` of ``pi_params(. | s)``, for observations ``(..., obs_dim)``.

    For a plain :class:`GaussianMLPPolicy` (a Linear/Tanh body) it repeats ``forward``'s arithmetic
    op for op with :func:`torch.nn.functional.linear` on tensors looked up once, so its output is
    bitwise equal to the mean and standard deviation of ``distribution(policy, params, obs)``
    without the Python cost of ``functional_call`` and ``torch.distributions``, which is several
    times the arithmetic of a 64-64 MLP on 100 rows and is paid at every environment step. Any
    other policy goes through :func:`distribution`.

    Returns:
        A function of ``obs`` returning ``mean (..., act_dim)`` and ``std`` (broadcastable to it).
    """
    children = list(policy.body.named_children())
    if not has_plain_forward(policy):

        def generic(obs: Tensor) -> tuple[Tensor, Tensor]:
            gaussian = gaussian_part(distribution(policy, params, obs))
            return gaussian.mean, gaussian.stddev

        return generic

    # None stands for a Tanh layer.
    layers = [
        (params[f"body.{name}.weight"], params[f"body.{name}.bias"]) if type(m) is nn.Linear else None
        for name, m in children
    ]
    head_weight, head_bias = params["mean_head.weight"], params["mean_head.bias"]
    std = params["log_std"].clamp(*LOG_STD_BOUNDS).exp()

    def mlp(obs: Tensor) -> tuple[Tensor, Tensor]:
        x = obs
        for layer in layers:
            x = tanh(x) if layer is None else nn.functional.linear(x, *layer)
        return nn.functional.linear(x, head_weight, head_bias), std

    return mlp


def stacked_gaussian_sampler(
    policy: GaussianMLPPolicy, params: Sequence[Mapping[str, Tensor]]
) -> Callable[[Tensor, slice], tuple[Tensor, Tensor]]:
    """The maps ``s -> (mu_{theta'_b}(s), sigma_{theta'_b})`` of B parameter dicts in one batched forward.

    Each layer's weights are stacked once, ``W (B, in, out)`` (transposed) and ``c (B, 1, out)``, and a layer is
    ``baddbmm(c, x, W)``: the B tasks' products in one call instead of B ``linear`` calls, whose Python cost is
    paid at every environment step. Equal to :func:`gaussian_sampler` of each dict to float32 rounding (a
    batched product may round differently; ``tests/rl/test_perf_paths.py``); a plain policy only
    (:func:`~hw14_lib.rl.policy.has_plain_forward`).

    Returns:
        A function of ``obs (k, N, obs_dim)``, the observations of the tasks ``tasks`` (a slice of the B, of length
        k), returning ``mean (k, N, act_dim)`` and ``std (k, 1, act_dim)``.
    """
    if not has_plain_forward(policy):
        raise ValueError("stacked_gaussian_sampler needs a plain GaussianMLPPolicy (Linear/Tanh body)")

    def stack(name: str) -> Tensor:
        return torch.stack([p[name] for p in params])

    layers = [
        (stack(f"body.{name}.weight").transpose(1, 2).contiguous(), stack(f"body.{name}.bias").unsqueeze(1))
        if type(m) is nn.Linear
        else None
        for name, m in policy.body.named_children()
    ]
    head = (stack("mean_head.weight").transpose(1, 2).contiguous(), stack("mean_head.bias").unsqueeze(1))
    std = stack("log_std").clamp(*LOG_STD_BOUNDS).exp().unsqueeze(1)

    def mlp(obs: Tensor, tasks: slice) -> tuple[Tensor, Tensor]:
        x = obs
        for layer in layers:
            x = tanh(x) if layer is None else torch.baddbmm(layer[1][tasks], x, layer[0][tasks])
        return torch.baddbmm(head[1][tasks], x, head[0][tasks]), std[tasks]

    return mlp


Forward = Callable[[Tensor, slice], tuple[Tensor, Tensor]]
"""``(obs of the copies rows (rows, obs_dim), rows) -> (mean (rows, act_dim), std broadcastable to it)``."""


def policy_forward(
    policy: GaussianMLPPolicy, params: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]], n: int
) -> Forward:
    """The per-step forward of the copies ``rows`` (whole tasks of ``n`` copies each, or any rows for one shared
    dict): one call for a shared dict, one batched call (:func:`stacked_gaussian_sampler`) for a dict per task,
    and one :func:`gaussian_sampler` call per task for a policy that is not plain."""
    if isinstance(params, Mapping):
        shared = gaussian_sampler(policy, params)
        return lambda obs, rows: shared(obs)
    if has_plain_forward(policy):
        stacked = stacked_gaussian_sampler(policy, params)

        def batched(obs: Tensor, rows: slice) -> tuple[Tensor, Tensor]:
            mean, std = stacked(obs.view(-1, n, obs.shape[-1]), slice(rows.start // n, rows.stop // n))
            return mean.reshape(-1, mean.shape[-1]), std.expand(-1, n, -1).reshape(-1, std.shape[-1])

        return batched
    samplers = [gaussian_sampler(policy, p) for p in params]

    def per_task(obs: Tensor, rows: slice) -> tuple[Tensor, Tensor]:
        tasks = range(rows.start // n, rows.stop // n)
        parts = [samplers[i](obs[i * n - rows.start : (i + 1) * n - rows.start]) for i in tasks]
        return torch.cat([m for m, _ in parts]), torch.cat([s.expand_as(m) for m, s in parts])

    return per_task
