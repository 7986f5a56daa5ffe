"""``results/table.json`` as the report and README show it (``hw14_lib.report.comparison``): the paper's numbers
only beside the paper's environment, an oracle's single return, n/a for what is missing, and a README that holds
the table the committed file gives."""

from __future__ import annotations

import re

from hw14_lib.report.comparison import (
    PAPER_BUDGET_M,
    load_table,
    protocol_markdown,
    protocol_numbers,
    protocol_table,
    rows_of,
)
from hw14_lib.report.data import PAPER_CURVES, PAPER_ORACLE
from hw14_lib.report.tex import NA, NumberSheet

from conftest import REPO


def row(env: str, family: str, method: str, returns: list[float], *, seeds: int = 2, horizon: int = 200) -> dict:
    n = len(returns)
    std = [1.5] * n if seeds > 1 else [0.0] * n
    return {"env": env, "family": family, "method": method, "seeds": seeds, "test_tasks": 40, "trajectories": 20,
            "horizon": horizon, "env_steps_per_seed": 16_000_000, "step_sizes": [0.1, 0.025, 0.025][: n - 1],
            "returns": returns, "std_over_seeds": std, "sem_over_tasks": [2.0] * n}  # fmt: skip


ROWS = [
    row("gymnasium", "direction", "maml", [0.0, 500.0, 510.0, 520.0], seeds=3),
    row("gymnasium", "direction", "maml", [0.0, 270.0, 280.0, 290.0], seeds=1, horizon=100),
    row("paper", "direction", "maml", [-10.0, 330.0, 340.0, 336.0]),
    row("paper", "direction", "oracle", [400.0], seeds=1),
    row("paper", "velocity", "random", [-200.0, -190.0, -180.0, -170.0], seeds=1),
]


def test_paper_rows_sit_only_beside_the_paper_environment() -> None:
    paper = protocol_table(ROWS, env="paper")
    gym = protocol_table(ROWS, env="gymnasium")
    assert "& paper &" in paper and "& paper &" not in gym
    assert r"330.0\,{\scriptsize$\pm$1.5} {\scriptsize(2.0)}" in paper
    assert r"oracle & ours & 1 & \multicolumn{4}{c}{400.0 {\scriptsize(2.0)}}" in paper
    assert rf"\multicolumn{{4}}{{c}}{{{PAPER_ORACLE['dir']:.1f}}}" in paper
    assert rf"pretrained & ours & 0 & {NA} & {NA}" in paper  # not run yet: n/a, not a blank
    assert "293.2 & 313.5 & 315.7 & 32.0" in paper and f"{PAPER_BUDGET_M['vel']:.1f}" in paper
    assert "500.0" in gym and "270.0" not in gym  # horizon 100 is not the benchmark's row
    assert gym.count(r"\\") == paper.count(r"\\") - 7 - 7  # no paper row, no placeholder rows


def test_numbers_name_each_environment_and_the_oracle_ratio() -> None:
    sheet = NumberSheet()
    protocol_numbers(sheet, ROWS)
    v = sheet.values
    assert v["table.paper.dir.maml.k1"] == "330.0" and v["table.gymnasium.dir.maml.k1"] == "500.0"
    assert v["table.paper.dir.maml.oracle_ratio"] == "82.5"  # 330 / 400
    assert v["table.paper.vel.maml.oracle_ratio"] == NA and v["table.paper.vel.maml.k1"] == NA
    assert v["table.h100.k1"] == "270.0" and v["table.paper.dir.oracle.k0"] == "400.0"
    assert "table.paper.dir.oracle.k1" not in v


def test_markdown_puts_the_papers_row_under_its_own_environment_only() -> None:
    text = protocol_markdown(ROWS)
    lines = text.splitlines()
    paper_line = next(i for i, line in enumerate(lines) if line.startswith("| paper | 200 | direction | **maml**"))
    assert lines[paper_line + 1].startswith("| | | | *paper* | | -50.7 | 293.2 | 313.5 | 315.7 | 32 M |")
    assert "| gymnasium | 100 | direction | **maml** | 1 | 0.0 (2.0) | 270.0 (2.0)" in text
    assert sum("*paper*" in line for line in lines) == 2  # MAML and oracle on the paper env; none for gymnasium
    assert PAPER_CURVES["dir"]["maml"][1] == 293.2
    assert rows_of(ROWS, env="paper")[("dir", "oracle")]["returns"] == [400.0]


def test_readme_holds_the_committed_table() -> None:
    rows = load_table(REPO / "results" / "table.json")
    assert rows, "results/table.json is missing"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    expected = protocol_markdown(rows)
    assert expected in readme, "README's protocol table differs from results/table.json: paste\n" + expected
    assert len(re.findall(r"^\| env \| T \| family", readme, flags=re.M)) == 1
