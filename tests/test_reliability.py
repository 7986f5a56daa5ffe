"""Reliability (issue 5): resume after SIGKILL/SIGINT, torn lines, no silent overwrite, bad input,
non-finite losses and gradients, log_std bounds, rendering without OpenGL, random configs.

Subprocess tests run the real entry point, ``python -m hw14_lib``, from the repository root. The
uninterrupted reference run is trained in-process once per module; a killed and resumed run must
write the same ``metrics.jsonl``, line for line, except ``wall_seconds`` (the one wall-clock field).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw14_lib.cli import main
from hw14_lib.config import TrainConfig
from hw14_lib.folder_lock import LOCK_NAME
from hw14_lib.io_utils import read_jsonl
from hw14_lib.rl import outer
from hw14_lib.rl.outer import AdamMetaOptimizer, NonFiniteError
from hw14_lib.rl.policy import LOG_STD_BOUNDS, GaussianMLPPolicy, load_policy, policy_params, save_policy
from hw14_lib.rl.sampling import sample_trajectories
from hw14_lib.rl.tasks import Task
from hw14_lib.rl.vector_env import make_task_vector_env
from hw14_lib.run_folder import CHECKPOINT, CONFIG, METRICS, RunFolderError
from hw14_lib.training import TrainingInterrupted, project_log_std, train
from hw14_lib.video import record_video

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs" / "smoke.yaml"
ITERATIONS = 10  # the smoke config's 3, raised so that a kill can land in the middle of the run
WAIT_S = 180.0

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


# --- helpers ---------------------------------------------------------------------------------------


def smoke_config(**overrides: Any) -> TrainConfig:
    return TrainConfig.from_yaml(SMOKE, **{"iterations": ITERATIONS, **overrides})


def train_argv(out: Path, *extra: str) -> list[str]:
    fixed = ["--config", str(SMOKE), "--out", str(out), "--no-progress", "--no-eval"]
    return ["train", *fixed, "--set", f"iterations={ITERATIONS}", *extra]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = WAIT_S) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hw14_lib", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def comparable(path: Path) -> list[dict[str, Any]]:
    """The metrics lines without ``wall_seconds``; every line must be whole."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), "metrics.jsonl ends with a torn line"
    return [{k: v for k, v in json.loads(line).items() if k != "wall_seconds"} for line in text.splitlines()]


