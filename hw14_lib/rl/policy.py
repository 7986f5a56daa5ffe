"""Diagonal-Gaussian MLP policy ``pi_theta(a | s) = N(mu_theta(s), diag(sigma^2))``.

The mean ``mu_theta`` is an MLP with Tanh hidden layers and a linear head; ``log sigma`` is a
state-independent parameter vector. With ``squash=True`` the action is ``a = c * tanh(u)``,
``u ~ N(mu, sigma^2)``, and ``log pi(a|s) = log N(u) - sum_j log(c (1 - tanh(u_j)^2))``.

Trajectories store the *pre-squash* sample ``u`` (for the plain Gaussian, ``u`` is the action
before clipping to the bounds), so log-probabilities can be recomputed exactly under any
parameter dict ``theta`` through :func:`torch.func.functional_call`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import (
    AffineTransform,
    Distribution,
    Independent,
    Normal,
    TanhTransform,
    TransformedDistribution,
)

from hw14_lib.rl.activation import Tanh, tanh
from hw14_lib.rl.step_sizes import LearnedStepSizes

POLICY_FORMAT = "hw14-policy-v1"
LOG_STD_BOUNDS = (-5.0, 2.0)

Params = dict[str, Tensor]


class GaussianMLPPolicy(nn.Module):
    """Gaussian policy with an MLP mean and a state-independent ``log_std``.

    Args:
        obs_dim: observation size (17 for HalfCheetah).
        act_dim: action size (6).
        hidden_sizes: widths of the Tanh hidden layers (default 64-64).
        init_log_std: initial value of every ``log_std`` entry.
        squash: use ``a = action_scale * tanh(u)`` instead of clipping ``u`` to the bounds.
        action_scale: ``c``, half the width of the symmetric action box (1 for HalfCheetah).
        step_sizes: settings of learned inner step sizes (:class:`~hw14_lib.rl.step_sizes.LearnedStepSizes`:
            ``steps``, ``init``, ``granularity``), held as ``inner_step_sizes`` and saved with the policy; they
            are not part of ``theta`` (:func:`policy_params`), the inner step never changes them.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden_sizes: Sequence[int] = (64, 64),
        init_log_std: float = 0.0,
        squash: bool = False,
        action_scale: float = 1.0,
        step_sizes: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        if obs_dim < 1 or act_dim < 1:
            raise ValueError(f"obs_dim={obs_dim!r} and act_dim={act_dim!r} must be positive")
        if any(h < 1 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes={list(hidden_sizes)!r} must all be positive")
        if not LOG_STD_BOUNDS[0] <= init_log_std <= LOG_STD_BOUNDS[1]:
            raise ValueError(f"init_log_std={init_log_std!r} must lie in {list(LOG_STD_BOUNDS)}")
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.squash = bool(squash)
        self.action_scale = float(action_scale)
        self.init_log_std = float(init_log_std)
        layers: list[nn.Module] = []
        width = self.obs_dim
        for h in self.hidden_sizes:
            layers += [nn.Linear(width, h), Tanh()]
            width = h
        self.body = nn.Sequential(*layers)
        self.mean_head = nn.Linear(width, self.act_dim)
        self.log_std = nn.Parameter(torch.full((self.act_dim,), self.init_log_std))
        self.inner_step_sizes: LearnedStepSizes | None = None
        if step_sizes is not None:
            shapes = {name: tuple(p.shape) for name, p in self.named_parameters()}
            self.inner_step_sizes = LearnedStepSizes(shapes, **step_sizes)

    def architecture(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild this policy."""
        return {
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "hidden_sizes": list(self.hidden_sizes),
            "init_log_std": self.init_log_std,
            "squash": self.squash,
            "action_scale": self.action_scale,
            "step_sizes": None if self.inner_step_sizes is None else self.inner_step_sizes.settings(),
        }

    def forward(self, obs: Tensor) -> Distribution:
        """``pi_theta(. | s)`` for a batch of observations ``(..., obs_dim)``.

        Returns ``Independent(Normal(mu, sigma), 1)`` (event shape ``(act_dim,)``), or its
        tanh-squashed, scaled ``TransformedDistribution`` when ``squash=True``. ``log sigma`` is
        clamped to ``LOG_STD_BOUNDS`` so that exploration can neither vanish nor explode.
        """
        mean = self.mean_head(self.body(obs))
        std = self.log_std.clamp(*LOG_STD_BOUNDS).exp().expand_as(mean)
        base = Independent(Normal(mean, std), 1)
        if not self.squash:
            return base
        transforms = [TanhTransform(cache_size=1), AffineTransform(0.0, self.action_scale)]
        return TransformedDistribution(base, transforms)

    # The methods below take a distribution returned by forward (possibly under another parameter
    # dict through functional_call) and never read the module's own parameters.

    def log_prob(self, dist: Distribution, raw_actions: Tensor) -> Tensor:
        """``log pi(a_t | s_t)`` of stored pre-squash samples ``u``, shape ``(...)``.

        Uses ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``, stable for large ``|u|``.
        """
        log_prob = gaussian_part(dist).log_prob(raw_actions)
        if self.squash:
            log_det = 2.0 * (math.log(2.0) - raw_actions - nn.functional.softplus(-2.0 * raw_actions))
            log_prob = log_prob - (log_det + math.log(self.action_scale)).sum(-1)
        return log_prob

    def entropy(self, dist: Distribution) -> Tensor:
        """Entropy of the Gaussian ``N(mu, sigma^2)``, shape ``(...)``; for the squashed policy the
        entropy before the tanh (no closed form exists after it)."""
        return gaussian_part(dist).entropy()

    def sample(self, dist: Distribution, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Draw ``u = mu + sigma * eps``, ``eps ~ N(0, I)`` from ``generator``.

        Returns:
            ``(raw_actions u, env_actions)``, both ``(..., act_dim)``: ``env_actions`` are clipped
            to ``[-c, c]`` or squashed to ``c * tanh(u)``.
        """
        gaussian = gaussian_part(dist)
        mean, std = gaussian.mean, gaussian.stddev
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        raw = mean + std * eps
        return raw, self.to_env_action(raw)

    def deterministic_action(self, dist: Distribution) -> Tensor:
        """The evaluation action: the Gaussian's mean ``mu`` mapped to the action box."""
        return self.to_env_action(gaussian_part(dist).mean)

    def to_env_action(self, raw_actions: Tensor) -> Tensor:
        """``c * tanh(u)`` when squashing, otherwise ``u`` clipped to ``[-c, c]``."""
        if self.squash:
            return self.action_scale * torch.tanh(raw_actions)
        return raw_actions.clamp(-self.action_scale, self.action_scale)


def gaussian_part(dist: Distribution) -> Independent:
    """The ``Independent(Normal)`` inside a (possibly tanh-transformed) policy distribution."""
    if isinstance(dist, TransformedDistribution):
        dist = dist.base_dist
    if not isinstance(dist, Independent):
        raise TypeError(f"expected a GaussianMLPPolicy distribution, got {type(dist).__name__}")
    return dist


STEP_SIZES_PREFIX = "inner_step_sizes."


def policy_params(policy: nn.Module) -> Params:
    """``theta`` as a name -> tensor dict that shares storage (and gradients) with the module (learned inner step
    sizes are not part of it)."""
    return {k: v for k, v in policy.named_parameters() if not k.startswith(STEP_SIZES_PREFIX)}


def learned_step_sizes(policy: nn.Module) -> LearnedStepSizes | None:
    """The policy's learned inner step sizes, or ``None`` (a fixed ``alpha``)."""
    return getattr(policy, "inner_step_sizes", None)


def has_plain_forward(policy: nn.Module) -> bool:
    """Whether ``policy`` is a plain :class:`GaussianMLPPolicy`: a Linear/Tanh body and its own ``forward``."""
    plain_body = all(type(m) in (nn.Linear, Tanh) for m in getattr(policy, "body", nn.Sequential()).children())
    return isinstance(policy, GaussianMLPPolicy) and type(policy).forward is GaussianMLPPolicy.forward and plain_body


def distribution(policy: GaussianMLPPolicy, params: Mapping[str, Tensor], obs: Tensor) -> Distribution:
    """``pi_{params}(. | obs)``, the module's ``forward`` under ``params``; the module is untouched, so
    ``params`` may be an adapted dict ``theta'`` that depends on ``theta`` through autograd.

    A plain policy (:func:`has_plain_forward`) runs ``forward``'s operations on ``params`` directly, the same
    kernels and autograd graph as :func:`torch.func.functional_call`, which swaps the module's parameters
    while it runs and so cannot serve two threads at once; any other module goes through ``functional_call``.
    """
    if not has_plain_forward(policy):
        return torch.func.functional_call(policy, dict(params), (obs,))
    x = obs
    for name, module in policy.body.named_children():
        if type(module) is Tanh:
            x = tanh(x)
        else:
            x = nn.functional.linear(x, params[f"body.{name}.weight"], params[f"body.{name}.bias"])
    mean = nn.functional.linear(x, params["mean_head.weight"], params["mean_head.bias"])
    std = params["log_std"].clamp(*LOG_STD_BOUNDS).exp().expand_as(mean)
    base = Independent(Normal(mean, std), 1)
    if not policy.squash:
        return base
    transforms = [TanhTransform(cache_size=1), AffineTransform(0.0, policy.action_scale)]
    return TransformedDistribution(base, transforms)


def save_policy(policy: GaussianMLPPolicy, path: str | os.PathLike[str]) -> Path:
    """Write ``{"format", "architecture", "state_dict"}`` to ``path`` atomically (tmp + rename).

    The file loads with plain ``torch.load(path, weights_only=True)``.
    """
    from hw14_lib.common.io_utils import atomic_torch_save

    payload = {
        "format": POLICY_FORMAT,
        "architecture": policy.architecture(),
        "state_dict": {k: v.detach().clone() for k, v in policy.state_dict().items()},
    }
    return atomic_torch_save(payload, path)


def load_policy(path: str | os.PathLike[str]) -> GaussianMLPPolicy:
    """Rebuild a policy written by :func:`save_policy`.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an hw14 policy file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy file {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or corrupt files
        # Only the type: torch's weights_only messages are paragraphs of advice that does not apply here.
        raise ValueError(
            f"{str(path)!r} is not a policy file written by save_policy (torch.load: {type(exc).__name__})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != POLICY_FORMAT:
        raise ValueError(f"{str(path)!r} is not a policy file written by save_policy")
    try:
        policy = GaussianMLPPolicy(**payload["architecture"])
        policy.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # a damaged or hand-edited payload
        raise ValueError(f"{str(path)!r} is a damaged policy file ({type(exc).__name__}: {exc})") from exc
    check_finite_parameters(policy, str(path))
    return policy


def check_finite_parameters(policy: nn.Module, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` and the tensors when a parameter holds NaN or infinity (a policy
    that would otherwise fail deep inside PyTorch's distributions)."""
    bad = [
        name for name, value in policy.state_dict().items() if value.is_floating_point() and not value.isfinite().all()
    ]
    if bad:
        raise ValueError(f"{where!r} holds non-finite parameters (NaN or infinity in {', '.join(bad)})")
