"""Videos of a policy: one deterministic episode rendered off-screen, as an mp4 file and as an
animated GIF for notebooks.

The picture follows the cheetah: frames come from the model's own tracking camera
(``<camera name="track" mode="trackcom">`` in Gymnasium's ``half_cheetah.xml``, which follows the
torso's centre of mass), not from the free default camera the cheetah runs out of within seconds.
The floor plane of that model is drawn only 80 m wide (half-size 40 m), less than a good policy
covers in 200 steps, so the render environment draws it :data:`FLOOR_HALF_SIZE` m wide with the
same checker squares. A plane collides as an infinite plane whatever its size, so the physics and
the returns are those of training (a test compares them).

Rendering needs OpenGL (``MUJOCO_GL=egl`` headless); without it the video is skipped with one
warning and training or evaluation still finish.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hw14_lib.common.io_utils import atomic_write
from hw14_lib.rl.envs import HalfCheetahTaskEnv
from hw14_lib.rl.make_env import EnvName, EnvSpec
from hw14_lib.rl.paper_env import PaperHalfCheetahEnv
from hw14_lib.rl.policy import GaussianMLPPolicy, distribution
from hw14_lib.rl.tasks import Task

GL_BACKENDS = ("egl", "osmesa", "glfw")
TRACKING_CAMERA = "track"
"""HalfCheetah's camera that follows the torso's centre of mass (``mode="trackcom"``)."""
FLOOR_HALF_SIZE = 1000.0
"""Half-size in metres of the drawn floor: far beyond what 1000 steps of any gait cover."""
GIF_MAX_FPS = 10.0
"""Notebook animations keep at most this many frames per second (real time is kept)."""
GIF_COLORS = 32
"""Colours of a notebook animation's shared palette."""


def rendering_problem(width: int = 64, height: int = 64) -> str | None:
    """Why off-screen OpenGL rendering is unavailable here, or ``None`` when it works.

    Creates (and frees) a GL context of the back end ``MUJOCO_GL`` names, as Gymnasium's renderer
    would (glfw, egl, then osmesa when unset), and a MuJoCo render context in it. Warnings the back
    ends print while failing (GLFW's) are folded into the returned text.
    """
    import mujoco

    backend = os.environ.get("MUJOCO_GL")
    if backend is not None and backend not in GL_BACKENDS:
        return f"MUJOCO_GL={backend!r} is not one of {', '.join(GL_BACKENDS)}"
    problems = []
    for name in GL_BACKENDS if backend is None else (backend,):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                context = importlib.import_module(f"mujoco.{name}").GLContext(width, height)
                try:
                    context.make_current()
                    mujoco.MjrContext(mujoco.MjModel.from_xml_string("<mujoco/>"), mujoco.mjtFontScale.mjFONTSCALE_100)
                finally:
                    context.free()
            except Exception as exc:  # back ends fail with ImportError, AttributeError, FatalError, ...
                messages = dict.fromkeys(str(w.message) for w in caught)  # GLFW repeats itself
                detail = "; ".join([*messages, f"{type(exc).__name__}: {exc}"])
                problems.append(f"{name}: {detail}")
                continue
        return None
    return "; ".join(problems)


def widen_floor(model: object, half_size: float = FLOOR_HALF_SIZE) -> None:
    """Draw the MuJoCo ``model``'s plane named ``floor`` ``2 * half_size`` metres wide, scaling its
    material's texture repeat so the checker squares keep their size. Collision is unchanged: a
    plane collides as infinite whatever its size."""
    import mujoco

    floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    if floor < 0:
        raise ValueError("the model has no geom named 'floor'")
    scale = half_size / float(model.geom_size[floor, 0])  # type: ignore[attr-defined]
    model.geom_size[floor, :2] = half_size  # type: ignore[attr-defined]
    material = model.geom_matid[floor]  # type: ignore[attr-defined]
    if material >= 0:
        model.mat_texrepeat[material] *= scale  # type: ignore[attr-defined]


def make_render_env(
    task: Task, *, width: int = 480, height: int = 320, env: EnvName | EnvSpec = "gymnasium"
) -> HalfCheetahTaskEnv | PaperHalfCheetahEnv:
    """A :class:`HalfCheetahTaskEnv` (or, for ``env`` ``"paper"``, a :class:`PaperHalfCheetahEnv`) rendering RGB
    frames of ``height x width`` pixels from the tracking camera, over the widened floor."""
    spec = env if isinstance(env, EnvSpec) else EnvSpec(env)
    options: dict[str, Any] = {
        "render_mode": "rgb_array",
        "width": width,
        "height": height,
        "camera_name": TRACKING_CAMERA,
        "task_in_observation": spec.task_in_observation,
        "task_parameters": spec.task_parameters,
    }
    if spec.name == "paper":
        rendered: HalfCheetahTaskEnv | PaperHalfCheetahEnv = PaperHalfCheetahEnv(task, **options)
    else:
        rendered = HalfCheetahTaskEnv(task=task, **options)
    widen_floor(rendered.unwrapped.model)  # type: ignore[attr-defined]
    return rendered


