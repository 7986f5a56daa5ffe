"""Figures of one run or one family: the starter code's two training plots, adaptation curves and learning
curves over seeds (figures comparing many runs: :mod:`hw14_lib.study.plots`).

Every function takes plain data (metrics records, summaries) and writes PNG files atomically, so
``python -m hw14_lib plot`` can regenerate every figure from committed JSON files alone. Colours come from the
one palette, :mod:`hw14_lib.common.palette`.
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

from hw14_lib.common.catalogue import ORACLE, REFERENCE
from hw14_lib.common.io_utils import atomic_write
from hw14_lib.common.palette import METHOD_STYLES, OTHER_COLORS, method_color, method_of
from hw14_lib.run.run_folder import TRAINING_PLOTS

META_LOSS_PLOT, QUERY_RETURN_PLOT = TRAINING_PLOTS


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start), same length as ``values``."""
    x = np.asarray(values, dtype=float)
    cumsum = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(0, idx - window)
    return (cumsum[idx] - cumsum[lo]) / (idx - lo)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    finally:
        plt.close(fig)


def window_label(window: int) -> str:
    """How a legend or title names a trailing moving average over ``window`` iterations."""
    return f"moving average over {window} iteration{'s' if window > 1 else ''}"


def plot_training_curves(
    metrics: Sequence[Mapping[str, Any]], out: str | os.PathLike[str], *, title: str = ""
) -> list[Path]:
    """The starter code's two plots, ``meta_loss.png`` and ``query_return.png``, against env steps, in MAML's colour:
    each iteration's value, its moving average, and (query return) the support return before adaptation, dashed.

    Args:
        title: what the run is, put before each plot's own title (``"results/backward"``).
    """
    out = Path(out)
    steps = np.array([m["env_steps"] for m in metrics]) / 1e6
    window = max(1, len(metrics) // 20)
    color = METHOD_STYLES[REFERENCE].color
    paths = []
    for key, name, ylabel, what in (
        ("meta_loss", META_LOSS_PLOT, "meta-loss (mean query loss)", "meta-loss"),
        ("query_return", QUERY_RETURN_PLOT, "average query return", "return after adaptation"),
    ):
        values = [m[key] for m in metrics]
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax.plot(steps, values, color=color, alpha=0.35, lw=1, label="per iteration")
        ax.plot(steps, moving_average(values, window), color=color, lw=2, label=window_label(window))
        if key == "query_return":
            support = [m["support_return"] for m in metrics]
            ax.plot(
                steps,
                moving_average(support, window),
                color=color,
                ls="--",
                lw=1.5,
                label="before adaptation (support), same average",
            )
        ax.set_title(f"{title}: {what} during meta-training" if title else f"{what.capitalize()} during meta-training")
        ax.title.set_fontsize(10)
        ax.set_xlabel("environment steps (millions)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.17))
        paths.append(save_figure(fig, out / name))
    return paths


def plot_adaptation_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    out: str | os.PathLike[str],
    *,
    reference: Mapping[str, Sequence[float]] | None = None,
    oracle: float | None = None,
    own_oracle: float | None = None,
    title: str = "",
    ylabel: str = "mean return (N trajectories, 200 steps)",
) -> Path:
    """Return after k = 0, 1, 2, ... inner steps, one line per method, with error bars.

    Args:
        curves: ``label -> (mean[k], std[k])``; the std is drawn as error bars (zeros for one seed); a label
            names its method's colour (:func:`method_color`), and a method's second curve is dashed.
        out: the PNG file to write.
        reference: ``label -> value[k]``, e.g. the MAML paper's numbers, drawn as hollow markers
            on dotted lines in the colour of the same method.
        oracle: a horizontal reference line (the paper's oracle), or ``None``.
        own_oracle: our oracle's return, a solid horizontal line, or ``None``.
    """
    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    drawn: set[str | None] = set()
    for i, (label, (mean, std)) in enumerate(curves.items()):
        method = method_of(label)
        variant = method is not None and method in drawn  # a method's second curve (its own step size): dashed
        drawn.add(method)
        k = np.arange(len(mean))
        ax.errorbar(
            k,
            mean,
            yerr=std,
            color=method_color(label, other=i),
            marker="D" if variant else "o",
            ls="--" if variant else "-",
            lw=2,
            capsize=3,
            label=f"{label} (ours)",
        )
    for i, (label, values) in enumerate((reference or {}).items()):
        k = np.arange(len(values))
        color = method_color(label, other=len(curves) + i)
        ax.plot(k, values, color=color, marker="s", mfc="none", ls=":", lw=1.2, label=f"{label} (paper)")
    oracle_color = METHOD_STYLES[ORACLE].color
    if oracle is not None:
        ax.axhline(oracle, color=oracle_color, ls="--", lw=1, label="oracle (paper)")
    if own_oracle is not None:
        ax.axhline(own_oracle, color=oracle_color, ls="-", lw=2, label="oracle (ours)")
    ax.set_xlabel("inner policy-gradient steps on the held-out task")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.17))
    return save_figure(fig, out)


