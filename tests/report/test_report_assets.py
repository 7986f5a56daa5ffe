"""The report's generated assets: numbers recomputed by hand from synthetic run folders, "n/a" for
every missing input, and every ``\\val{key}`` of HW14_Solution.tex written by the generator."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from hw14_lib.report.assets import generate_report_assets
from hw14_lib.report.data import curve_stats, iterations_to_reach, late_query_return, load_diagnostics, seeds_of
from hw14_lib.report.numbers import interim_note, later_step_numbers
from hw14_lib.report.tables import LEGENDS, inner_step_table, later_step_table
from hw14_lib.report.tex import (
    NumberSheet,
    latex_escape,
    legend,
    tex_float,
    tex_learning_speed,
    tex_number,
    tex_pm,
    tex_seed_mean,
)
from hw14_lib.run.config import TrainConfig
from hw14_lib.run.run_folder import Run, load_runs
from hw14_lib.study.later_steps import load_later_steps

ROOT = Path(__file__).resolve().parents[2]
FIXED_FILES = {
    "numbers.tex",
    "student.tex",
    "tab_performance.tex",
    "tab_ablations.tex",
    "tab_experiments.tex",
    "tab_hyperparameters.tex",
    "tab_benchmarks.tex",
    "tab_inner_step.tex",
    "tab_later_steps.tex",
    "tab_protocol_main.tex",
    "tab_protocol_paper.tex",
    "tab_protocol_gymnasium.tex",
    "fig_backward_frames.png",
    "fig_protocol_dir.png",
    "fig_protocol_vel.png",
    "fig_extensions.png",
    "fig_learning_dir.png",
    "fig_learning_vel.png",
    "fig_adaptation_dir.png",
    "fig_adaptation_vel.png",
    "fig_ablations.png",
    "fig_later_steps.png",
    "backward/meta_loss.png",
    "backward/query_return.png",
}


def write_run(
    root: Path, name: str, *, task: str, curve: list[float], iterations: int = 12, finished: bool = True, **fields
) -> None:
    """A run folder as ``training.train`` writes it, with a given adaptation curve."""
    folder = root / name
    folder.mkdir(parents=True)
    cfg = TrainConfig(task=task, iterations=iterations, **fields).to_dict()
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    rng = np.random.default_rng(len(name))
    lines = []
    for i in range(iterations if finished else iterations // 2):
        support = -100.0 + 4 * i + rng.normal()
        lines.append(
            json.dumps(
                {
                    "iteration": i + 1,
                    "env_steps": (i + 1) * 40_000,
                    "wall_seconds": 3.0 * (i + 1),
                    "support_return": support,
                    "query_return": support + i,
                    "meta_loss": -0.01 * i,
                }
            )
        )
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if finished:
        det = [c + 5.0 for c in curve]
        summary = {
            "config": cfg,
            "iterations": iterations,
            "env_steps": iterations * 40_000,
            "wall_seconds": 3.0 * iterations,
            "pre_adaptation_return": det[0],
            "post_adaptation_return": det[1],
            "adaptation_curve": {
                "tasks": ["backward", "forward"],
                "stochastic": [[c - 1.0, c + 1.0] for c in curve],
                "deterministic": [[d, d] for d in det],
                "mean_stochastic": curve,
                "mean_deterministic": det,
            },
        }
        (folder / "summary.json").write_text(json.dumps(summary))


DIR_SEEDS = [[-40.0, 250.0, 280.0, 300.0], [-38.0, 262.0, 281.0, 290.0], [-45.0, 300.0, 310.0, 305.0]]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_run(root, "backward", task="backward", curve=[850.0, 870.0, 880.0, 890.0])
    for seed, curve in enumerate(DIR_SEEDS):
        write_run(root, f"dir_maml_s{seed}", task="direction", seed=seed, curve=curve, outer_optimizer="trpo")
    write_run(root, "vel_maml_s0", task="velocity", curve=[-130.0, -70.0, -65.0, -60.0], outer_optimizer="trpo")
    # A second seed still training (no evaluation): it must not enter the returns, steps or time.
    write_run(root, "vel_maml_s1", task="velocity", curve=[0.0] * 4, seed=1, iterations=100, finished=False)
    write_run(root, "dir_pretrained", task="direction", curve=[-40.0, -20.0, -10.0, 5.0], objective="pretrain")
    write_run(root, "dir_random", task="direction", curve=[-30.0, 10.0, 40.0, 60.0])
    write_run(
        root, "ablation_dir_first_order", task="direction", curve=[-45.0, 100.0, 150.0, 170.0], first_order=True,
        outer_optimizer="trpo",
    )  # fmt: skip
    write_run(root, "ablation_dir_no_baseline", task="direction", curve=[0.0] * 4, baseline="none", finished=False)
    return root


def numbers(out: Path) -> dict[str, str]:
    """``key -> text`` of a generated numbers.tex."""
    text = (out / "numbers.tex").read_text()
    return dict(re.findall(r"^\\hwset\{([^}]*)\}\{(.*)\}$", text, flags=re.M))


def test_no_inputs_gives_every_file_with_na(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    written = generate_report_assets(
        results=tmp_path / "none", benchmarks=tmp_path / "none.json", configs=tmp_path / "none", out=out
    )
    assert {p.relative_to(out).as_posix() for p in written} == FIXED_FILES
    values = numbers(out)
    assert values["dir.maml.k1"] == r"\hwna" and values["bench.rss-gib"] == r"\hwna"
    assert values["paper.dir.maml.k1"] == "293.2" and values["paper.vel.maml.k0"] == r"\ensuremath{-}129.5"
    assert r"\hwcompletefalse" in (out / "numbers.tex").read_text()
    assert r"\hwna: \texttt{results/} holds no run yet" in (out / "tab_experiments.tex").read_text()
    assert r"\hwna: \texttt{benchmarks/results.json} is not there yet" in (out / "tab_benchmarks.tex").read_text()


def test_numbers_match_a_hand_computation(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen"
    generate_report_assets(results=results, benchmarks=tmp_path / "none.json", out=out, configs=ROOT / "configs")
    values = numbers(out)
    curves = np.array(DIR_SEEDS)
    for k in range(4):
        mean, std = curves[:, k].mean(), curves[:, k].std(ddof=1)
        assert values[f"dir.maml.k{k}"] == tex_number(float(mean))
        assert values[f"dir.maml.k{k}.std"] == tex_number(float(std))
    gain = curves[:, 1].mean() - curves[:, 0].mean()
    assert values["dir.maml.gain"] == tex_number(float(gain))
    assert values["dir.maml.seeds"] == "3"
    assert values["vel.maml.seeds"] == "1" and values["vel.maml.k1"] == r"\ensuremath{-}70.0"
    assert values["vel.maml.runs"] == "2"
    assert values["vel.maml.msteps"] == tex_number(12 * 40_000 / 1e6)  # the evaluated seed's, not the mean of both
    assert values["vel.pretrained.k1"] == r"\hwna"
    assert values["backward.det.k1"] == "875.0"
    assert values["ablation.first-order.gain"] == "145.0" and values["ablation.first-order.k3"] == "170.0"
    assert values["ablation.no-baseline.k1"] == r"\hwna"  # unfinished: no evaluation yet
    assert values["ablation.no-baseline.interim"] == values["ablation.first-order.interim"] == ""
    # Training query returns of the fixture stay far below the paper's 293.2 and runs are shorter
    # than the 50-iteration window: a finished run says it never got there, an unfinished one n/a.
    assert values["ablation.first-order.reach"] == values["ablation.reference.reach"] == "$>$12"
    assert values["ablation.no-baseline.reach"] == values["ablation.first-order.late"] == r"\hwna"
    # The fixture's evaluation puts "backward" at mean - 1 and "forward" at mean + 1 for every k.
    assert values["ablation.first-order.k1.backward"] == "99.0" and values["ablation.first-order.k1.forward"] == "101.0"
    forward = curves[:, 1] + 1.0
    assert values["ablation.reference.k1.forward"] == tex_pm(float(forward.mean()), float(forward.std(ddof=1)), 3)
    assert values["ablation.no-baseline.k1.forward"] == r"\hwna"
    assert values["hp.dir.outer_optimizer"] == "trpo"
    assert values["hp.default.inner_lr"] == "0.1"

    ablations = (out / "tab_ablations.tex").read_text()
    assert r"\texttt{first\_order}~=~yes" in ablations
    assert r"\texttt{no\_baseline}\,$^\dagger$" in ablations
    runs_table = (out / "tab_experiments.tex").read_text()
    assert runs_table.count(r"\texttt{") == len(load_runs(results))
    performance = (out / "tab_performance.tex").read_text()
    assert "ours (3 seeds)" in performance and "ours (1 seed)" in performance


def test_curve_stats_uses_finished_seeds_only(results: Path) -> None:
    runs = load_runs(results)
    assert [r.name for r in seeds_of(runs, "dir_maml")] == ["dir_maml_s0", "dir_maml_s1", "dir_maml_s2"]
    assert seeds_of(runs, "dir") == []
    assert curve_stats(seeds_of(runs, "ablation_dir_no_baseline")) is None


def test_every_val_key_of_the_report_is_generated(tmp_path: Path) -> None:
    """A key the generator never writes would stop LaTeX; catch it here without TeX Live."""
    out = tmp_path / "gen"
    generate_report_assets(results=tmp_path / "none", benchmarks=tmp_path / "none.json", out=out)
    tex = re.sub(r"(?<!\\)%.*", "", (ROOT / "HW14_Solution.tex").read_text())  # drop comments
    used = set(re.findall(r"\\val\{([^}]*)\}", tex))
    assert used, "the report quotes no generated number"
    assert sorted(used - set(numbers(out))) == []


def test_tex_formatting() -> None:
    assert tex_number(None) == r"\hwna" and tex_number(float("nan")) == r"\hwna"
    assert tex_number(-50.74) == r"\ensuremath{-}50.7"
    assert tex_number(-0.04) == "0.0"  # no "-0.0"
    assert tex_number(1234567, 0) == r"1\,234\,567"
    assert tex_pm(1.0, 0.5, 1) == "1.0" and tex_pm(1.0, 0.5, 3) == r"1.0\,{\scriptsize$\pm$0.5}"
    assert tex_float(3e-4) == r"\ensuremath{3\times10^{-4}}" and tex_float(1e-5) == r"\ensuremath{10^{-5}}"
    assert tex_float(0.99) == "0.99" and tex_float(0.0) == "0" and tex_float(-1.0) == r"\ensuremath{-}1"
    assert latex_escape("dir_maml_s0 & 50%") == r"dir\_maml\_s0 \& 50\%"


def test_number_keys_are_checked() -> None:
    sheet = NumberSheet()
    with pytest.raises(ValueError, match="not allowed"):
        sheet.put("Dir Maml", 1.0)
    sheet.put("dir.maml.k0", None)
    assert sheet.values == {"dir.maml.k0": r"\hwna"}


def metrics_run(query: Sequence[float], *, finished: bool = True) -> Run:
    """A run whose only content is its training query returns, one per meta-iteration."""
    metrics = [{"iteration": i + 1, "query_return": float(q)} for i, q in enumerate(query)]
    return Run("run", {}, metrics, {} if finished else None)


def test_iterations_to_reach_matches_a_naive_scan() -> None:
    rng = np.random.default_rng(0)
    query = np.cumsum(rng.normal(1.0, 5.0, size=300))
    for window in (1, 5, 20):
        for threshold in (0.0, 50.0, 150.0, 1e9):
            naive = next(
                (t + 1 for t in range(window - 1, len(query)) if np.mean(query[t - window + 1 : t + 1]) >= threshold),
                None,
            )
            assert iterations_to_reach(metrics_run(query), threshold, window) == naive
    # One lucky early iteration does not count: only full windows do.
    assert iterations_to_reach(metrics_run([1000.0] + [0.0] * 30), 100.0, window=20) is None
    assert iterations_to_reach(metrics_run([1000.0] * 10), 100.0, window=20) is None


def test_late_query_return_is_the_mean_of_the_final_iterations_of_a_finished_run() -> None:
    query = np.arange(120.0)
    assert late_query_return(metrics_run(query), last=50) == pytest.approx(np.mean(query[-50:]))
    assert late_query_return(metrics_run(query, finished=False), last=50) is None
    assert late_query_return(metrics_run(query[:40]), last=50) is None


def test_learning_speed_and_seed_mean_cells() -> None:
    # Iteration t returns t - 1, so the mean over iterations t - 19 .. t is t - 10.5: >= 50 from t = 61.
    ramp = metrics_run(np.arange(100.0))
    assert tex_learning_speed([ramp], 50.0) == "61"
    assert tex_learning_speed([ramp, metrics_run(np.arange(100.0) + 10)], 50.0) == tex_pm(56.0, np.sqrt(50.0), 2, 0)
    assert tex_learning_speed([ramp, metrics_run(np.zeros(80))], 50.0) == "$>$80"
    assert tex_learning_speed([ramp, metrics_run(np.zeros(80), finished=False)], 50.0) == r"\hwna"
    assert tex_seed_mean([1.0, 3.0]) == tex_pm(2.0, np.sqrt(2.0), 2)
    assert tex_seed_mean([1.0, None]) == tex_seed_mean([]) == r"\hwna"


def test_seed_band_is_the_mean_and_sample_std_over_seeds() -> None:
    from hw14_lib.run.plots import seed_band

    def run(offset: float, steps: int) -> list[dict[str, float]]:
        return [{"env_steps": 100 * (i + 1), "query_return": offset + i} for i in range(steps)]

    grid, mean, std = seed_band([run(0.0, 10), run(2.0, 8)], "query_return", points=8)
    assert grid[0] == 100 and grid[-1] == 800  # up to the shortest seed
    np.testing.assert_allclose(mean, (grid / 100 - 1) + 1.0)
    np.testing.assert_allclose(std, np.sqrt(2.0))  # two values 2 apart: sample std sqrt(2)
    _, _, single = seed_band([run(0.0, 5)], "query_return")
    assert not single.any()
    with pytest.raises(ValueError, match="at least one run"):
        seed_band([], "query_return")


def test_inner_step_table_from_diagnostics_files(tmp_path: Path) -> None:
    folder = tmp_path / "diagnostics"
    folder.mkdir()

    def row(alpha: float, kl: float, std: float, before: float, after: float) -> dict[str, float]:
        return {"alpha": alpha, "kl": kl, "std": std, "return_before": before, "return_after": after,
                "gain": after - before, "step_norm": 0.1}  # fmt: skip

    trained = {"config": {"task": "velocity"}, "policy": "results/vel_maml_s0/policy.pt",
               "rows": [row(0.1, 3.9051, 0.17, -193.1, -89.0)]}  # fmt: skip
    fresh = [{"config": {"task": "direction"}, "policy": None, "rows": [row(0.1, kl, std, -5.5, -3.8)]}
             for kl, std in ((0.04314, 0.3679), (0.000731, 1.0))]  # fmt: skip
    (folder / "a_trained.json").write_text(json.dumps(trained))
    (folder / "b_fresh.json").write_text(json.dumps(fresh[0]))
    (folder / "c_fresh.json").write_text(json.dumps(fresh[1]))
    (folder / "d_broken.json").write_text("{not json")

    diagnostics = load_diagnostics(folder)
    # Fresh initializations first, by decreasing std; then the trained policies; the broken file skipped.
    assert [(d.policy, d.rows[0]["std"]) for d in diagnostics] == [(None, 1.0), (None, 0.3679), ("vel_maml_s0", 0.17)]
    body = [line for line in inner_step_table(diagnostics).splitlines() if line.endswith(r"\\") and "&" in line][1:]
    minus = r"\ensuremath{-}"
    assert body[0] == rf"fresh initialization & direction & 1.00 & 0.1 & 0.00073 & {minus}5.5 & {minus}3.8 & 1.7 \\"
    assert body[1].split(" & ")[4] == "0.043"
    assert body[2].startswith(r"\texttt{vel\_maml\_s0} & velocity & 0.17 & 0.1 & 3.9 & ")
    assert "holds no measurement yet" in inner_step_table(load_diagnostics(tmp_path / "none"))


def test_later_step_table_from_study_files(tmp_path: Path) -> None:
    folder = tmp_path / "later_steps"
    folder.mkdir()

    def study(run: str, task: str, curves: dict[float, list[float]]) -> str:
        rows = [
            {"scale": c, "step_sizes": [0.1] + [0.1 * c] * (len(v) - 1), "mean_stochastic": v,
             "stochastic": [[x - 1.0, x + 1.0] for x in v]}  # two tasks around the mean
            for c, v in curves.items()
        ]  # fmt: skip
        return json.dumps({"run": run, "config": {"task": task}, "rows": rows})

    (folder / "a.json").write_text(
        study("vel_maml_s0", "velocity", {0.5: [-101.1, -59.6, -50.0, -48.5], 1.0: [-101.1, -59.6, -75.8, -61.1]})
    )
    (folder / "b.json").write_text(
        study("dir_maml_s1", "direction", {1.0: [-6.8, 477.6, 99.2, 265.0], 0.0: [-6.8, 477.6, 439.2]})
    )
    (folder / "c.json").write_text("[]")
    validation = json.loads(study("vel_maml_s0", "velocity", {0.25: [-90.0, -55.0, -45.0, -40.0]}))
    (folder / "d.json").write_text(json.dumps({**validation, "validation": True}))
    (folder / "d2.json").write_text(json.dumps({**validation, "validation": True, "alpha": 0.01}))

    studies = load_later_steps(folder)
    # Direction first, held-out before validation; rows by decreasing scale; the file that is not a study skipped.
    assert [(s.label, [r["scale"] for r in s.rows]) for s in studies] == [
        ("dir_maml_s1", [1.0, 0.0]),
        ("vel_maml_s0", [1.0, 0.5]),
        ("vel_maml_s0_validation", [0.25]),
        ("vel_maml_s0_alpha0.01_validation", [0.25]),
    ]
    table = later_step_table(studies)
    assert r"\multicolumn{2}{c}{$c = 1$} & \multicolumn{2}{c}{$c = 0.5$} & \multicolumn{2}{c}{$c = 0.25$}" in table
    body = [line for line in table.splitlines() if line.endswith(r"\\") and "&" in line][2:]
    minus, na, nm = r"\ensuremath{-}", r"\hwna", r"\hwnm"  # nm: scale not measured; na: past the last step
    assert body == [  # scales 1, 0.5, 0.25, 0: (k = 2, k = 3) each
        rf"\texttt{{dir\_maml\_s1}} & {minus}6.8 & 477.6 & 99.2 & 265.0 & {nm} & {nm} & {nm} & {nm} & 439.2 & {na} \\",
        rf"\texttt{{vel\_maml\_s0}} & {minus}101.1 & {minus}59.6 & {minus}75.8 & {minus}61.1 & {minus}50.0 & "
        rf"{minus}48.5 & {nm} & {nm} & {nm} & {nm} \\",
        rf"\texttt{{vel\_maml\_s0}} (val.) & {minus}90.0 & {minus}55.0 & {nm} & {nm} & {nm} & {nm} & "
        rf"{minus}45.0 & {minus}40.0 & {nm} & {nm} \\",
        rf"\texttt{{vel\_maml\_s0}} ($\alpha = 0.01$, val.) & {minus}90.0 & {minus}55.0 & {nm} & {nm} & "
        rf"{nm} & {nm} & {minus}45.0 & {minus}40.0 & {nm} & {nm} \\",
    ]
    assert legend(table, LEGENDS["latersteps"]) == " ".join(LEGENDS["latersteps"][m] for m in (nm, na))
    assert "holds no measurement yet" in later_step_table(load_later_steps(tmp_path / "none"))

    sheet = NumberSheet()
    later_step_numbers(sheet, studies)
    assert sheet.values["later.vel_maml_s0.c50.k2"] == rf"{minus}50.0"
    assert sheet.values["later.vel_maml_s0.c100.k3"] == rf"{minus}61.1"
    assert sheet.values["later.dir_maml_s1.c0.k3"] == r"\hwna"  # that row stops at k = 2
    assert sheet.values["later.vel_maml_s0.c50.up"] == "2"  # each task: -48.5 +- 1 beats -59.6 +- 1
    assert sheet.values["later.vel_maml_s0.c100.up"] == "0"  # each task: -61.1 +- 1 is below -59.6 +- 1
    assert sheet.values["later.vel_maml_s0.tasks"] == "2"
    assert sheet.values["later.vel_maml_s0_validation.c25.k3"] == rf"{minus}40.0"
    assert sheet.values["later.vel_maml_s0_validation.k1"] == rf"{minus}55.0"
    assert sheet.values["later.vel_maml_s0_alpha0.01_validation.c25.k3"] == rf"{minus}40.0"
    assert sheet.values["later.dir_maml_s2.k0"] == r"\hwna"
    assert sheet.values["later.dir_maml_s0.c25.k2"] == r"\hwna"  # a run the report may quote, not measured
    # Over seeds: held-out studies only (the validation one is left out); one seed gives no std.
    assert sheet.values["later.vel.c50.k2.pm"] == rf"{minus}50.0"
    assert sheet.values["later.vel.c25.k3.pm"] == r"\hwna"
    assert sheet.values["later.vel.seeds"] == "1"
    (folder / "e.json").write_text(
        study("vel_maml_s2", "velocity", {0.5: [-120.0, -70.0, -60.0, -52.5], 1.0: [-120.0, -70.0, -90.0, -80.0]})
    )
    sheet = NumberSheet()
    later_step_numbers(sheet, load_later_steps(folder))
    # mean(-50.0, -60.0) = -55.0, sample std = sqrt(50) = 7.07; mean(-48.5, -52.5) = -50.5, std 2.83
    assert sheet.values["later.vel.c50.k2.pm"] == rf"{minus}55.0\,{{\scriptsize$\pm$7.1}}"
    assert sheet.values["later.vel.c50.k3.pm"] == rf"{minus}50.5\,{{\scriptsize$\pm$2.8}}"
    assert sheet.values["later.vel.seeds"] == "2"
    assert sheet.values["later.dir.seeds"] == "1"


def test_interim_note_names_the_unfinished_seeds() -> None:
    def run(name: str, *, finished: bool) -> Run:
        evaluation = {"iterations": 5, "adaptation_curve": {"mean_stochastic": [0.0] * 4}}
        return Run(name, {"iterations": 10}, [], evaluation if finished else None, None if finished else evaluation)

    assert interim_note([run("a", finished=True)]) == ""
    assert interim_note([run("a", finished=True), run("b", finished=False)]) == (
        " (interim: checkpoint at 5 of 10 meta-iterations)"
    )
    two_unfinished = [run("a", finished=True), run("b", finished=False), run("c", finished=False)]
    assert interim_note(two_unfinished) == " (interim: 2 of 3 seeds evaluated at a checkpoint)"


def test_performance_table_marks_a_method_evaluated_at_an_interim_checkpoint(results: Path, tmp_path: Path) -> None:
    write_run(results, "vel_pretrained", task="velocity", curve=[-150.0, -140.0, -135.0, -130.0], objective="pretrain")
    interim = json.loads((results / "vel_pretrained" / "summary.json").read_text())
    (results / "vel_pretrained" / "summary.json").unlink()
    (results / "vel_pretrained" / "interim_summary.json").write_text(json.dumps({**interim, "iterations": 7}))
    out = tmp_path / "gen"
    generate_report_assets(results=results, benchmarks=tmp_path / "none.json", out=out, configs=ROOT / "configs")
    rows = [line for line in (out / "tab_performance.tex").read_text().splitlines() if "& ours" in line]
    pretrained = [line for line in rows if line.startswith("pretrained")]
    assert len(pretrained) == 2
    assert r"ours (1 seed) &" in pretrained[0]  # direction: finished
    assert r"ours (1 seed)\,$^\dagger$ &" in pretrained[1] and r"\ensuremath{-}140.0" in pretrained[1]
    assert sum(r"$^\dagger$" in line for line in rows) == 1
    no_baseline = results / "ablation_dir_no_baseline"
    (no_baseline / "interim_summary.json").write_text(json.dumps({**interim, "iterations": 3}))
    generate_report_assets(results=results, benchmarks=tmp_path / "none.json", out=out, configs=ROOT / "configs")
    values = numbers(out)
    assert values["ablation.no-baseline.interim"] == " (interim: checkpoint at 3 of 12 meta-iterations)"
    assert values["vel.pretrained.interim"] == " (interim: checkpoint at 7 of 12 meta-iterations)"
    assert values["dir.pretrained.interim"] == ""
    assert values["vel.maml.interim"] == ""  # seed 1 has no evaluation, so no number includes it
    assert values["legend.performance"].startswith(r"$^\dagger$: a seed still training")


def test_captions_explain_only_the_marks_their_tables_show(tmp_path: Path) -> None:
    """With every committed run finished, no caption speaks of unfinished runs or missing numbers; the
    later-steps table's dashes (scales a baseline's study did not measure) and the random baselines'
    iteration cells are explained."""
    out = tmp_path / "gen"
    results = tmp_path / "results"  # the committed runs without any still training here (they are not committed)
    shutil.copytree(ROOT / "results", results, ignore=shutil.ignore_patterns("checkpoint.pt", "*.mp4"))
    for folder in results.iterdir():
        if (folder / "config.yaml").is_file() and not (folder / "summary.json").is_file():
            shutil.rmtree(folder)
    generate_report_assets(results=results, benchmarks=ROOT / "benchmarks" / "results.json", out=out)
    values = numbers(out)
    tables = {name: (out / f"tab_{file}.tex").read_text() for name, file in
              (("performance", "performance"), ("ablations", "ablations"), ("runs", "experiments"),
               ("latersteps", "later_steps"))}  # fmt: skip
    for name, table in tables.items():
        assert values[f"legend.{name}"] == legend(table, LEGENDS[name])
        assert r"\hwna" not in table, f"{name}: a number is missing although every run is finished"
        assert "still training" not in values[f"legend.{name}"] and "not finished" not in values[f"legend.{name}"]
    assert values["legend.performance"] == values["legend.ablations"] == ""
    assert values["legend.latersteps"] == LEGENDS["latersteps"][r"\hwnm"]
    # A step-size study measured c = 1 only: its other three scales are dashes, two cells each.
    alpha_studies = [st for st in load_later_steps(ROOT / "results" / "later_steps") if st.alpha is not None]
    assert tables["latersteps"].count(r"\hwnm") == 6 * len(alpha_studies) > 0
    assert values["legend.runs"] == LEGENDS["runs"][r"\hwnm"]
    random_rows = [line for line in tables["runs"].splitlines() if "random" in line]
    random_runs = sorted(results.glob("*_random"))  # one row each: dir, vel, and the paper env's
    assert len(random_rows) == len(random_runs) >= 2 and all(r"& \hwnm &" in line for line in random_rows)
    assert "/500" not in "".join(random_rows)


def test_adaptation_figure_adds_the_pretrained_policy_with_its_own_step_size(results: Path, tmp_path: Path) -> None:
    from hw14_lib.report.assets import comparison_figures

    runs = load_runs(results)
    before = comparison_figures(runs, tmp_path / "a")[1].read_bytes()  # fig_adaptation_dir.png
    study = {
        "run": "dir_pretrained",
        "alpha": 4.0,
        "config": {"task": "direction"},
        "rows": [{"scale": 1.0, "mean_stochastic": [-40.0, 60.0, 70.0, 80.0], "stochastic": [[-40.0]] * 4}],
    }
    (results / "later_steps").mkdir()
    (results / "later_steps" / "dir_pretrained_alpha4.json").write_text(json.dumps(study))
    (results / "later_steps" / "dir_pretrained_alpha4_validation.json").write_text(
        json.dumps({**study, "validation": True})
    )
    studies = load_later_steps(results / "later_steps")
    assert [s.label for s in studies] == ["dir_pretrained_alpha4", "dir_pretrained_alpha4_validation"]
    figures = comparison_figures(runs, tmp_path / "b", later_steps=studies)
    assert figures[1].name == "fig_adaptation_dir.png" and figures[1].read_bytes() != before
    assert figures[3].read_bytes() == comparison_figures(runs, tmp_path / "c")[3].read_bytes()  # velocity unchanged
    # Only studies at the run's own step size are drawn in the later-steps figure: none here.
    assert figures[-1].read_bytes() == comparison_figures(runs, tmp_path / "d")[-1].read_bytes()


def test_benchmark_table_and_numbers_give_the_share_of_the_2core_ceiling() -> None:
    from hw14_lib.report.numbers import benchmark_numbers
    from hw14_lib.report.tables import benchmark_table
    from hw14_lib.report.tex import NumberSheet

    bench = {
        "cases": [
            {
                "case": "seed-style",
                "steps_per_s": 1000.0,
                "min": 900.0,
                "max": 1100.0,
                "vs_seed": 1.0,
                "vs_gymnasium": 0.05,
                "of_2core_ceiling": None,
            },
            {
                "case": "direction TRPO threads=2",
                "steps_per_s": 33000.0,
                "min": 30000.0,
                "max": 36000.0,
                "vs_seed": 33.0,
                "vs_gymnasium": 1.5,
                "of_2core_ceiling": 0.4321,
            },
        ],
        "seconds_per_iteration": {"direction TRPO threads=2": {"sampling": 3.5, "outer step": 1.456}},
        "peak_rss_bytes_paper_vel_B40_N20_T200": 2**30,
    }
    table = benchmark_table(bench)
    assert r"dir. TRPO, 2 thr. & 33\,000 & 30\,000--36\,000 & 43\,\% & 33.0 & 1.50 \\" in table
    assert r"starter-code loop & 1\,000 & 900--1\,100 & \hwnm &" in table  # no batch of copies: no ceiling
    sheet = NumberSheet()
    benchmark_numbers(sheet, bench)
    assert sheet.values["bench.direction-trpo-threads-2.ceiling"] == "43"
    assert sheet.values["bench.direction-trpo-threads-2.outer"] == "1.46"
    assert sheet.values["bench.rss-gib"] == "1.00"
    assert sheet.values["bench.seed-style.ceiling"] == r"\hwna"  # never quoted in the text
