"""Figures: the seed's two training plots, adaptation curves and learning curves over seeds.

Every function takes plain data (metrics records, summaries) and writes PNG files atomically, so
``python -m hw14_lib plot`` can regenerate every figure from committed JSON files alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; the notebook displays the PNGs
import matplotlib.pyplot as plt
import numpy as np

from hw14_lib.io_utils import atomic_write


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    finally:
        plt.close(fig)


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start), same length as ``values``."""
    x = np.asarray(values, dtype=float)
    cumsum = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(0, idx - window)
    return (cumsum[idx] - cumsum[lo]) / (idx - lo)


def plot_training_curves(metrics: Sequence[Mapping[str, Any]], out: str | os.PathLike[str]) -> list[Path]:
    """The seed's two plots, ``meta_loss.png`` and ``query_return.png``, against env steps."""
    out = Path(out)
    steps = np.array([m["env_steps"] for m in metrics]) / 1e6
    window = max(1, len(metrics) // 20)
    paths = []
    for key, name, ylabel in (
        ("meta_loss", "meta_loss.png", "meta-loss (mean query loss)"),
        ("query_return", "query_return.png", "average query return"),
    ):
        values = [m[key] for m in metrics]
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax.plot(steps, values, color="tab:blue", alpha=0.35, lw=1, label="per iteration")
        ax.plot(steps, moving_average(values, window), color="tab:blue", lw=2, label=f"mean of {window}")
        if key == "query_return":
            support = [m["support_return"] for m in metrics]
            ax.plot(
                steps, moving_average(support, window), color="tab:orange", lw=2, label="support (before adaptation)"
            )
        ax.set_xlabel("environment steps (millions)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8)
        paths.append(save_figure(fig, out / name))
    return paths