def seed_band(
    runs: Sequence[Sequence[Mapping[str, Any]]], key: str, *, points: int = 200, window: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation over seeds of ``key`` against env steps.

    Each seed's trailing moving average (``window`` iterations) is interpolated linearly onto a
    shared grid of ``points`` env-step values up to the shortest seed's last step.

    Returns:
        ``(steps, mean, std)``, each of shape ``(points,)``; ``std`` is zero for a single seed.
    """
    if not runs or any(len(r) == 0 for r in runs):
        raise ValueError("seed_band needs at least one run and a metrics record in every run")
    end = min(r[-1]["env_steps"] for r in runs)
    start = max(r[0]["env_steps"] for r in runs)
    grid = np.linspace(start, end, points) if end > start else np.array([float(end)])
    curves = []
    for records in runs:
        steps = np.array([m["env_steps"] for m in records], dtype=float)
        curves.append(np.interp(grid, steps, moving_average([m[key] for m in records], window)))
    stacked = np.stack(curves)
    return grid, stacked.mean(0), stacked.std(0, ddof=1) if len(runs) > 1 else np.zeros_like(grid)


def plot_seed_learning_curves(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    out: str | os.PathLike[str],
    *,
    series: Sequence[tuple[str, str]] = (
        ("support_return", "before adaptation (support)"),
        ("query_return", "after adaptation (query)"),
    ),
    title: str = "",
    method: str = REFERENCE,
) -> Path:
    """Learning curves of several seeds: the mean over seeds as a line, +- one std shaded, in ``method``'s colour;
    the series are told apart by line style (the first dashed, the second solid).

    Args:
        runs: one list of ``metrics.jsonl`` records per seed.
        series: ``(metrics key, legend label)`` pairs to draw.
        method: a key of :data:`METHOD_STYLES`, the method the runs trained.
    """
    window = max(1, min(len(r) for r in runs) // 25)
    color = METHOD_STYLES[method].color
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, (key, label) in enumerate(series):
        steps, mean, std = seed_band(runs, key, window=window)
        ax.plot(steps / 1e6, mean, color=color, lw=2 if i else 1.6, ls=("--", "-", ":", "-.")[i % 4], label=label)
        ax.fill_between(steps / 1e6, mean - std, mean + std, color=color, alpha=0.12 if i % 2 == 0 else 0.25, lw=0)
    seeds = f"{len(runs)} seed{'s' if len(runs) > 1 else ''}"
    details = f"{seeds}; {window_label(window)}, band: ±1 std"
    ax.set_title(f"{title}\n({details})" if title else details, fontsize=9)
    ax.set_xlabel("environment steps (millions)")
    ax.set_ylabel("average return per trajectory")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return save_figure(fig, out)


def plot_method_panels(
    panels: Mapping[str, Mapping[str, Sequence[Sequence[Mapping[str, Any]]]]],
    out: str | os.PathLike[str],
    *,
    key: str = "query_return",
    marks: Mapping[str, tuple[float, str]] | None = None,
    budgets: Mapping[str, tuple[float, str]] | None = None,
    ylabel: str = "query return (after adaptation, training tasks)",
) -> Path:
    """One panel per task family, one band per method: the mean over seeds of ``key`` against env steps, +-1 std
    shaded (:func:`seed_band`, no smoothing), in the method's colour (:func:`method_color`). One legend for all
    panels, below them, so that no reference line crosses it.

    Args:
        panels: ``panel title -> {method label -> one metrics list per seed}``; an empty method is skipped.
        marks: ``panel title -> (value, label)`` of a dashed horizontal line (a reference return).
        budgets: ``panel title -> (env steps, label)`` of a dotted vertical line (a budget).
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.9), squeeze=False, layout="constrained")
    legend: dict[str, Any] = {}
    for ax, (title, methods) in zip(axes.flat, panels.items(), strict=True):
        for i, (label, seeds) in enumerate(methods.items()):
            if not seeds:
                continue
            steps, mean, std = seed_band(seeds, key)
            count = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
            color = method_color(label, other=i)
            ax.plot(steps / 1e6, mean, color=color, lw=1.8, label=f"{label} ({count})")
            ax.fill_between(steps / 1e6, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        if marks and title in marks:
            ax.axhline(marks[title][0], color="k", ls="--", lw=1, label=marks[title][1])
        if budgets and title in budgets:
            ax.axvline(budgets[title][0] / 1e6, color="0.4", ls=":", lw=1.2, label=budgets[title][1])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("environment steps (millions)")
        ax.grid(alpha=0.3)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    axes.flat[0].set_ylabel(ylabel)
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncol=3, frameon=False, fontsize=8)
    return save_figure(fig, out)


