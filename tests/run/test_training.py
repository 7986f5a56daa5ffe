"""Configuration basics, determinism of a smoke run, and smoke runs of every command-line entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hw14_lib import TrainConfig, cli
from hw14_lib.run.training import train

from conftest import REPO, SMOKE, check_ok, run_cli

RUN_FILES = (
    "config.yaml",
    "metrics.jsonl",
    "checkpoint.pt",
    "summary.json",
    "policy.pt",
    "meta_loss.png",
    "query_return.png",
)
METRIC_KEYS = {"iteration", "meta_loss", "support_return", "query_return", "env_steps", "wall_seconds"}


def run_ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m hw14_lib ARGS`` in ``cwd`` (never the repository, so nothing can litter it), which must succeed."""
    return check_ok(run_cli(*args, cwd=cwd))


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def without_wall_time(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in records]


# ---------------------------------------------------------------------------------------------------
# TrainConfig (the full bad-input suite lives elsewhere)
# ---------------------------------------------------------------------------------------------------
def test_config_defaults_are_the_seeds() -> None:
    cfg = TrainConfig()
    assert (cfg.inner_lr, cfg.outer_lr, cfg.weight_decay, cfg.inner_l2) == (0.1, 3e-4, 1e-4, 1e-3)
    assert (cfg.meta_batch_size, cfg.horizon, cfg.gamma) == (5, 200, 0.99)
    assert cfg.env_steps_per_iteration == 5 * 20 * 200 * 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("gamma", 0.0), ("gamma", 1.5), ("horizon", 1001), ("task", "sideways"), ("inner_lr", -0.1), ("iterations", 0)],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        TrainConfig(**{field: value})


