"""The leads on the families the paper did not run (``hw14_lib.report.families``), against hand-computed values:
the oracle minus the pretrained policy at k = 0, MAML minus the pretrained policy after one step, each with the
root-sum-square of the rows' standard errors (each row's over its tasks, divided by the root of its seeds)."""

from __future__ import annotations

import math

import pytest

from hw14_lib.report.families import ORACLE_LEAD_GATE, beyond_paper_families, family_lead_numbers, family_leads
from hw14_lib.report.tex import NA, NumberSheet


def row(family: str, method: str, returns: list[float], sems: list[float], seeds: int = 1) -> dict:
    return {"env": "paper", "horizon": 200, "family": family, "method": method, "returns": returns,
            "sem_over_tasks": sems, "seeds": seeds}  # fmt: skip


def test_leads_are_the_differences_with_their_standard_errors() -> None:
    rows = [
        row("signed_velocity", "oracle", [-60.0], [3.0]),
        row("signed_velocity", "pretrained", [-200.0, -190.0], [4.0, 6.0]),
        row("signed_velocity", "maml", [-180.0, -120.0], [5.0, 8.0 * math.sqrt(4)], seeds=4),  # s.e. 8 over 4 seeds
        row("signs", "oracle", [177.7], [9.8]),
        row("signs", "pretrained", [153.3, 140.0], [9.5, 9.0]),
        row("direction", "oracle", [447.7], [5.0]),  # a paper family: not among these
    ]
    leads = family_leads(rows)
    assert set(leads) == {"svel", "sgn"} and "dir" not in beyond_paper_families()
    assert leads["svel"].oracle.value == pytest.approx(140.0) and leads["svel"].oracle.se == pytest.approx(5.0)
    assert leads["svel"].maml.value == pytest.approx(70.0) and leads["svel"].maml.se == pytest.approx(10.0)
    assert leads["svel"].maml.z == pytest.approx(7.0)
    assert leads["sgn"].oracle.value == pytest.approx(24.4) and leads["sgn"].maml is None
    assert leads["sgn"].oracle.value < ORACLE_LEAD_GATE < leads["svel"].oracle.value
    sheet = NumberSheet()
    family_lead_numbers(sheet, leads)
    assert sheet.values["fam.svel.maml-lead"] == "70.0" and sheet.values["fam.svel.maml-lead-z"] == "7.0"
    assert sheet.values["fam.sgn.oracle-lead-se"] == f"{math.hypot(9.8, 9.5):.1f}"
    assert sheet.values["fam.sgn.maml-lead"] == NA and sheet.values["fam.gate"] == "50"


def test_a_rows_seeds_are_found_by_the_registry_and_each_runs_config_not_by_a_folder_name() -> None:
    from hw14_lib.report.data import runs_of
    from hw14_lib.run.run_folder import Run

    def run(name: str, **config) -> Run:
        return Run(name, {"env": "paper", "task": "direction", "horizon": 200, **config}, [], None)

    runs = {
        r.name: r
        for r in (
            run("paper_dir_maml_s0"),
            run("paper_dir_maml_s1", task="velocity"),  # its configuration, not its name, says the family
            run("ablation_dir_first_order"),  # the registry gives it no method
            run("dir_maml_h100", env="gymnasium", horizon=100),
            run("dir_maml_s0", env="gymnasium"),
        )
    }
    assert [r.name for r in runs_of(runs, env="paper", family="dir", method="maml")] == ["paper_dir_maml_s0"]
    assert [r.name for r in runs_of(runs, env="paper", family="vel", method="maml")] == ["paper_dir_maml_s1"]
    assert [r.name for r in runs_of(runs, env="gymnasium", family="dir", method="maml")] == ["dir_maml_s0"]
    gym_h100 = runs_of(runs, env="gymnasium", family="dir", method="maml", horizon=100)
    assert [r.name for r in gym_h100] == ["dir_maml_h100"]