def plot_placeholder(message: str, out: str | os.PathLike[str]) -> Path:
    """A figure that says what is missing, so a document that includes ``out`` still builds."""
    fig, ax = plt.subplots(figsize=(5.6, 2.0))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="0.3", wrap=True)
    ax.add_patch(plt.Rectangle((0.01, 0.02), 0.98, 0.96, fill=False, ls="--", color="0.6", transform=ax.transAxes))
    return save_figure(fig, out)


def plot_returns_per_step(
    rewards: np.ndarray,
    returns: np.ndarray,
    out: str | os.PathLike[str],
    *,
    gamma: float,
    title: str = "",
) -> Path:
    """Reward ``r_t`` and discounted return ``G_t`` against the time step ``t`` for N trajectories.

    Each panel draws the mean over trajectories as a line, +- one standard deviation shaded, and the
    first few trajectories as thin lines.

    Args:
        rewards: ``(N, T)`` rewards of N trajectories.
        returns: ``(N, T)`` discounted returns ``G_t = sum_{k>=t} gamma^(k-t) r_k`` of the same trajectories.
        gamma: the discount used for ``returns`` (shown in the label).
    """
    rewards, returns = np.asarray(rewards, dtype=float), np.asarray(returns, dtype=float)
    if rewards.ndim != 2 or rewards.shape != returns.shape:
        raise ValueError(f"rewards and returns must both have shape (N, T); got {rewards.shape} and {returns.shape}")
    steps = np.arange(rewards.shape[1])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharex=True, layout="constrained")
    for ax, values, ylabel in (
        (axes[0], rewards, "reward $r_t$"),
        (axes[1], returns, f"discounted return $G_t$ ($\\gamma$ = {gamma:g})"),
    ):
        mean, std = values.mean(0), values.std(0)
        for row in values[:3]:
            ax.plot(steps, row, color="0.6", lw=0.6)
        color = OTHER_COLORS[0]  # the untrained policy: no method's colour
        ax.plot(steps, mean, color=color, lw=2, label=f"mean over {len(values)} trajectories")
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2, lw=0, label="±1 std")
        ax.set_xlabel("time step $t$")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, out)
