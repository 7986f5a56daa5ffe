"""Rendering faults: without OpenGL, with an unknown ``MUJOCO_GL`` or a renderer failing midway, training and
evaluation finish and the video is skipped with one warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw14_lib.rl.policy import GaussianMLPPolicy, policy_params
from hw14_lib.rl.tasks import Task
from hw14_lib.run.video import record_video

from conftest import CLI_TIMEOUT_S, REPO, SMOKE

pytestmark = pytest.mark.slow  # renders with MuJoCo and reads videos with ffmpeg, or builds LaTeX

# sitecustomize for a child process: libEGL, libGL, libGLX, libOpenGL and libOSMesa cannot be found
# or loaded, as on a machine without OpenGL. GLFW's own library still loads (it is bundled).
NO_OPENGL = """
import ctypes
import ctypes.util

_PREFIXES = ("libegl", "libgl.", "libglx", "libopengl", "libosmesa", "libgles")
_NAMES = ("egl", "gl", "glx", "opengl", "osmesa")
_find_library = ctypes.util.find_library
_cdll_init = ctypes.CDLL.__init__


def _blocked(name):
    base = str(name).lower().rsplit("/", 1)[-1]
    return base.startswith(_PREFIXES) or base in _NAMES


def find_library(name):
    return None if _blocked(name) else _find_library(name)


def cdll_init(self, name, *args, **kwargs):
    if name is not None and _blocked(name):
        raise OSError(f"{name}: cannot open shared object file (simulated: no OpenGL)")
    _cdll_init(self, name, *args, **kwargs)


ctypes.util.find_library = find_library
ctypes.CDLL.__init__ = cdll_init
"""


# --- 6. rendering faults ---------------------------------------------------------------------------


@pytest.mark.slow
def test_training_and_evaluation_finish_without_opengl(tmp_path: Path) -> None:
    shim = tmp_path / "no_opengl"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(NO_OPENGL, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "MUJOCO_GL": "egl"}
    out, video = tmp_path / "run", tmp_path / "eval" / "video.mp4"
    train_args = ["train", "--config", str(SMOKE), "--out", str(out), "--no-progress", "--set", "video=true"]
    evaluate_args = ["evaluate", "--policy", str(out / "policy.pt"), "--video", str(video)]
    # Both commands in one process (one interpreter start-up), their outputs separated by a marker.
    both = (
        "import sys\n"
        "from hw14_lib.cli import main\n"
        f"status = main({train_args!r})\n"
        "print('=== evaluate', file=sys.stderr)\n"
        f"sys.exit(status or main({evaluate_args!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", both], cwd=REPO, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    train_err, evaluate_err = result.stderr.split("=== evaluate\n")
    for err in (train_err, evaluate_err):
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("warning: video skipped: OpenGL rendering is unavailable (egl: "), err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["video"] is None and "post_adaptation_return" in summary
    assert not (out / "video.mp4").exists()
    assert "after 1 step(s)" in result.stdout
    assert not video.parent.exists()


def _record(tmp_path: Path) -> float | None:
    policy = GaussianMLPPolicy(17, 6)
    theta = {k: v.detach() for k, v in policy_params(policy).items()}
    return record_video(policy, theta, Task.backward(), tmp_path / "video.mp4", horizon=3, width=64, height=64)


def test_unknown_gl_backend_skips_the_video_with_one_warning(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    with pytest.warns(UserWarning, match=r"video skipped: .*MUJOCO_GL='no-such-backend'") as caught:
        assert _record(tmp_path) is None
    assert len(caught) == 1
    assert list(tmp_path.iterdir()) == []


def test_rendering_failing_midway_skips_the_video_with_one_warning(tmp_path: Path, monkeypatch) -> None:
    from hw14_lib.rl.envs import HalfCheetahTaskEnv

    real_render, calls = HalfCheetahTaskEnv.render, []

    def flaky_render(self):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("GL context lost")
        return real_render(self)

    monkeypatch.setattr(HalfCheetahTaskEnv, "render", flaky_render)
    with pytest.warns(UserWarning, match="video skipped") as caught:
        assert _record(tmp_path) is None
    assert len(caught) == 1
    assert list(tmp_path.iterdir()) == []
