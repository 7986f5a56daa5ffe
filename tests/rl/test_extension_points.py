"""A new task family and a new method are each one file under ``tests/`` (:mod:`toy_family`, :mod:`toy_method`) and
the registry and catalogue entries those files make: a toy family (two goal velocities) and a toy method (plain
gradient descent as the outer step) train, evaluate with the MAML paper's protocol and fill their rows of
``table.json`` through the library's ordinary entry points, with no library file changing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import toy_family
import toy_method

from hw14_lib.cli import main
from hw14_lib.common import catalogue
from hw14_lib.run.config import TrainConfig
from hw14_lib.study import experiments
from hw14_lib.study.experiment_runs import run_experiment
from hw14_lib.study.experiments import Experiment

from conftest import SMOKE


@pytest.mark.slow
def test_a_toy_family_and_a_toy_meta_learner_train_and_evaluate(tmp_path, monkeypatch) -> None:
    from hw14_lib.run.training import train

    toy_family.register(monkeypatch, entry=False)
    toy_method.register(monkeypatch, method=False)
    cfg = TrainConfig.from_yaml(SMOKE, task=toy_family.NAME, **toy_method.METHOD.overrides)
    assert cfg.meta_learner_settings == toy_method.SGDSettings(lr=0.05, momentum=0.5)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary is not None and np.isfinite(summary["adaptation_curve"]["mean_stochastic"]).all()
    assert set(summary["adaptation_curve"]["tasks"]) <= {f"v={g:.2f}" for g in toy_family.GOALS}
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["optimizer"] == {"steps": cfg.iterations}


@pytest.mark.slow
def test_their_runs_are_evaluated_with_the_protocol_and_fill_their_table_rows(tmp_path, monkeypatch, capsys) -> None:
    toy_family.register(monkeypatch)
    toy_method.register(monkeypatch)
    config = str(SMOKE)  # velocity tasks, two per meta-batch, horizon 20
    runs = (
        Experiment(f"{toy_family.SHORT}_maml_s0", config, {"task": toy_family.NAME}, method=catalogue.REFERENCE),
        Experiment(f"vel_{toy_method.NAME}_s0", config, dict(toy_method.METHOD.overrides), method=toy_method.NAME),
    )
    monkeypatch.setattr(experiments, "EXPERIMENTS", (*experiments.EXPERIMENTS, *runs))
    root = tmp_path / "results"
    for exp in runs:
        assert run_experiment(exp, root, progress=False, physics_threads=1)
    assert main(["protocol", "--results", str(root), "--physics-threads", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    rows = json.loads((root / "table.json").read_text(encoding="utf-8"))
    keys = {(r["family"], r["method"]): r for r in rows}
    assert set(keys) == {(toy_family.NAME, catalogue.REFERENCE), ("velocity", toy_method.NAME)}
    for row in rows:
        assert row["seeds"] == 1 and row["test_tasks"] == 40 and len(row["returns"]) == 4
        assert np.isfinite(row["returns"]).all()
    assert keys[("velocity", toy_method.NAME)]["step_sizes"] == [0.1, 0.1, 0.1]  # the run's alpha, c = 1
    record = json.loads((root / "protocol" / f"{runs[0].name}.json").read_text(encoding="utf-8"))
    assert {label for label in record["tasks"]} <= {f"v={g:.2f}" for g in toy_family.GOALS}


def test_a_setting_the_meta_learner_does_not_have_is_refused(monkeypatch) -> None:
    toy_method.register(monkeypatch, method=False)
    with pytest.raises(
        ValueError, match=r"'outer_settings' has key 'nesterov'; allowed for outer_optimizer 'sgd': 'mom"
    ):
        TrainConfig(outer_optimizer=toy_method.NAME, outer_settings={"nesterov": True})
    with pytest.raises(
        ValueError, match=r"'outer_settings' has key 'momentum'; allowed for outer_optimizer 'trpo': none"
    ):
        TrainConfig(outer_optimizer="trpo", outer_settings={"momentum": 0.9})
    with pytest.raises(TypeError, match=r"'outer_settings' has value \[1\] of type list; expected a mapping"):
        TrainConfig(outer_settings=[1])


def test_without_their_entries_the_configuration_refuses_them() -> None:
    with pytest.raises(ValueError, match=r"config field 'task' has value 'two_speeds'"):
        TrainConfig(task=toy_family.NAME)
    with pytest.raises(ValueError, match=r"config field 'outer_optimizer' has value 'sgd'; allowed: one of 'adam'"):
        TrainConfig(outer_optimizer=toy_method.NAME)
