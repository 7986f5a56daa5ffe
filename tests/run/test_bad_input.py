"""Bad input (a config, a key, a value, a policy file, a run folder): one line ``error: ...``, exit status 2,
nothing written; the same messages from the library's own functions."""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from hw14_lib.cli import main
from hw14_lib.rl.make_env import make_task_vector_env
from hw14_lib.rl.policy import GaussianMLPPolicy, load_policy, policy_params, save_policy
from hw14_lib.rl.sampling import sample_trajectories
from hw14_lib.rl.tasks import Task
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.run_folder import CHECKPOINT
from hw14_lib.run.training import train

from conftest import SMOKE, run_cli, smoke_config, snapshot, train_argv

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


@pytest.mark.slow
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


@pytest.mark.slow
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
