"""The MAML paper's evaluation protocol: 40 test tasks of their own, a support batch each, mean ± s.e.m. over
tasks, ± std over seeds (``hw14_lib.study.protocol``, ``python -m hw14_lib protocol``, ``results/table.json``)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hw14_lib.common.seeds import PROTOCOL_SEED_OFFSET
from hw14_lib.report.numbers import PRETRAINED_STEP_SIZES
from hw14_lib.rl.task_families import TaskDistribution, sample_tasks
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.training import make_policy
from hw14_lib.study.protocol import evaluate_protocol, table_row
from hw14_lib.study.protocol_runs import step_schedule, write_table

from conftest import run_cli


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_protocol_draws_its_own_tasks_and_reports_the_standard_error() -> None:
    cfg = TrainConfig(task="velocity", horizon=15, seed=3, init_log_std=-1.0)
    policy = make_policy(cfg)
    result = evaluate_protocol(cfg, policy, alpha=0.1, later_scale=0.5, tasks=5)
    returns = np.asarray(result["returns"])
    assert returns.shape == (4, 5) and result["step_sizes"] == [0.1, 0.05, 0.05]
    np.testing.assert_allclose(result["mean"], returns.mean(1))
    np.testing.assert_allclose(result["sem"], returns.std(1, ddof=1) / math.sqrt(5))
    expected = sample_tasks(5, np.random.default_rng(3 + PROTOCOL_SEED_OFFSET), distribution="velocity")
    assert result["tasks"] == [t.label() for t in expected]
    held_out = TaskDistribution("velocity").evaluation(5, seed=3 + 10_000)
    assert result["tasks"] != [t.label() for t in held_out], "the protocol's tasks are not the final evaluation's"
    again = evaluate_protocol(cfg, policy, alpha=0.1, later_scale=0.5, tasks=5)
    assert again["returns"] == result["returns"]  # seeded
    with pytest.raises(ValueError, match="single task"):
        evaluate_protocol(TrainConfig(), policy, alpha=0.1, later_scale=1.0)
    with pytest.raises(ValueError, match="later_scale=-1"):
        evaluate_protocol(cfg, policy, alpha=0.1, later_scale=-1.0, tasks=5)


def test_a_policy_with_learned_step_sizes_is_evaluated_with_them() -> None:
    cfg = TrainConfig(task="velocity", horizon=15, seed=3, init_log_std=-1.0, learned_step_sizes="per_tensor",
                      inner_steps=2)  # fmt: skip
    policy = make_policy(cfg)
    per_step = len(policy.inner_step_sizes.names)
    with torch.no_grad():
        for j, log_alpha in enumerate(policy.inner_step_sizes.log_alpha):
            log_alpha.fill_(math.log(0.02 if j < per_step else 0.3))  # step 0: 0.02, step 1 (and later): 0.3
    result = evaluate_protocol(cfg, policy, alpha=0.1, later_scale=0.5, tasks=3)
    assert result["learned_step_sizes"] and result["step_sizes"] == pytest.approx([0.02, 0.3, 0.3], rel=1e-6)
    other = evaluate_protocol(cfg, policy, alpha=5.0, later_scale=0.0, tasks=3)
    assert other["returns"] == result["returns"]  # alpha and c are not used
    plain = make_policy(dataclasses.replace(cfg, learned_step_sizes="none"))
    schedule = evaluate_protocol(cfg, plain, alpha=0.02, later_scale=15.0, tasks=3)  # 0.02, then 0.3
    np.testing.assert_array_equal(schedule["returns"][:2], result["returns"][:2])
    # alpha = exp(log alpha) in float32 differs from 0.3 in the 8th digit, and the sampler's batched per-task
    # product rounds in float32; the chaotic rollouts amplify both a little (1.2e-3 here)
    np.testing.assert_allclose(schedule["returns"], result["returns"], rtol=5e-3)


def test_table_row_combines_seeds_by_hand() -> None:
    evaluations = [
        {"mean": [1.0, 4.0], "sem": [0.5, 1.0], "step_sizes": [0.1], "test_tasks": 40, "trajectories": 20,
         "horizon": 200},
        {"mean": [3.0, 8.0], "sem": [1.5, 3.0], "step_sizes": [0.1], "test_tasks": 40, "trajectories": 20,
         "horizon": 200},
    ]  # fmt: skip
    row = table_row(env="gymnasium", family="direction", method="maml", evaluations=evaluations, env_steps=[10, 30])
    assert row["returns"] == [2.0, 6.0] and row["sem_over_tasks"] == [1.0, 2.0]
    assert row["std_over_seeds"] == pytest.approx([math.sqrt(2.0), math.sqrt(8.0)])
    assert (row["seeds"], row["env_steps_per_seed"], row["test_tasks"]) == (2, 20, 40)
    oracle = table_row(env="paper", family="velocity", method="oracle", evaluations=evaluations[:1], env_steps=[5])
    assert oracle["returns"] == [1.0] and oracle["std_over_seeds"] == [0.0]
    with pytest.raises(ValueError, match="method='best'"):
        table_row(env="gymnasium", family="direction", method="best", evaluations=evaluations, env_steps=[1])


def test_later_step_size_is_chosen_on_validation_tasks_only(tmp_path: Path) -> None:
    studies = tmp_path / "later_steps"
    studies.mkdir()

    def study(run: str, validation: bool, by_scale: dict[float, float], alpha: float | None = None) -> None:
        rows = [{"scale": c, "mean_stochastic": [0.0, v, v], "stochastic": [[0.0], [v], [v]]}
                for c, v in by_scale.items()]  # fmt: skip
        data = {"run": run, "validation": validation, "config": {"task": "velocity"}, "rows": rows, "alpha": alpha}
        name = f"{run}{'' if alpha is None else f'_alpha{alpha:g}'}{'_validation' if validation else ''}"
        (studies / f"{name}.json").write_text(json.dumps(data))

    study("vel_maml_s0", True, {1.0: -80.0, 0.25: -60.0})
    study("vel_maml_s1", True, {1.0: -70.0, 0.25: -75.0})  # mean: c = 1 -> -75, c = 0.25 -> -67.5
    study("vel_maml_s0", False, {1.0: 0.0, 0.25: -500.0})  # held-out: must not be looked at
    vel_maml = {"vel_maml_s0", "vel_maml_s1", "vel_maml_s2"}  # a row: the runs whose studies choose together
    alpha, scale, why = step_schedule(tmp_path, vel_maml, "maml", 0.1)
    assert (alpha, scale) == (0.1, 0.25) and "2 seeds" in why
    for alpha, one_step in ((0.003, -90.0), (0.01, -85.0), (0.025, -88.0)):
        study("vel_pretrained", True, {1.0: one_step}, alpha=alpha)
    study("vel_pretrained", False, {1.0: 0.0}, alpha=0.003)  # held-out: must not be looked at
    study("paper_vel_pretrained", True, {1.0: -50.0}, alpha=0.5)  # another environment's
    assert step_schedule(tmp_path, {"vel_pretrained"}, "pretrained", 0.1)[:2] == (PRETRAINED_STEP_SIZES["vel"], 1.0)
    assert step_schedule(tmp_path, {"paper_vel_pretrained"}, "pretrained", 0.1)[:2] == (0.5, 1.0)
    assert step_schedule(tmp_path, {"dir_pretrained"}, "pretrained", 0.1)[:2] == (0.1, 1.0)  # no study: MAML's alpha
    assert step_schedule(tmp_path, {"vel_oracle"}, "oracle", 0.1)[:2] == (0.1, 1.0)
    assert step_schedule(tmp_path, {"dir_maml_s0"}, "maml", 0.1)[:2] == (0.1, 1.0)  # no direction study here
    assert step_schedule(tmp_path, {"paper_vel_maml_s0"}, "maml", 0.1)[:2] == (0.1, 1.0)  # not another env's


def test_table_file_groups_runs_by_method_in_order(tmp_path: Path) -> None:
    base = {"env": "gymnasium", "family": "direction", "step_sizes": [0.1, 0.1, 0.1], "test_tasks": 40,
            "trajectories": 20, "horizon": 200, "env_steps": 100}  # fmt: skip
    records = [
        {**base, "method": "random", "mean": [0.0] * 4, "sem": [1.0] * 4},
        {**base, "method": "maml", "mean": [1.0] * 4, "sem": [1.0] * 4},
        {**base, "method": "maml", "mean": [3.0] * 4, "sem": [1.0] * 4},
    ]
    rows = json.loads(write_table(tmp_path, records).read_text())
    assert [(r["method"], r["seeds"], r["returns"][0]) for r in rows] == [("maml", 2, 2.0), ("random", 1, 0.0)]


@pytest.mark.slow
def test_protocol_command_refuses_an_unknown_run_in_one_line(tmp_path: Path) -> None:
    result = run_cli("protocol", "--results", str(tmp_path), "--only", "backward")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "backward: not a protocol run folder" in result.stderr
    assert not (tmp_path / "table.json").exists()


def test_committed_table_has_a_row_per_family_and_method() -> None:
    from conftest import REPO

    path = REPO / "results" / "table.json"
    if not path.is_file():
        pytest.skip("results/table.json is written by `python -m hw14_lib protocol`")
    rows = json.loads(path.read_text())
    keys = {"env", "family", "method", "seeds", "test_tasks", "trajectories", "horizon", "env_steps_per_seed",
            "returns", "std_over_seeds", "sem_over_tasks"}  # fmt: skip
    assert all(keys <= row.keys() for row in rows)
    assert all(row["test_tasks"] == 40 and row["trajectories"] == 20 for row in rows)
    found = {(row["family"], row["method"]) for row in rows}
    assert {("direction", "maml"), ("velocity", "maml")} <= found
