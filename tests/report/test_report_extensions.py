"""The numbers and figure of issue 23's additions (``hw14_lib.report.extensions``) against hand computations:
when a learning curve reaches a target, the seeds whose protocol returns rise at every step, the learned step
sizes, and the dynamics family's gap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hw14_lib.report.extensions import (
    BUDGET_FRACTION,
    extension_facts,
    extension_figure,
    extension_numbers,
    extension_text,
    mean_curve,
    steps_to_reach,
)
from hw14_lib.report.tex import NA, NumberSheet
from hw14_lib.run.run_folder import Run

STEPS = 320_000  # env steps per iteration of the fake runs


def metrics(query: list[float] | np.ndarray, **fields: float) -> list[dict]:
    return [
        {"iteration": i + 1, "env_steps": (i + 1) * STEPS, "query_return": float(q), **fields}
        for i, q in enumerate(query)
    ]


def run(name: str, query, *, task: str = "direction", finished: bool = True, **fields: float) -> Run:
    """A paper-environment run of ``task``; the registry names its method (the report reads no folder name)."""
    config = {"env": "paper", "task": task, "horizon": 200}
    return Run(name, config, metrics(query, **fields), {"adaptation_curve": {}} if finished else None)


def test_steps_to_reach_is_the_first_full_window_of_the_seed_mean_at_the_threshold() -> None:
    rng = np.random.default_rng(0)
    seeds = [np.cumsum(rng.normal(2.0, 6.0, size=n)) for n in (40, 37, 45)]
    records = [metrics(s) for s in seeds]
    mean = np.mean([s[:37] for s in seeds], axis=0)  # the iterations every seed reached
    steps, values = mean_curve(records)
    assert len(values) == 37 - 2 and steps[0] == 3 * STEPS
    for threshold in (-5.0, 20.0, 50.0, 1e9):
        naive = next(
            ((t + 1) * STEPS for t in range(2, 37) if (mean[t - 2] + mean[t - 1] + mean[t]) / 3 >= threshold), None
        )
        assert steps_to_reach(records, threshold) == naive
    assert steps_to_reach([metrics([1000.0, 0.0, 0.0, 0.0])], 400.0) is None  # one lucky iteration is not enough


def write_protocol(folder: Path, name: str, mean: list[float]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"run": name, "mean": mean}))


def test_extension_facts_and_numbers_from_runs_protocol_files_and_table_rows(tmp_path: Path) -> None:
    ramp = np.linspace(0.0, 400.0, 50)  # crosses the paper's 293.2 (its mean over 3 iterations) at iteration 38
    runs = {
        "paper_dir_maml_s0": run("paper_dir_maml_s0", ramp),
        "paper_dir_maml_s1": run("paper_dir_maml_s1", ramp + 10.0),
        "paper_dir_maml_lslr_s0": run("paper_dir_maml_lslr_s0", ramp / 4, alpha_0=0.1, alpha_1=0.3, alpha_2=0.2),
        "paper_dir_maml_lslr_s1": run("paper_dir_maml_lslr_s1", ramp / 4, alpha_0=0.2, alpha_1=0.1, alpha_2=0.4),
        "paper_dir_maml_lslr_s2": run("paper_dir_maml_lslr_s2", ramp[:9], finished=False, alpha_0=9.0),  # training
        "paper_vel_promp_s0": run("paper_vel_promp_s0", np.full(10, -90.0), task="velocity"),
    }
    protocol = tmp_path / "protocol"
    write_protocol(protocol, "paper_dir_maml_lslr_s0", [-50.0, 200.0, 250.0, 260.0])
    write_protocol(protocol, "paper_dir_maml_lslr_s1", [-50.0, 200.0, 250.0, 240.0])
    write_protocol(protocol, "paper_dir_maml_lslr_s10_validation", [0.0, 9.0])  # not a seed's record
    rows = [
        {"env": "paper", "horizon": 200, "family": "dynamics", "method": m, "returns": r}
        for m, r in (("maml", [10.0, 150.0]), ("pretrained", [20.0, 110.5]))
    ]
    facts = extension_facts(runs, rows, protocol)
    mean = ramp + 5.0
    first = next(t for t in range(2, 50) if mean[t - 2 : t + 1].mean() >= 293.2)
    maml = facts.curves["dir", "maml"]
    assert maml.seeds == 2 and maml.reach == (first + 1) * STEPS
    budget = BUDGET_FRACTION * 32e6  # the last iteration within 8 M steps: 25
    assert maml.at_budget == pytest.approx(mean[22:25].mean()) and budget // STEPS == 25
    assert maml.best == pytest.approx(mean[-3:].mean())
    assert facts.curves["dir", "maml_lslr"].reach is None and facts.curves["dir", "maml_lslr"].seeds == 2
    assert ("vel", "maml") not in facts.curves and facts.curves["vel", "promp"].at_budget == pytest.approx(-90.0)
    assert facts.rising == {"dir": (1, 2)}
    assert facts.step_sizes["dir"] == pytest.approx([0.15, 0.2, 0.3])  # finished seeds only
    assert facts.dynamics_gap == pytest.approx(39.5)

    sheet = NumberSheet()
    extension_numbers(sheet, facts)
    assert sheet.values["ext.dir.maml.reach"] == f"{(first + 1) * STEPS / 1e6:.1f}"
    assert sheet.values["ext.dir.maml-lslr.reach"] == "not reached"
    assert sheet.values["ext.dir.maml.reach-phrase"] == rf"at {(first + 1) * STEPS / 1e6:.1f}\,M env steps"
    assert sheet.values["ext.dir.maml-lslr.reach-phrase"] == r"not within its 16\,M env steps"  # 50 x 320 000
    assert sheet.values["ext.vel.maml.reach"] == NA  # no run: not available, not "not reached"
    assert sheet.values["ext.dir.lslr.rising"] == "1 of 2" and sheet.values["ext.vel.lslr.rising"] == NA
    assert sheet.values["ext.dir.lslr.alpha"] == "0.150, 0.200, 0.300"
    assert sheet.values["ext.dyn.gap"] == "39.5" and sheet.values["ext.dir.quarter"] == "8"
    text = extension_text(facts)
    assert "direction, MAML, learned α (2 seeds): the paper's one-step 293.2 not reached" in text
    assert "direction, learned step sizes: rising at every step on 1 of 2 seeds; alpha per step 0.150" in text
    assert text.splitlines()[-1] == "dynamics: MAML minus pretrained after one step: +39.5"

    figure = extension_figure(runs, tmp_path / "figures")
    assert figure.name == "fig_extensions.png" and figure.stat().st_size > 20_000  # two panels, not a placeholder
    placeholder = extension_figure({}, tmp_path / "empty")
    assert placeholder.stat().st_size < figure.stat().st_size / 2


def test_gradient_variance_numbers_from_a_diagnostics_file(tmp_path: Path) -> None:
    from hw14_lib.report.comparison import gradient_variance_numbers

    record = {
        "batches": 16,
        "reinforce": {"trace_cov": 0.04, "snr": 1.5},
        "ratio": {"trace_cov": 0.06, "snr": 1.25},
        "dice": {"trace_cov": 2.4, "snr": 0.5},
        "variance_ratio_lvc_over_reinforce": 1.5,
        "variance_ratio_lvc_over_dice": 0.025,
    }
    (tmp_path / "gradient_variance_paper_dir_init.json").write_text(json.dumps(record))
    sheet = NumberSheet()
    gradient_variance_numbers(sheet, tmp_path)
    key = "variance.paper-dir-init"
    assert sheet.values[f"{key}.ratio"] == "1.50" and sheet.values[f"{key}.ratio-dice"] == "0.025"
    assert sheet.values[f"{key}.factor-dice"] == "40" and sheet.values[f"{key}.batches"] == "16"
    assert sheet.values[f"{key}.snr-dice"] == "0.50" and sheet.values[f"{key}.snr-lvc"] == "1.25"
    assert sheet.values["variance.paper-dir-s0.ratio"] == NA  # no file: not available
