"""A strip of frames from a run's video, for the report: what the adapted policy does, at a glance."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hw14_lib.run.video import read_video


def frame_times(duration: float, count: int) -> list[float]:
    """``count`` instants (seconds) spread evenly over ``[0, duration)``, the first at 0."""
    if count < 1 or not duration > 0:
        raise ValueError(f"count={count!r}, duration={duration!r}; allowed: count >= 1, duration > 0")
    return [duration * i / count for i in range(count)]


def frame_strip(video: str | os.PathLike[str], out: str | os.PathLike[str], *, count: int = 6) -> Path:
    """Write ``out`` (PNG): ``count`` frames of ``video`` side by side, each labelled with its time ``t``.

    Raises:
        FileNotFoundError: no video at ``video``.
        ValueError: the video cannot be decoded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames, fps = read_video(video)
    times = frame_times(len(frames) / fps, count)
    height = 2.0 * frames[0].shape[0] / frames[0].shape[1]
    fig, axes = plt.subplots(1, count, figsize=(2.0 * count, height + 0.35))
    for ax, t in zip(np.atleast_1d(axes), times, strict=True):
        ax.imshow(frames[min(len(frames) - 1, round(t * fps))])
        ax.set_axis_off()
        ax.set_title(f"t = {t:.1f} s", fontsize=9)
    fig.subplots_adjust(left=0.003, right=0.997, bottom=0.01, top=height / (height + 0.35), wspace=0.03)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return out