def line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def checkpoint_iteration(folder: Path) -> int:
    return int(torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=False)["iteration"])


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every folder (None) and file (its bytes) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen, what: str) -> None:
    start = time.monotonic()
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() - start > WAIT_S:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def wait_for_iteration(out: Path, k: int, proc: subprocess.Popen) -> None:
    """Until ``out`` holds the checkpoint of iteration 0 (k = 0) or k metrics lines."""
    if k == 0:
        wait_until(lambda: (out / CHECKPOINT).exists(), proc, "the first checkpoint")
    else:
        wait_until(lambda: line_count(out / METRICS) >= k, proc, f"iteration {k}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """An uninterrupted smoke run: its folder and its comparable metrics."""
    out = tmp_path_factory.mktemp("reference") / "run"
    train(smoke_config(), out, progress=False, evaluate=False)
    return out, comparable(out / METRICS)


# --- 1. resume after a kill ------------------------------------------------------------------------


def test_sigkill_at_a_random_iteration_then_resume_gives_identical_metrics(
    reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    k = random.SystemRandom().randint(0, ITERATIONS - 4)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hw14_lib", *train_argv(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_iteration(out, k, proc)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    lines_at_kill = line_count(out / METRICS)
    assert lines_at_kill < ITERATIONS, f"k={k}: the run finished before the kill"

    assert main(train_argv(out, "--resume")) == 0, f"k={k}, {lines_at_kill} lines at the kill"
    assert capsys.readouterr().err == ""
    assert comparable(out / METRICS) == reference[1], f"killed at iteration {k} ({lines_at_kill} lines)"


def test_kill_between_the_checkpoint_and_its_metrics_line(reference, tmp_path: Path) -> None:
    """The narrowest window: checkpoint k has landed, its metrics line has not."""
    k, out = 3, tmp_path / "run"
    die_at_append = (
        "import os, sys\n"
        "import hw14_lib.training as training\n"
        "append, calls = training.append_jsonl, []\n"
        "def dying(path, record):\n"
        f"    calls.append(1)\n    if len(calls) == {k}:\n        os._exit(137)\n"
        "    append(path, record)\n"
        "training.append_jsonl = dying\n"
        "from hw14_lib.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", die_at_append, *train_argv(out)], cwd=REPO, capture_output=True, text=True
    )
    assert killed.returncode == 137, killed.stderr
    assert checkpoint_iteration(out) == k
    assert line_count(out / METRICS) == k - 1

    assert main(train_argv(out, "--resume")) == 0
    assert comparable(out / METRICS) == reference[1]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_or_sigterm_saves_a_checkpoint_and_resume_gives_identical_metrics(
    reference, tmp_path: Path, capsys: pytest.CaptureFixture[str], signum: int, status: int
) -> None:
    out = tmp_path / "run"
    # A shell may start background jobs with SIGINT ignored; install Python's default handler.
    entry = (
        "import runpy, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "sys.argv[0] = 'hw14_lib'\n"
        "runpy.run_module('hw14_lib', run_name='__main__')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", entry, *train_argv(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_iteration(out, 3, proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    message = stderr.strip()
    saved = checkpoint_iteration(out)
    assert f"the checkpoint of iteration {saved} is saved" in message
    assert "--resume" in message and f"--out {out}" in message
    assert f"Resume with: {sys.executable} -m hw14_lib train" in message  # works outside the venv too
    assert line_count(out / METRICS) == saved
    assert saved < ITERATIONS
    assert not [p for p in out.glob(".*") if p.name != LOCK_NAME], "an interrupted atomic write left its temporary file"

    # What a SIGKILL in the middle of a checkpoint write leaves; resuming removes it.
    stale = out / f".{CHECKPOINT}.k1a2b3.tmp.pt"
    stale.write_bytes(b"half a checkpoint")
    assert main(train_argv(out, "--resume")) == 0
    capsys.readouterr()
    assert not stale.exists()
    assert comparable(out / METRICS) == reference[1]


def test_sigterm_to_parallel_results_stops_every_job_at_a_checkpoint(tmp_path: Path) -> None:
    """``results --jobs 2`` runs each experiment in a child process; a SIGTERM to the parent (as from
    ``kill``) must not leave the children training on, orphaned."""
    root = tmp_path / "results"
    names = ["dir_maml_s0", "vel_maml_s0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hw14_lib", "results", "--root", str(root), "--jobs", "2", "--only", *names],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for name in names:
        wait_until(lambda name=name: (root / name / CHECKPOINT).exists(), proc, f"{name}'s first checkpoint")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    children = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout.split()
    assert children == [], "child jobs outlived the SIGTERM"
    for name in names:
        assert checkpoint_iteration(root / name) >= 0
        assert not [p for p in (root / name).glob(".*") if p.name != LOCK_NAME]


def test_interrupt_in_process_then_torn_line_is_dropped_with_one_warning(
    reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    real_step, calls = AdamMetaOptimizer.step, []

    def interrupted_step(self, policy, batch, inner):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_step(self, policy, batch, inner)

    with monkeypatch.context() as patch:
        patch.setattr(AdamMetaOptimizer, "step", interrupted_step)
        with pytest.raises(TrainingInterrupted, match=r"checkpoint of iteration 3 is saved.*--resume"):
            train(smoke_config(), out, progress=False, evaluate=False)
    assert checkpoint_iteration(out) == 3 and line_count(out / METRICS) == 3

    with open(out / METRICS, "a", encoding="utf-8") as handle:
        handle.write('{"env_steps": 960, "grad_n')  # what a crash mid-write of an older version leaves
    resumed = run_cli(*train_argv(out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "torn last line" in lines[0], resumed.stderr
    assert comparable(out / METRICS) == reference[1]


def test_interrupt_during_the_final_evaluation_resumes_into_it(
    reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hw14_lib.training as training

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(training, "finish_run", interrupted)
        with pytest.raises(TrainingInterrupted, match=rf"checkpoint of iteration {ITERATIONS} is saved"):
            train(smoke_config(), out, progress=False, evaluate=False)
    assert not (out / "summary.json").exists()
    summary = train(smoke_config(), out, resume=True, progress=False, evaluate=False)
    assert summary["iterations"] == ITERATIONS and (out / "summary.json").exists()
    assert comparable(out / METRICS) == reference[1]


# --- 3. no silent overwrite ------------------------------------------------------------------------


def test_existing_run_folder_is_not_overwritten(reference, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    shutil.copytree(reference[0], out)
    before = snapshot(tmp_path)
    assert main(train_argv(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert snapshot(tmp_path) == before


def test_out_that_is_a_file_is_rejected(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.write_text("not a folder")
    assert main(train_argv(out)) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert out.read_text() == "not a folder"


# --- 4. bad input ----------------------------------------------------------------------------------

SMOKE_TEXT = SMOKE.read_text(encoding="utf-8")


@dataclasses.dataclass
class BadInput:
    """One bad input: the CLI arguments, the library call that must raise the same message, and
    the pieces that message must contain (field, bad value, what is allowed)."""

    argv: list[str]
    library: Callable[[], object]
    expected: tuple[str, ...]
    error: type[Exception] = ValueError


def _config_case(tmp: Path, text: str | None, overrides: dict[str, Any], expected: tuple[str, ...]) -> BadInput:
    path = SMOKE
    if text is not None:
        path = tmp / "bad.yaml"
        path.write_text(text, encoding="utf-8")
    out = tmp / "run"
    sets = [a for k, v in overrides.items() for a in ("--set", f"{k}={yaml.safe_dump(v).splitlines()[0]}")]
    return BadInput(
        ["train", "--config", str(path), "--out", str(out), "--no-progress", *sets],
        lambda: TrainConfig.from_yaml(path, **overrides),
        expected,
        TypeError if "of type" in "".join(expected) else ValueError,
    )


CONFIG_CASES: dict[str, tuple[str | None, dict[str, Any], tuple[str, ...]]] = {
    "unknown key": (SMOKE_TEXT + "horizn: 20\n", {}, ("unknown config key 'horizn'", "allowed keys", "horizon")),
    "wrong type": (SMOKE_TEXT + 'inner_lr: "0.1"\n', {}, ("'inner_lr'", "'0.1'", "of type str", "a number")),
    "horizon 0": (None, {"horizon": 0}, ("'horizon'", "value 0", "an integer >= 1")),
    "horizon too long": (None, {"horizon": 5000}, ("'horizon'", "5000", "[1, 1000]")),
    "meta-batch 0": (None, {"meta_batch_size": 0}, ("'meta_batch_size'", "value 0", ">= 1")),
    "trajectories -1": (None, {"trajectories_per_task": -1}, ("'trajectories_per_task'", "-1", ">= 1")),
    "inner lr 0": (None, {"inner_lr": 0}, ("'inner_lr'", "0.0", "> 0")),
    "outer lr negative": (None, {"outer_lr": -0.001}, ("'outer_lr'", "-0.001", "> 0")),
    "gamma 0": (None, {"gamma": 0}, ("'gamma'", "0.0", "(0, 1]")),
    "gamma above 1": (None, {"gamma": 1.5}, ("'gamma'", "1.5", "(0, 1]")),
    "lambda 0": (None, {"gae_lambda": 0.0}, ("'gae_lambda'", "0.0", "(0, 1]")),
    "lambda above 1": (None, {"gae_lambda": 1.01}, ("'gae_lambda'", "1.01", "(0, 1]")),
    "unknown task kind": (None, {"task": "sideways"}, ("'task'", "'sideways'", "'velocity'")),
    "velocity low > high": (None, {"velocity_low": 3.0}, ("'velocity_low'", "3.0", "<= velocity_high (2.0)")),
    "inner steps 0": (None, {"inner_steps": 0}, ("'inner_steps'", "value 0", ">= 1")),
    "malformed YAML": (SMOKE_TEXT + "horizon: [20, 30\n", {}, ("bad.yaml", "is not valid YAML")),
    "not a mapping": ("- 1\n- 2\n", {}, ("bad.yaml", "must hold a mapping of field: value")),
}


def bad_input(name: str, tmp: Path, reference_run: Path) -> BadInput:
    if name in CONFIG_CASES:
        return _config_case(tmp, *CONFIG_CASES[name])
    out = tmp / "run"
    if name == "missing config file":
        missing = tmp / "missing.yaml"
        return BadInput(
            ["train", "--config", str(missing), "--out", str(out)],
            lambda: TrainConfig.from_yaml(missing),
            ("missing.yaml", "does not exist"),
            FileNotFoundError,
        )
    evaluate = ["evaluate", "--json", str(tmp / "eval.json"), "--video", str(tmp / "video.mp4"), "--policy"]
    if name == "missing policy":
        missing = tmp / "policy.pt"
        expected = ("policy.pt", "does not exist")
        return BadInput([*evaluate, str(missing)], lambda: load_policy(missing), expected, FileNotFoundError)
    if name == "text file as policy":
        text = tmp / "notes.txt"
        text.write_text("hello")
        return BadInput([*evaluate, str(text)], lambda: load_policy(text), ("notes.txt", "is not a policy file"))
    if name == "random bytes as policy":  # torch's weights_only error is a paragraph; the line names the type
        garbage = tmp / "garbage.pt"
        garbage.write_bytes(bytes(range(256)) * 4)
        expected = ("garbage.pt", "is not a policy file", "(torch.load: UnpicklingError)")
        return BadInput([*evaluate, str(garbage)], lambda: load_policy(garbage), expected)
    if name == "checkpoint as policy":
        ckpt = tmp / CHECKPOINT
        shutil.copy(reference_run / CHECKPOINT, ckpt)
        return BadInput([*evaluate, str(ckpt)], lambda: load_policy(ckpt), (CHECKPOINT, "is not a policy file"))
    if name == "policy of another size":
        path = save_policy(GaussianMLPPolicy(5, 6), tmp / "small.pt")
        expected = ("small.pt", "observation/action sizes 5/6", "HalfCheetah needs 17/6")
        return BadInput([*evaluate, str(path)], lambda: None, expected)
    if name == "resume without checkpoint":
        cfg = smoke_config()
        return BadInput(
            train_argv(out, "--resume"),
            lambda: train(cfg, out, resume=True),
            ("--resume", "no checkpoint in", "run", "without --resume"),
        )
    if name == "resume with another config":
        shutil.copytree(reference_run, out)
        cfg = smoke_config(horizon=30)
        return BadInput(
            train_argv(out, "--resume", "--set", "horizon=30"),
            lambda: train(cfg, out, resume=True),
            ("--resume", "horizon=30", "(the run has 20)", "config.yaml"),
        )
    raise AssertionError(name)


BAD_INPUTS = [
    *CONFIG_CASES,
    "missing config file",
    "missing policy",
    "text file as policy",
    "random bytes as policy",
    "checkpoint as policy",
    "policy of another size",
    "resume without checkpoint",
    "resume with another config",
]


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_gives_one_line_status_2_and_writes_nothing(
    name: str, reference, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = bad_input(name, tmp_path, reference[0])
    before = snapshot(tmp_path)
    status = main(case.argv)
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: "), captured.err
    for piece in case.expected:
        assert piece in captured.err, f"{piece!r} missing from {captured.err!r}"
    assert snapshot(tmp_path) == before, "bad input changed or created files"

    if name != "policy of another size":  # the size check is the CLI's; sample_trajectories' is tested below
        with pytest.raises(case.error) as info:
            case.library()
        assert captured.err == f"error: {info.value}\n", "the library's message differs from the CLI's"
        assert snapshot(tmp_path) == before


def test_bad_input_in_a_real_process(reference, tmp_path: Path) -> None:
    case = bad_input("unknown key", tmp_path, reference[0])
    before = snapshot(tmp_path)
    result = run_cli(*case.argv)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert snapshot(tmp_path) == before


def test_sample_trajectories_rejects_a_policy_of_another_size() -> None:
    tasks = [Task.backward()]
    envs = make_task_vector_env(tasks, num_threads=1)
    policy = GaussianMLPPolicy(5, 6)
    try:
        with pytest.raises(ValueError, match=r"observations of size 5 .* the environment has 17 and 6"):
            sample_trajectories(
                policy,
                policy_params(policy),
                envs,
                tasks,
                num_trajectories=1,
                horizon=2,
                generator=torch.Generator().manual_seed(0),
                seed=0,
            )
    finally:
        envs.close()


@pytest.mark.parametrize(
    ("fields", "error", "pattern"),
    [
        ({"horizon": 0}, ValueError, r"config field 'horizon' has value 0; allowed: an integer >= 1"),
        ({"gamma": 2.0}, ValueError, r"config field 'gamma' has value 2\.0; allowed: a number in \(0, 1\]"),
        ({"horizon": "20"}, TypeError, r"config field 'horizon' has value '20' of type str; expected an integer"),
        ({"first_order": "yes"}, TypeError, r"config field 'first_order' .* expected true or false"),
        ({"inner_lr": math.nan}, ValueError, r"config field 'inner_lr' has value nan; allowed: a finite number > 0"),
    ],
)
def test_train_config_raises_the_cli_messages(fields: dict[str, Any], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        TrainConfig(**fields)


def test_load_policy_rejects_a_damaged_payload(tmp_path: Path) -> None:
    path = tmp_path / "damaged.pt"
    torch.save({"format": "hw14-policy-v1", "architecture": {"obs_dim": 17}, "state_dict": {}}, path)
    with pytest.raises(ValueError, match="damaged policy file"):
        load_policy(path)


# --- 5. numerical faults ---------------------------------------------------------------------------


def _poison(loss: torch.Tensor, theta: dict[str, torch.Tensor], quantity: str) -> torch.Tensor:
    """NaN in the loss, or a finite loss whose gradient is NaN (``where``'s masked branch: 0 * inf)."""
    if quantity == "meta-loss":
        return loss + math.nan
    x = sum(p.sum() for p in theta.values())
    return loss + torch.where(torch.tensor(False), x * math.inf, torch.zeros(()))


@pytest.mark.parametrize(
    ("quantity", "optimizer"), [("meta-loss", "adam"), ("meta-gradient", "adam"), ("meta-gradient", "trpo")]
)
def test_non_finite_quantity_stops_before_the_step_and_keeps_the_checkpoint(
    quantity: str, optimizer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k, out = 3, tmp_path / "run"
    real, calls, seen = outer.meta_objective, [], {}

    def faulty(policy, theta, batch, inner, **kwargs):
        loss, adapted = real(policy, theta, batch, inner, **kwargs)
        if kwargs.get("create_graph", True):  # once per outer step (TRPO's line search passes False)
            calls.append(1)
            if len(calls) == k:
                seen["checkpoint"] = (out / CHECKPOINT).read_bytes()
                seen["theta"] = {n: v.detach().clone() for n, v in theta.items()}
                seen["policy"] = policy
                loss = _poison(loss, theta, quantity)
        return loss, adapted

    monkeypatch.setattr(outer, "meta_objective", faulty)
    pattern = rf"^{quantity} is not finite; iteration {k} stopped before the optimizer step; .* keeps iteration {k - 1}"
    with pytest.raises(NonFiniteError, match=pattern) as info:
        train(smoke_config(outer_optimizer=optimizer), out, progress=False, evaluate=False)
    assert info.value.quantity == quantity
    assert (out / CHECKPOINT).read_bytes() == seen["checkpoint"], "the last good checkpoint changed"
    assert checkpoint_iteration(out) == k - 1
    assert line_count(out / METRICS) == k - 1
    for name, value in policy_params(seen["policy"]).items():
        assert torch.equal(value.detach(), seen["theta"][name]), f"{name} was stepped"


def test_cli_reports_a_non_finite_gradient_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = outer.meta_objective

    def faulty(policy, theta, batch, inner, **kwargs):
        loss, adapted = real(policy, theta, batch, inner, **kwargs)
        return _poison(loss, theta, "meta-gradient"), adapted

    monkeypatch.setattr(outer, "meta_objective", faulty)
    assert main(train_argv(tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: meta-gradient is not finite; iteration 1 stopped before the optimizer step")
    assert checkpoint_iteration(tmp_path / "run") == 0


def test_log_std_parameter_is_projected_into_its_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_step = AdamMetaOptimizer.step

    def overshooting_step(self, policy, batch, inner):
        info = real_step(self, policy, batch, inner)
        with torch.no_grad():
            policy.log_std -= 100.0  # a step far past the lower bound
        return info

    monkeypatch.setattr(AdamMetaOptimizer, "step", overshooting_step)
    train(smoke_config(iterations=2), tmp_path / "run", progress=False, evaluate=False)
    policy = load_policy(tmp_path / "run" / "policy.pt")
    assert torch.equal(policy.log_std.detach(), torch.full((6,), LOG_STD_BOUNDS[0]))
    assert [r["log_std_mean"] for r in read_jsonl(tmp_path / "run" / METRICS)] == [LOG_STD_BOUNDS[0]] * 2


def test_projection_keeps_the_distribution_and_revives_the_gradient() -> None:
    """Why project: the forward clamp already bounds sigma, but past the bound its gradient is zero."""
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(17, 6)
    obs, actions = torch.randn(4, 17), torch.randn(4, 6)

    def std_and_grad() -> tuple[torch.Tensor, torch.Tensor]:
        policy.zero_grad()
        dist = policy(obs)
        policy.log_prob(dist, actions).sum().backward()
        return dist.base_dist.stddev.detach(), policy.log_std.grad.clone()

    with torch.no_grad():
        policy.log_std.fill_(-9.0)
    std_outside, grad_outside = std_and_grad()
    project_log_std(policy)
    std_projected, grad_projected = std_and_grad()
    assert torch.equal(std_outside, std_projected)
    assert torch.all(grad_outside == 0) and torch.all(grad_projected != 0)


# --- 6. rendering faults ---------------------------------------------------------------------------


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
        [sys.executable, "-c", both], cwd=REPO, env=env, capture_output=True, text=True, timeout=WAIT_S
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


# --- property: random configurations ---------------------------------------------------------------

# Invalid for most fields (a few happen to be valid for some: 0 for entropy_coef, -1 for a velocity).
INVALID = st.sampled_from([None, "x", "0.1", True, [1], {"a": 1}, -1, 0, 2.5, math.nan, math.inf, -math.inf])
VALID: dict[str, st.SearchStrategy[Any]] = {
    "horizon": st.integers(1, 40),
    "meta_batch_size": st.integers(1, 4),
    "trajectories_per_task": st.integers(1, 4),
    "inner_steps": st.integers(1, 2),
    "inner_lr": st.floats(1e-3, 0.5),
    "outer_lr": st.floats(1e-5, 1e-2),
    "gamma": st.floats(0.5, 1.0),
    "gae_lambda": st.floats(0.5, 1.0),
    "task": st.sampled_from(["backward", "direction", "velocity"]),
    "velocity_low": st.floats(-3.0, 3.0),
    "velocity_high": st.floats(-3.0, 3.0),
    "first_order": st.booleans(),
    "baseline": st.sampled_from(["linear", "none"]),
    "outer_optimizer": st.sampled_from(["adam", "trpo"]),
    "objective": st.sampled_from(["maml", "pretrain"]),
    "inner_estimator": st.sampled_from(["reinforce", "ratio"]),
    "grad_clip": st.one_of(st.none(), st.floats(0.1, 10.0)),
    "hidden_sizes": st.lists(st.integers(1, 16), min_size=1, max_size=2),
    "init_log_std": st.floats(-2.0, 1.0),
    "entropy_coef": st.floats(0.0, 0.1),
}


@st.composite
def random_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A random subset of valid fields, then (two times in three) one bad value or an unknown key."""
    data = draw(st.fixed_dictionaries({}, optional=VALID))
    kind = draw(st.sampled_from(["valid", "bad value", "unknown key"]))
    if kind == "bad value":
        data[draw(st.sampled_from(sorted(VALID)))] = draw(INVALID)
    elif kind == "unknown key":
        data[draw(st.sampled_from(["horizn", "lr", "Gamma", "inner-lr"]))] = draw(st.one_of(INVALID, st.integers()))
    return data


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=random_configs())
def test_random_configs_are_accepted_and_run_or_rejected_clearly(data: dict[str, Any]) -> None:
    try:
        cfg = TrainConfig.from_dict(data)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        named = [name for name in data if name in message]
        assert named, f"the message names none of the given fields: {message}"
        return
    tiny = dataclasses.replace(
        cfg,
        iterations=1,
        horizon=min(cfg.horizon, 8),
        meta_batch_size=min(cfg.meta_batch_size, 2),
        trajectories_per_task=min(cfg.trajectories_per_task, 2),
        physics_threads=1,
    )
    with tempfile.TemporaryDirectory() as folder:
        summary = train(tiny, Path(folder) / "run", progress=False, evaluate=False)
        assert summary is not None and summary["iterations"] == 1
        record = read_jsonl(Path(folder) / "run" / METRICS)[0]
        assert all(math.isfinite(v) for k, v in record.items() if k != "kl"), record


@pytest.mark.parametrize("optimizer", ["adam", "trpo"])
def test_pretrain_objective_runs_an_iteration(optimizer: str, tmp_path: Path) -> None:
    """Found by the property test: the pretrain objective (no support sets) crashed with IndexError."""
    summary = train(
        smoke_config(iterations=1, objective="pretrain", outer_optimizer=optimizer),
        tmp_path / "run",
        progress=False,
        evaluate=False,
    )
    assert summary["iterations"] == 1
    record = read_jsonl(tmp_path / "run" / METRICS)[0]
    assert record["support_return"] == record["query_return"]  # both sampled at theta


def test_trpo_with_a_zero_meta_gradient_takes_no_step(tmp_path: Path) -> None:
    """Found by the property test: one trajectory of one step gives standardized advantages of 0,
    a zero meta-gradient, and conjugate gradient divided 0 by 0 (a spurious NonFiniteError)."""
    cfg = smoke_config(iterations=1, outer_optimizer="trpo", trajectories_per_task=1, horizon=1)
    train(cfg, tmp_path / "run", progress=False, evaluate=False)
    record = read_jsonl(tmp_path / "run" / METRICS)[0]
    assert record["grad_norm"] == 0.0 and record["accepted_step"] == 0.0


def test_resume_keeps_the_runs_config_file(reference, tmp_path: Path) -> None:
    """Resuming never rewrites config.yaml (a different config is refused, an equal one is kept)."""
    out = tmp_path / "run"
    shutil.copytree(reference[0], out)
    before = (out / CONFIG).read_bytes()
    with pytest.raises(RunFolderError, match="differs from the run's"):
        train(smoke_config(gamma=0.9), out, resume=True)
    assert (out / CONFIG).read_bytes() == before
