"""The experiment list of ``make results`` and the interim evaluation of an unfinished run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hw14_lib.cli import main
from hw14_lib.rl.policy import load_policy
from hw14_lib.run.evaluation import evaluate_meta_policy
from hw14_lib.run.run_folder import CHECKPOINT, POLICY
from hw14_lib.run.training import train
from hw14_lib.study.experiment_runs import evaluate_interim, run_experiment, write_status
from hw14_lib.study.experiments import EXPERIMENTS, Experiment, experiment_by_name

from conftest import REPO, run_cli


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # experiment configs are paths relative to the repository


def test_every_experiment_has_a_valid_config_and_a_unique_name() -> None:
    names = [exp.name for exp in EXPERIMENTS]
    assert len(names) == len(set(names))
    for exp in EXPERIMENTS:
        exp.load_config()  # raises on a bad field
    seeds = [experiment_by_name(f"dir_maml_s{s}").load_config().seed for s in range(3)]
    assert seeds == [0, 1, 2]
    with pytest.raises(ValueError, match="known: backward"):
        experiment_by_name("nope")


@pytest.mark.parametrize("family", ["dir", "vel"])
def test_the_pretrained_baseline_gets_the_maml_run_s_env_step_budget(family: str) -> None:
    maml = experiment_by_name(f"{family}_maml_s0").load_config()
    pretrained = experiment_by_name(f"{family}_pretrained").load_config()
    per_batch = maml.meta_batch_size * maml.trajectories_per_task * maml.horizon
    # A MAML iteration samples a support and a query set per task; pretraining samples one set.
    assert maml.iterations * 2 * per_batch == pretrained.iterations * per_batch
    assert pretrained.objective == "pretrain" and maml.objective == "maml"


@pytest.mark.slow
def test_interim_evaluation_is_the_final_protocol_on_the_last_checkpoint(tmp_path: Path) -> None:
    exp = Experiment("smoke_interim", "configs/smoke.yaml")
    cfg = exp.load_config()
    out = tmp_path / exp.name
    train(cfg, out, progress=False, evaluate=False)
    (out / "summary.json").unlink()  # as if stopped after its last iteration, before the final evaluation
    assert evaluate_interim(exp, tmp_path, physics_threads=1) is not None
    interim = json.loads((out / "interim_summary.json").read_text())

    checkpoint = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)
    reference, _, _ = evaluate_meta_policy(cfg, load_policy(out / POLICY))  # the trained policy, saved apart
    assert interim["interim"] is True and interim["iterations"] == cfg.iterations
    assert interim["env_steps"] == checkpoint["env_steps"]
    assert interim["adaptation_curve"] == json.loads(json.dumps(reference["adaptation_curve"]))

    assert run_experiment(exp, tmp_path, progress=False, physics_threads=1)  # resumes: only the evaluation is left
    assert json.loads((out / "summary.json").read_text())["adaptation_curve"] == interim["adaptation_curve"]
    assert not (out / "interim_summary.json").exists()  # superseded, so no stale file stays beside the summary
    assert evaluate_interim(exp, tmp_path, physics_threads=1) is None  # a finished run is not re-evaluated


def test_status_lists_every_experiment_with_its_progress(tmp_path: Path) -> None:
    folder = tmp_path / "dir_maml_s1"
    folder.mkdir()
    lines = [{"iteration": i, "env_steps": 160_000 * i} for i in (1, 2, 3)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[1:]
        for line in write_status(tmp_path).read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| experiment")
    }
    assert set(rows) == {exp.name for exp in EXPERIMENTS}
    assert rows["dir_maml_s1"] == ["in progress", "3/500", "480,000 |"]
    assert rows["backward"][0] == "not started"


@pytest.mark.slow
def test_later_steps_repeats_the_final_evaluation_and_changes_only_later_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = Experiment("smoke_later", "configs/smoke.yaml", {"eval_adaptation_steps": 3})
    out = tmp_path / exp.name
    summary = train(exp.load_config(), out, progress=False)
    assert (
        main(["later-steps", str(out), "--scales", "1,0.5", "--out", str(tmp_path / "ls"), "--physics-threads", "1"])
        == 0
    )
    rows = json.loads((tmp_path / "ls" / f"{exp.name}.json").read_text())["rows"]

    assert [r["scale"] for r in rows] == [1.0, 0.5]
    assert rows[1]["step_sizes"] == pytest.approx([0.1, 0.05, 0.05])
    final = summary["adaptation_curve"]
    assert rows[0]["stochastic"] == final["stochastic"]  # c = 1 is the final evaluation, bit for bit
    assert rows[0]["mean_deterministic"] == final["mean_deterministic"]
    assert rows[1]["stochastic"][:2] == final["stochastic"][:2]  # same seeds: k = 0, 1 do not depend on c
    assert rows[1]["stochastic"][2:] != final["stochastic"][2:]

    argv = ["later-steps", str(out), "--scales", "1", "--validation", "--out", str(tmp_path / "ls")]
    assert main([*argv, "--physics-threads", "1", "--no-progress"]) == 0
    validation = json.loads((tmp_path / "ls" / f"{exp.name}_validation.json").read_text())
    assert validation["validation"] is True and validation["config"] == exp.load_config().to_dict()
    assert validation["rows"][0]["tasks"] != final["tasks"]  # other goal velocities than the held-out ones

    argv = ["later-steps", str(out), "--scales", "1", "--alpha", "0.02", "--out", str(tmp_path / "ls")]
    assert main([*argv, "--physics-threads", "1", "--no-progress"]) == 0
    replaced = json.loads((tmp_path / "ls" / f"{exp.name}_alpha0.02.json").read_text())
    assert replaced["alpha"] == 0.02 and replaced["rows"][0]["step_sizes"] == pytest.approx([0.02] * 3)
    assert replaced["rows"][0]["stochastic"][0] == final["stochastic"][0]  # k = 0 does not depend on alpha
    assert replaced["rows"][0]["stochastic"][1] != final["stochastic"][1]

    assert main(["later-steps", str(out), "--scales", "1,-0.5", "--out", str(tmp_path / "bad")]) == 2
    assert "scale -0.5 must be a finite number >= 0" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_later_steps_rejects_bad_input_before_evaluating(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["later-steps", str(tmp_path), "--scales", "1,half"]) == 2
    assert "--scales '1,half' must be comma-separated numbers" in capsys.readouterr().err
    assert main(["later-steps", str(tmp_path)]) == 2
    assert f"{tmp_path / 'config.yaml'} does not exist; is {tmp_path} a finished run folder?" in capsys.readouterr().err
    assert main(["later-steps", str(tmp_path), "--alpha", "0"]) == 2
    assert "--alpha 0.0 must be a finite number > 0" in capsys.readouterr().err
    assert main(["later-steps", str(tmp_path)]) == 2
    assert f"{tmp_path / 'config.yaml'} does not exist; is {tmp_path} a finished run folder?" in capsys.readouterr().err


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (read from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_a_failed_job_stops_the_others_and_leaves_no_orphan(tmp_path: Path) -> None:
    root = tmp_path / "grid"
    (root / "smoke_s0").mkdir(parents=True)
    (root / "smoke_s0" / CHECKPOINT).write_bytes(b"not a checkpoint")  # smoke_s0 fails at once
    result = run_cli("results", "--suite", "smoke", "--root", str(root), "--jobs", "2", "--no-progress")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: experiment smoke_s0 failed") and "resume" in last, result.stderr
    assert not _processes_mentioning(str(root)), "a child of results --jobs kept running"