def test_config_rejects_wrong_types_and_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="'iterations'"):
        TrainConfig(iterations="3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'learning_rate'"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(FileNotFoundError):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")


def test_config_is_frozen_and_round_trips() -> None:
    cfg = TrainConfig.from_yaml(SMOKE)
    with pytest.raises(AttributeError):
        cfg.gamma = 0.5  # type: ignore[misc]
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_yaml(SMOKE, seed=3).seed == 3


# ---------------------------------------------------------------------------------------------------
# Smoke runs
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_train_writes_the_run_folder(smoke_cli_run) -> None:
    out, result = smoke_cli_run
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    metrics = read_metrics(out / "metrics.jsonl")
    assert len(metrics) == 3
    assert [m["iteration"] for m in metrics] == [1, 2, 3]
    cfg = TrainConfig.from_yaml(SMOKE)
    steps_per_iteration = cfg.meta_batch_size * cfg.trajectories_per_task * cfg.horizon * (cfg.inner_steps + 1)
    assert [m["env_steps"] for m in metrics] == [steps_per_iteration * k for k in (1, 2, 3)]
    for record in metrics:
        assert METRIC_KEYS <= set(record)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert isinstance(summary["pre_adaptation_return"], float)
    assert isinstance(summary["post_adaptation_return"], float)
    assert summary["config"] == cfg.to_dict()
    assert summary["env_steps"] == metrics[-1]["env_steps"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert summary["code"]["commit"] == head and isinstance(summary["code"]["modified"], bool)  # the code's version
    for name in ("meta_loss.png", "query_return.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in result.stdout
    assert "before adaptation" in result.stdout
    assert not (out.parent / "MUJOCO_LOG.TXT").exists()


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(smoke_cli_run, tmp_path: Path) -> None:
    """An in-process run repeats the command-line run exactly (every field but the wall time)."""
    out, _ = smoke_cli_run
    cfg = TrainConfig.from_yaml(SMOKE)
    train(cfg, tmp_path / "again", progress=False, evaluate=False)
    first = read_metrics(out / "metrics.jsonl")
    second = read_metrics(tmp_path / "again" / "metrics.jsonl")
    assert without_wall_time(first) == without_wall_time(second)

    train(TrainConfig.from_yaml(SMOKE, seed=1), tmp_path / "other", progress=False, evaluate=False)
    other = read_metrics(tmp_path / "other" / "metrics.jsonl")
    assert len(other) == len(first)
    for a, b in zip(first, other, strict=True):
        assert a["query_return"] != b["query_return"] and a["meta_loss"] != b["meta_loss"]


@pytest.mark.slow
def test_cli_evaluate(smoke_cli_run) -> None:
    out, _ = smoke_cli_run
    result = run_ok("evaluate", "--policy", str(out / "policy.pt"), "--steps", "1", cwd=out.parent)
    lines = [line for line in result.stdout.splitlines() if "return" in line]
    assert any(line.startswith("after 0 step(s)") for line in lines), result.stdout
    assert any(line.startswith("after 1 step(s)") for line in lines), result.stdout
    for line in lines:
        float(line.split("deterministic return")[1].split()[0])  # a number is printed


@pytest.mark.slow
def test_cli_evaluate_later_scale(smoke_cli_run) -> None:
    out, _ = smoke_cli_run

    def returns(*extra: str) -> list[str]:
        result = run_ok("evaluate", "--policy", str(out / "policy.pt"), "--steps", "2", *extra, cwd=out.parent)
        return [line for line in result.stdout.splitlines() if line.startswith("after ")]

    default, ones, quarter = returns(), returns("--later-scale", "1"), returns("--later-scale", "0.25")
    assert len(default) == 3 and ones == default  # C = 1 is the default protocol
    assert quarter[:2] == default[:2] and quarter[2] != default[2]  # only the second step changes
    bad = subprocess.run(
        [sys.executable, "-m", "hw14_lib", "evaluate", "--policy", str(out / "policy.pt"), "--later-scale", "-1"],
        cwd=out.parent, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "--later-scale -1.0 must be a finite number >= 0" in bad.stderr


@pytest.mark.slow
def test_cli_plot(smoke_cli_run, tmp_path: Path) -> None:
    out, _ = smoke_cli_run
    copy = tmp_path / "runs" / "copy"
    copy.mkdir(parents=True)
    shutil.copy(out / "metrics.jsonl", copy / "metrics.jsonl")
    result = run_ok("plot", str(tmp_path / "runs"), cwd=tmp_path)
    assert "plotted 1 run(s)" in result.stdout
    assert "comparison" not in result.stdout  # no results/ folder here: nothing to compare
    for name in ("meta_loss.png", "query_return.png"):
        assert (copy / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_cli_plot_writes_the_comparison_figures(smoke_cli_run, tmp_path: Path) -> None:
    out, _ = smoke_cli_run
    run = tmp_path / "results" / "dir_maml_s0"
    run.mkdir(parents=True)
    shutil.copy(out / "metrics.jsonl", run / "metrics.jsonl")
    result = run_ok("plot", str(tmp_path / "results"), "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert "wrote 6 comparison figure(s)" in result.stdout, result.stdout
    figures = tmp_path / "results" / "figures"
    names = {"fig_learning_dir.png", "fig_learning_vel.png", "fig_adaptation_dir.png", "fig_adaptation_vel.png"}
    for name in names | {"fig_ablations.png", "fig_later_steps.png"}:
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Direction has a run to draw, velocity only a placeholder: the two figures must differ.
    assert (figures / "fig_learning_dir.png").read_bytes() != (figures / "fig_learning_vel.png").read_bytes()


def _subparsers() -> dict:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return action.choices


EXPECTED_OPTIONS = {
    "train": {"--config", "--out", "--resume", "--overwrite", "--set", "--no-progress", "--no-eval"},
    "evaluate": {"--policy", "--config", "--steps", "--later-scale", "--video", "--json"},
    "plot": {"roots", "--results"},
    "protocol": {"--results", "--only", "--overwrite", "--physics-threads"},
}


@pytest.mark.parametrize("command", sorted(EXPECTED_OPTIONS))
def test_help_mentions_every_option(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    subparser = _subparsers()[command]
    documented = set()
    for action in subparser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{command}: {action.option_strings or action.dest} has no help text"
        documented |= set(action.option_strings) or {action.dest}
    assert EXPECTED_OPTIONS[command] <= documented
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in documented:
        assert option in text, option


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in EXPECTED_OPTIONS:
        assert command in text


def test_make_policy_is_seeded_by_the_config_and_leaves_the_global_rng_alone() -> None:
    import torch

    from hw14_lib.rl.envs import ACT_DIM, OBS_DIM
    from hw14_lib.rl.policy import GaussianMLPPolicy
    from hw14_lib.run.training import make_policy

    cfg = TrainConfig(seed=7, hidden_sizes=(16, 16), init_log_std=-1.0)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    policy = make_policy(cfg)
    assert torch.equal(torch.random.get_rng_state(), before)

    # The initialization of the committed runs: the global generator seeded with cfg.seed.
    torch.manual_seed(cfg.seed)
    reference = GaussianMLPPolicy(OBS_DIM, ACT_DIM, hidden_sizes=(16, 16), init_log_std=-1.0)
    for (name, p), (_, q) in zip(policy.named_parameters(), reference.named_parameters(), strict=True):
        assert torch.equal(p, q), name
    other = make_policy(TrainConfig(seed=8, hidden_sizes=(16, 16)))
    assert not torch.equal(other.body[0].weight, policy.body[0].weight)


def test_code_version_sees_a_change_anywhere_in_the_package(tmp_path) -> None:
    """The recorded code version reports a change in any sub-package of the folder it watches (it once watched only
    ``run/``, so a change in ``rl/`` went unrecorded), and the folder it watches is the whole package."""
    import subprocess

    from hw14_lib.run.run_identity import PACKAGE, code_version

    assert PACKAGE.name == "hw14_lib" and (PACKAGE / "rl").is_dir()
    package = tmp_path / "pkg"
    (package / "rl").mkdir(parents=True)
    (package / "rl" / "a.py").write_text("x = 1\n", encoding="utf-8")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    assert code_version(package)["modified"] is False
    (package / "rl" / "a.py").write_text("x = 2\n", encoding="utf-8")
    assert code_version(package)["modified"] is True
