"""Videos as the user sees them: the cheetah stays in the picture in every frame (rendered now, in the
committed mp4 files and in the notebook's animations), the widened floor leaves the physics alone,
and the GIF keeps real time."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image

from hw14_lib.rl.envs import HalfCheetahTaskEnv
from hw14_lib.rl.policy import distribution, load_policy, policy_params
from hw14_lib.rl.tasks import Task
from hw14_lib.run.video import (
    FLOOR_HALF_SIZE,
    gif_bytes,
    make_render_env,
    read_video,
    render_episode,
    rendering_problem,
    widen_floor,
)

from conftest import REPO
from helpers import cheetah_pixels

pytestmark = pytest.mark.slow  # renders with MuJoCo and reads videos with ffmpeg, or builds LaTeX

NOTEBOOK = REPO / "Notebooks" / "HW14_MAML.ipynb"
COMMITTED_VIDEOS = sorted((REPO / "results").glob("*/video.mp4"))
MIN_SHOWN = 0.95
needs_gl = pytest.mark.skipif(rendering_problem() is not None, reason="off-screen OpenGL is unavailable here")


def shown_fraction(frames: list[np.ndarray]) -> float:
    """Fraction of frames in which the cheetah covers at least 0.1% of the picture."""
    return float(np.mean([cheetah_pixels(f) >= 1e-3 * f.shape[0] * f.shape[1] for f in frames]))


def fast_policy():
    """The committed backward policy (about 40 m in 200 steps: it outruns the drawn 80 m floor's half)."""
    policy = load_policy(REPO / "results" / "backward" / "policy.pt")
    return policy, {k: v.detach() for k, v in policy_params(policy).items()}


def test_pixel_counter_sees_the_body_and_not_the_floor() -> None:
    floor = np.zeros((64, 64, 3), dtype=np.uint8)
    floor[::2] = (204, 230, 204)  # checker's pale green
    floor[1::2] = (120, 120, 120)  # grey sky
    assert cheetah_pixels(floor) == 0
    floor[10:20, 10:30] = (204, 153, 102)  # the body's tan
    assert cheetah_pixels(floor) == 200


@needs_gl
def test_rendered_episode_keeps_the_cheetah_in_every_frame() -> None:
    policy, theta = fast_policy()
    # A start from which this policy runs far (about 40 m: the case the old camera lost); from some starts it
    # stumbles and stays near the origin, which would not test the tracking.
    frames, total, fps = render_episode(policy, theta, Task.backward(), horizon=200, width=160, height=112, seed=3)
    assert len(frames) == 201 and fps == 20.0 and total > 500
    assert shown_fraction(frames) == 1.0
    # The floor is drawn under the cheetah to the end: the lower part of the last frame is not the void's grey.
    bottom = frames[-1][-20:].astype(int)
    assert np.ptp(bottom.mean(axis=2)) > 100, "no checker under the cheetah in the last frame"


@needs_gl
def test_the_free_camera_loses_the_fast_cheetah() -> None:
    """The counter can fail: the default free camera (the old videos) shows the cheetah only at the start."""
    policy, theta = fast_policy()
    env = HalfCheetahTaskEnv(task=Task.backward(), render_mode="rgb_array", width=160, height=112)
    frames = []
    try:
        obs, _ = env.reset(seed=0)
        for _ in range(200):
            with torch.no_grad():
                dist = distribution(policy, theta, torch.as_tensor(obs, dtype=torch.float32))
                action = policy.deterministic_action(dist)
            obs, *_ = env.step(action.numpy())
            frames.append(env.render())
    finally:
        env.close()
    assert shown_fraction(frames) < 0.5


def test_widened_floor_changes_no_physics() -> None:
    """Same actions, same observations and rewards, bit for bit, in the render env and the plain one."""
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(300, 6)).astype(np.float32)
    plain = HalfCheetahTaskEnv(task=Task.backward())
    wide = make_render_env(Task.backward(), width=64, height=64)
    model = wide.unwrapped.model
    assert model.geom_size[0, 0] == FLOOR_HALF_SIZE
    try:
        a, _ = plain.reset(seed=3)
        b, _ = wide.reset(seed=3)
        for action in actions:
            a, ra, *_ = plain.step(action)
            b, rb, *_ = wide.step(action)
            np.testing.assert_array_equal(a, b)
            assert ra == rb
    finally:
        plain.close()
        wide.close()


