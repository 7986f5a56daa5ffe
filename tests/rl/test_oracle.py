"""The paper's oracle: the task parameter appended to the observation, on both environments and both backends,
and an oracle run from configuration to its protocol row (the return at theta only)."""

from __future__ import annotations

import numpy as np
import pytest

from hw14_lib.rl.make_env import EnvSpec, make_task_vector_env
from hw14_lib.rl.tasks import Task
from hw14_lib.run.config import TrainConfig

from helpers import assert_steps_alike

TASKS = [Task("direction", direction=-1.0), Task("velocity", goal_velocity=1.25), Task("direction", direction=1.0)]


def test_task_parameter_is_the_direction_or_the_goal_velocity() -> None:
    assert [t.parameters for t in TASKS] == [(-1.0,), (1.25,), (1.0,)]


@pytest.mark.parametrize("name", ["gymnasium", "paper"])
def test_oracle_observation_is_the_plain_one_plus_the_task_parameter(name: str) -> None:
    plain = make_task_vector_env(TASKS, env=EnvSpec(name))
    oracle = make_task_vector_env(TASKS, env=EnvSpec(name, task_in_observation=True))
    size = EnvSpec(name).observation_dim
    assert oracle.single_observation_space.shape == (size + 1,) == (EnvSpec(name, True).observation_dim,)
    obs_plain, _ = plain.reset(seed=3)
    obs_oracle, _ = oracle.reset(seed=3)
    actions = np.random.default_rng(0).uniform(-1, 1, (5, len(TASKS), 6))
    for t in range(len(actions) + 1):
        np.testing.assert_array_equal(obs_oracle[:, :size], obs_plain)
        np.testing.assert_array_equal(obs_oracle[:, size], [-1.0, 1.25, 1.0])
        if t < len(actions):
            obs_plain, r_plain, *_ = plain.step(actions[t])
            obs_oracle, r_oracle, *_ = oracle.step(actions[t])
            np.testing.assert_array_equal(r_oracle, r_plain)
    new = [Task("velocity", goal_velocity=0.5)] * len(TASKS)
    oracle.set_attr("task", new)
    obs_oracle, _ = oracle.reset(seed=4)
    np.testing.assert_array_equal(obs_oracle[:, size], 0.5)  # the parameter follows set_attr
    plain.close()
    oracle.close()


def test_batched_oracle_env_matches_the_gymnasium_reference() -> None:
    spec = EnvSpec("gymnasium", task_in_observation=True)
    fast = make_task_vector_env(TASKS, env=spec)
    reference = make_task_vector_env(TASKS, env=spec, backend="gymnasium")
    assert_steps_alike(
        fast, reference, np.random.default_rng(2).uniform(-1, 1, (10, len(TASKS), 6)), seed=11, atol=1e-8
    )
    assert reference.single_observation_space.shape == (18,)
    fast.close()
    reference.close()


def test_oracle_config_needs_pretraining() -> None:
    cfg = TrainConfig(oracle=True, objective="pretrain", video=False, env="paper")
    assert cfg.observation_dim == 21 and cfg.env_spec == EnvSpec("paper", task_in_observation=True)
    assert TrainConfig(oracle=True, objective="pretrain", video=False).observation_dim == 18
    with pytest.raises(ValueError, match="config field 'objective' has value 'maml'; allowed: 'pretrain' with oracle"):
        TrainConfig(oracle=True)


@pytest.mark.slow
def test_an_oracle_run_trains_and_its_protocol_row_has_one_return(tmp_path) -> None:
    import json
    import shutil

    from hw14_lib.run.training import train

    from conftest import SMOKE, check_ok, run_cli

    cfg = TrainConfig.from_yaml(
        SMOKE, env="paper", task="velocity", ctrl_weight=0.5, video=False, oracle=True, objective="pretrain"
    )
    summary = train(cfg, tmp_path / "paper_vel_oracle", progress=False)
    assert summary is not None and np.isfinite(summary["pre_adaptation_return"])
    shutil.copytree(tmp_path / "paper_vel_oracle", tmp_path / "results" / "paper_vel_oracle")
    readme = tmp_path / "README.md"
    readme.write_text("# title\n")
    bad = run_cli("protocol", "--results", str(tmp_path / "results"), "--readme", str(readme))
    assert bad.returncode == 2 and bad.stderr.strip().endswith("block to rewrite"), bad.stderr
    readme.write_text("before\n<!-- table.json -->\nold\n<!-- /table.json -->\nafter\n")
    root = str(tmp_path / "results")
    check_ok(run_cli("protocol", "--results", root, "--physics-threads", "1", "--readme", str(readme)))
    text = readme.read_text()
    assert text.startswith("before\n<!-- table.json -->\n| env | T |") and "old" not in text
    assert f"| paper | {cfg.horizon} | velocity | **oracle** | 1 |" in text
    assert text.endswith("<!-- /table.json -->\nafter\n")
    record = json.loads((tmp_path / "results" / "protocol" / "paper_vel_oracle.json").read_text())
    assert record["method"] == "oracle" and record["step_sizes"] == [] and len(record["returns"]) == 1
    assert len(record["returns"][0]) == 40
    (row,) = json.loads((tmp_path / "results" / "table.json").read_text())
    assert (row["env"], row["family"], row["method"]) == ("paper", "velocity", "oracle")
    assert len(row["returns"]) == 1 and row["returns"][0] == pytest.approx(np.mean(record["returns"][0]))