def render_episode(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor],
    task: Task,
    *,
    horizon: int = 200,
    seed: int = 0,
    width: int = 480,
    height: int = 320,
    env: EnvName | EnvSpec = "gymnasium",
) -> tuple[list[np.ndarray], float, float]:
    """One episode of the mean action ``mu_theta(s)`` on ``env`` (:func:`make_render_env`), rendered.

    Returns:
        ``horizon + 1`` frames of shape ``(height, width, 3)`` (uint8; the state after 0..horizon
        steps), the episode's return, and the frame rate ``1 / dt`` (20 fps for HalfCheetah-v5, 100 for the
        paper's environment).

    Raises:
        Whatever the OpenGL back end raises when a frame cannot be rendered.
    """
    env = make_render_env(task, width=width, height=height, env=env)
    total, frames = 0.0, []
    try:
        obs, _ = env.reset(seed=seed)
        for t in range(horizon + 1):
            frames.append(env.render())
            if t == horizon:
                break
            with torch.no_grad():
                dist = distribution(policy, params, torch.as_tensor(obs, dtype=torch.float32))
                action = policy.deterministic_action(dist).numpy()
            obs, reward, _, _, _ = env.step(action)
            total += float(reward)
        fps = 1.0 / float(env.unwrapped.dt)  # type: ignore[attr-defined]
    finally:
        env.close()
    return frames, total, fps


def record_video(
    policy: GaussianMLPPolicy,
    params: Mapping[str, Tensor],
    task: Task,
    path: str | os.PathLike[str],
    *,
    horizon: int = 200,
    seed: int = 0,
    width: int = 480,
    height: int = 320,
    env: EnvName | EnvSpec = "gymnasium",
) -> float | None:
    """Render one deterministic episode (:func:`render_episode`) on ``env`` to an mp4 at ``path`` (atomically)
    and return its return.

    When OpenGL is unavailable (checked by :func:`rendering_problem` before any frame), or rendering
    or encoding fails midway, the video is skipped with one warning and ``None`` is returned;
    nothing is written.
    """
    import imageio.v2 as imageio

    problem = rendering_problem()
    if problem is not None:
        warnings.warn(f"video skipped: OpenGL rendering is unavailable ({problem})", stacklevel=2)
        return None
    try:
        frames, total, fps = render_episode(
            policy, params, task, horizon=horizon, seed=seed, width=width, height=height, env=env
        )
    except Exception as exc:  # OpenGL back ends fail in many ways (RuntimeError, FatalError, ...)
        warnings.warn(f"video skipped: rendering failed ({type(exc).__name__}: {exc})", stacklevel=2)
        return None

    def write(tmp: Path) -> None:
        imageio.mimwrite(tmp, frames, fps=round(fps), format="FFMPEG", codec="libx264", macro_block_size=16)

    try:
        atomic_write(path, write)
    except (OSError, RuntimeError, ValueError) as exc:  # ffmpeg missing or failing
        warnings.warn(f"video skipped: encoding {str(path)!r} failed ({type(exc).__name__}: {exc})", stacklevel=2)
        return None
    return total


def read_video(path: str | os.PathLike[str]) -> tuple[list[np.ndarray], float]:
    """The frames (``(height, width, 3)`` uint8) and the frame rate of an mp4, decoded by the ffmpeg
    that imageio-ffmpeg ships (one ``subprocess.run``: imageio's streaming readers leave pipes open).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: ffmpeg cannot decode it.
    """
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {str(path)!r} does not exist")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(command, capture_output=True, check=False)
    log = proc.stderr.decode(errors="replace")
    stream = re.search(r"Stream #.*Video:.*?(\d{2,5})x(\d{2,5}).*?([\d.]+) fps", log)
    if proc.returncode != 0 or stream is None:
        raise ValueError(f"video {str(path)!r} cannot be decoded ({log.strip().splitlines()[-1] if log else 'ffmpeg'})")
    width, height, fps = int(stream[1]), int(stream[2]), float(stream[3])
    frames = np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, height, width, 3)
    return list(frames), fps


def gif_bytes(
    frames: Sequence[np.ndarray],
    fps: float,
    *,
    max_fps: float = GIF_MAX_FPS,
    width: int | None = None,
    colors: int = GIF_COLORS,
) -> bytes:
    """An animated GIF (looping) of ``frames`` played in real time at ``fps``.

    Every ``ceil(fps / max_fps)``-th frame is kept and shown that many times longer; frames wider than
    ``width`` pixels are scaled down; all frames share one palette of ``colors`` colours, without
    dithering. The moving checker floor is what a GIF compresses worst: dithered per-frame palettes
    made one 10 s animation 5 MB, this about 0.5 MB at 240 pixels wide.
    """
    from PIL import Image

    if not frames:
        raise ValueError("gif_bytes needs at least one frame")
    if not (fps > 0 and max_fps > 0):
        raise ValueError(f"fps={fps!r} and max_fps={max_fps!r} must be > 0")
    stride = max(1, int(np.ceil(fps / max_fps - 1e-9)))
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames[::stride]]
    if width is not None and images[0].width > width:
        size = (width, round(images[0].height * width / images[0].width))
        images = [im.resize(size, Image.Resampling.LANCZOS) for im in images]
    samples = [np.asarray(images[i]) for i in sorted({0, len(images) // 2, len(images) - 1})]
    # Octree keeps the small cheetah's colours (median cut merged them into the floor's greys) and a
    # smooth sky (maximum coverage banded it in green and pink).
    palette = Image.fromarray(np.concatenate(samples, axis=1)).quantize(
        colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    quantized = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    buffer = io.BytesIO()
    quantized[0].save(
        buffer, format="GIF", save_all=True, append_images=quantized[1:], duration=round(1000 * stride / fps), loop=0
    )
    return buffer.getvalue()
