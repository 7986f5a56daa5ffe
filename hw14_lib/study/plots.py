"""Figures that compare many runs: the training curves of several runs against a reference band
(:func:`plot_run_comparison`, the ablations) and the later-steps study (:func:`plot_later_steps`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt
import numpy as np

from hw14_lib.common.catalogue import REFERENCE
from hw14_lib.common.palette import METHOD_STYLES, OTHER_COLORS
from hw14_lib.run import plots
from hw14_lib.run.plots import moving_average, seed_band, window_label


def plot_run_comparison(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    out: str | os.PathLike[str],
    *,
    key: str = "query_return",
    ylabel: str = "average query return (after adaptation)",
    reference: tuple[str, Sequence[Sequence[Mapping[str, Any]]]] | None = None,
    mark: tuple[float, str] | None = None,
    title: str = "",
    reference_method: str = REFERENCE,
) -> Path:
    """One smoothed curve of ``key`` against env steps per named run (ablations, in :data:`OTHER_COLORS`), the
    legend below the axes, so that no line crosses it.

    Args:
        runs: ``label -> metrics records``.
        reference: ``(label, records of each seed)`` drawn as the mean over seeds with +-1 std shaded
            (:func:`seed_band`), behind the runs, in the colour of ``reference_method``.
        mark: ``(value, label)`` of a dashed horizontal line.
    """
    lengths = [len(r) for r in runs.values()] + [len(r) for r in (reference[1] if reference else [])]
    window = max(1, max(lengths, default=1) // 25)
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    if reference is not None:
        label, seeds = reference
        color = METHOD_STYLES[reference_method].color
        steps, mean, std = seed_band(seeds, key, window=window)
        ax.plot(steps / 1e6, mean, color=color, lw=1.8, label=f"{label} ({len(seeds)} seeds, ±1 std)")
        ax.fill_between(steps / 1e6, mean - std, mean + std, color=color, alpha=0.2, lw=0)
    for i, (label, records) in enumerate(runs.items()):
        steps = np.array([m["env_steps"] for m in records]) / 1e6
        color = OTHER_COLORS[i % len(OTHER_COLORS)]
        ax.plot(steps, moving_average([m[key] for m in records], window), color=color, lw=1.6, label=label)
    if mark is not None:
        ax.axhline(mark[0], color="k", ls="--", lw=1, label=mark[1])
    ax.set_title(f"{title}\n({window_label(window)})" if title else window_label(window), fontsize=10)
    ax.set_xlabel("environment steps (millions)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    return plots.save_figure(fig, out)


def plot_later_steps(
    panels: Mapping[str, Mapping[float, Sequence[float]]], out: str | os.PathLike[str], *, alpha: float = 0.1
) -> Path:
    """Return after k inner steps, one panel per run, one line per scale ``c`` of the steps after the
    first (``alpha_j = c * alpha`` for ``j >= 2``).

    Args:
        panels: ``run -> {c: mean_return[k]}``; ``c = 0`` resamples ``theta'`` and is drawn dashed,
            as the noise level of the later points.
    """
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols + 0.6, 2.9 * nrows + 0.5), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    scales = sorted({c for curves in panels.values() for c in curves}, reverse=True)
    steps = [c for c in scales if c != 0]
    colors = {c: plt.get_cmap("viridis")(0.85 * i / max(1, len(steps) - 1)) for i, c in enumerate(steps)}
    colors[0.0] = "0.45"
    for ax, (run, curves) in zip(axes.flat, panels.items(), strict=False):
        for c, values in sorted(curves.items(), reverse=True):
            label = rf"$c = {c:g}$" + (r" ($\theta'$ resampled)" if c == 0 else "")
            ax.plot(
                range(len(values)), values, marker="o", lw=1.8, ls="--" if c == 0 else "-", color=colors[c], label=label
            )
        ax.set_title(run, fontsize=9)
        ax.set_xlabel("inner steps $k$")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("mean return")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, fontsize=8, ncol=len(scales), loc="lower center")
    fig.suptitle(rf"Steps after the first of size $c \cdot \alpha$ ($\alpha = {alpha:g}$)", fontsize=10)
    fig.tight_layout(rect=(0, 0.07 / nrows, 1, 1))
    return plots.save_figure(fig, out)