def test_widen_floor_keeps_the_checker_size_and_needs_a_floor() -> None:
    import mujoco

    env = HalfCheetahTaskEnv(task=Task.backward())
    try:
        model = env.unwrapped.model
        before = model.mat_texrepeat[model.geom_matid[0]].copy() / model.geom_size[0, 0]
        widen_floor(model, 500.0)
        after = model.mat_texrepeat[model.geom_matid[0]] / model.geom_size[0, 0]
        np.testing.assert_allclose(after, before)
    finally:
        env.close()
    with pytest.raises(ValueError, match="no geom named 'floor'"):
        widen_floor(mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>"))


def moving_bar(i: int, height: int, width: int) -> np.ndarray:
    """A black frame with a white column at ``2 i mod width``: consecutive frames differ (a GIF writer
    merges identical ones)."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[:, (2 * i) % width] = 255
    return frame


def test_gif_keeps_real_time_and_scales_down() -> None:
    frames = [moving_bar(i, 40, 60) for i in range(201)]
    with Image.open(io.BytesIO(gif_bytes(frames, 20.0, width=30))) as im:
        assert im.n_frames == 101 and im.size == (30, 20) and im.info["duration"] == 100
    with Image.open(io.BytesIO(gif_bytes(frames[:5], 5.0))) as im:
        assert im.n_frames == 5 and im.info["duration"] == 200  # below max_fps: every frame kept
    with pytest.raises(ValueError, match="at least one frame"):
        gif_bytes([], 20.0)


@pytest.mark.parametrize("path", COMMITTED_VIDEOS, ids=[p.parent.name for p in COMMITTED_VIDEOS])
def test_committed_videos_keep_the_cheetah_in_the_picture(path: Path) -> None:
    frames, fps = read_video(path)
    from hw14_lib.run.config import TrainConfig

    cfg = TrainConfig.from_yaml(path.parent / "config.yaml")
    expected_fps = {"gymnasium": 20.0, "paper": 100.0}[cfg.env]  # 1 / dt
    assert len(frames) == cfg.horizon + 1 and fps == expected_fps
    assert shown_fraction(frames) >= MIN_SHOWN, f"{path}: the cheetah is out of the picture"


def test_there_are_committed_videos() -> None:
    assert len(COMMITTED_VIDEOS) >= 15


def notebook_gifs() -> list[tuple[int, list[np.ndarray]]]:
    """(code cell index, frames) of every animated GIF in the committed notebook's outputs."""
    found = []
    cells = [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    for i, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/gif")
            if data:
                with Image.open(io.BytesIO(base64.b64decode(data))) as im:
                    frames = []
                    for k in range(im.n_frames):
                        im.seek(k)
                        frames.append(np.asarray(im.convert("RGB")))
                found.append((i, frames))
    return found


def test_committed_notebook_animations_show_the_cheetah() -> None:
    """Three animations (untrained policy, default run, adapted policy), each showing the cheetah,
    and no <video> element, which an untrusted notebook would strip."""
    gifs = notebook_gifs()
    assert len(gifs) == 3
    for cell, frames in gifs:
        assert len(frames) >= 40, f"code cell {cell}: {len(frames)} frames"
        assert shown_fraction(frames) >= MIN_SHOWN, f"code cell {cell}: the cheetah is out of the picture"
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert "<video" not in text


@needs_gl
def test_train_names_the_video_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hw14_lib.cli import main

    out = tmp_path / "run"
    smoke = str(REPO / "configs" / "smoke.yaml")
    assert main(["train", "--config", smoke, "--out", str(out), "--no-progress", "--set", "video=true"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert (
        first
        == f"results in {out}/: metrics.jsonl, summary.json, policy.pt, meta_loss.png, query_return.png, video.mp4"
    )
    frames, _ = read_video(out / "video.mp4")
    assert len(frames) == 21  # the smoke horizon of 20 steps, and the first state


@needs_gl
def test_paper_environment_video_follows_the_cheetah_with_the_physics_of_the_unrendered_env() -> None:
    from hw14_lib.rl.make_env import EnvSpec
    from hw14_lib.rl.paper_env import PAPER_CTRL_WEIGHT, PaperHalfCheetahEnv
    from hw14_lib.rl.policy import GaussianMLPPolicy

    policy = load_policy(REPO / "results" / "paper_dir_maml_s0" / "policy.pt")
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    task = Task("direction", direction=1.0, ctrl_weight=PAPER_CTRL_WEIGHT)
    frames, total, fps = render_episode(policy, theta, task, horizon=200, width=160, height=112, env="paper")
    assert len(frames) == 201 and fps == 100.0 and shown_fraction(frames) == 1.0
    plain, expected = PaperHalfCheetahEnv(task), 0.0
    obs, _ = plain.reset(seed=0)
    for _ in range(200):
        with torch.no_grad():
            action = policy.deterministic_action(distribution(policy, theta, torch.as_tensor(obs, dtype=torch.float32)))
        obs, reward, *_ = plain.step(action.numpy())
        expected += reward
    assert total == pytest.approx(expected, rel=1e-12)
    oracle = GaussianMLPPolicy(EnvSpec("gymnasium", task_in_observation=True).observation_dim, 6)
    oracle_theta = {k: v.detach() for k, v in policy_params(oracle).items()}
    spec = EnvSpec("gymnasium", task_in_observation=True)
    assert len(render_episode(oracle, oracle_theta, task, horizon=3, width=64, height=48, env=spec)[0]) == 4
