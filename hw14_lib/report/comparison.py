"""The comparable results: ``results/table.json`` (the paper's protocol, :mod:`hw14_lib.study.protocol`) as the report's
tables, numbers and figure, and as the README's Markdown table.

Only rows of the paper's environment are set beside the paper's numbers (:data:`PAPER_CURVES`, :data:`PAPER_ORACLE`);
the Gymnasium rows are this project's own benchmark, and the horizon-100 row is compared with the reimplementations'
reported one-step returns (:data:`REIMPLEMENTATIONS`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hw14_lib.common import catalogue
from hw14_lib.common.palette import METHOD_STYLES
from hw14_lib.report.data import FAMILIES, PAPER_CURVES, PAPER_ORACLE
from hw14_lib.report.tex import NA, NumberSheet, tex_number, tex_pm
from hw14_lib.run import plots
from hw14_lib.study.protocol import PROTOCOL_FAMILIES, TABLE_METHODS

Row = Mapping[str, Any]
PAPER_METHODS: tuple[str, ...] = tuple(m.name for m in catalogue.METHODS if m.main)
"""The paper's rows: shown (n/a until run) in the paper-environment table; the extensions only once they exist."""
LABELS: dict[str, str] = {m.name: m.tex_label for m in catalogue.METHODS}
"""Each method's label in LaTeX: the catalogue's, so tables and figures agree."""
PAPER_BUDGET_M: dict[str, float] = {
    short: f.paper.budget_m for short, f in catalogue.paper_families().items() if f.paper is not None
}
"""Env steps (millions) per seed behind the paper's evaluated checkpoints."""
REIMPLEMENTATIONS: dict[str, float] = {"learn2learn": 260.0, "RLlib": 268.0}
"""One-step direction returns the reimplementations report at horizon 100 with cost 0.05 ||a||^2 on Gymnasium's
half-cheetah after 300 iterations, read off their plots (approximate)."""


def plain_label(method: str) -> str:
    """A method's label outside LaTeX (``MAML, learned α``), as every figure names it."""
    return METHOD_STYLES[method].label


def load_table(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of ``results/table.json``, or ``[]`` when it is missing or not a JSON list."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def rows_of(rows: Sequence[Row], *, env: str, horizon: int = 200) -> dict[tuple[str, str], Row]:
    """``(fam, method) -> row`` of one environment and horizon (``fam``: ``"dir"``, ``"vel"`` or ``"dyn"``)."""
    short = {family: fam for fam, family in PROTOCOL_FAMILIES.items()}
    return {
        (short[r["family"]], r["method"]): r
        for r in rows
        if r.get("env") == env and r.get("horizon") == horizon and r.get("family") in short
    }


def row_cell(row: Row, k: int) -> tuple[float | None, float | None, float | None]:
    """``(mean, std over seeds or None for one seed, s.e.m. over tasks)`` of a table row after ``k`` steps."""
    returns, std, sem = row["returns"], row["std_over_seeds"], row["sem_over_tasks"]
    if k >= len(returns):
        return None, None, None
    return returns[k], (std[k] if row["seeds"] > 1 else None), sem[k]


def row_difference(a: Row, b: Row, k_a: int, k_b: int) -> tuple[float, float]:
    """``a``'s return after ``k_a`` steps minus ``b``'s after ``k_b``, and the difference's standard error from the
    test tasks: each row's mean s.e.m. over its tasks divided by the square root of its seeds, the two in
    quadrature."""
    se = (a["sem_over_tasks"][k_a] ** 2 / a["seeds"] + b["sem_over_tasks"][k_b] ** 2 / b["seeds"]) ** 0.5
    return a["returns"][k_a] - b["returns"][k_b], se


def tex_row_cell(row: Row, k: int) -> str:
    """:func:`row_cell` as LaTeX: ``mean +- std`` with the s.e.m. in brackets (empty past the row's steps)."""
    mean, std, sem = row_cell(row, k)
    if mean is None:
        return ""
    return tex_pm(mean, std, 2 if std is not None else 1) + rf" {{\scriptsize({tex_number(sem)})}}"


def protocol_table(rows: Sequence[Row], *, env: str) -> str:
    """``tab_protocol_<env>.tex``: every method of ``env`` after k = 0..3 steps (mean over seeds, ``±`` std over
    seeds, the mean s.e.m. over the 40 test tasks in brackets), with the paper's rows beside them for the paper's
    environment and families; an oracle's one return spans the four columns; the dynamics family once it has rows."""
    by_key = rows_of(rows, env=env)
    paper = env == "paper"
    lines = [
        r"\begin{tabular}{@{}ll r rrrr rr@{}}",
        r"\toprule",
        r" & & & \multicolumn{4}{c}{return after $k$ inner steps (40 test tasks)} & \multicolumn{2}{c}{per seed} \\",
        r"\cmidrule(lr){4-7}\cmidrule(lr){8-9}",
        r"method & source & seeds & $k=0$ & $k=1$ & $k=2$ & $k=3$ & steps (M) & time \\",
    ]
    families = [fam for fam in PROTOCOL_FAMILIES if fam in FAMILIES or any(key[0] == fam for key in by_key)]
    for fam in families:
        title = catalogue.family(fam).title
        lines += [r"\midrule", rf"\multicolumn{{9}}{{@{{}}l}}{{\emph{{{title} tasks}}}} \\"]
        for method in TABLE_METHODS:
            row = by_key.get((fam, method))
            label = LABELS[method]
            if row is not None:
                steps = tex_number(row["env_steps_per_seed"] / 1e6)
                if catalogue.method(method).scores_once:
                    cells = [rf"\multicolumn{{4}}{{c}}{{{tex_row_cell(row, 0)}}}"]
                else:
                    cells = [tex_row_cell(row, k) for k in range(4)]
                time = wall_time(row.get("wall_seconds_per_seed"))
                lines.append(" & ".join([label, "ours", str(row["seeds"]), *cells, steps, time]) + r" \\")
            elif paper and fam in PAPER_CURVES and method in PAPER_METHODS:
                empty = [rf"\multicolumn{{4}}{{c}}{{{NA}}}"] if catalogue.method(method).scores_once else [NA] * 4
                lines.append(" & ".join([label, "ours", "0", *empty, "", ""]) + r" \\")
            if not paper or fam not in PAPER_CURVES:  # the paper has no dynamics family
                continue
            budget = tex_number(PAPER_BUDGET_M[fam]) if method == catalogue.REFERENCE else ""
            if catalogue.method(method).scores_once:
                lines.append(rf" & paper & & \multicolumn{{4}}{{c}}{{{tex_number(PAPER_ORACLE[fam])}}} & & \\")
            elif method in PAPER_CURVES[fam]:
                values = [tex_number(v) for v in PAPER_CURVES[fam][method]]
                lines.append(" & ".join(["", "paper", "", *values, budget, ""]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def protocol_numbers(sheet: NumberSheet, rows: Sequence[Row]) -> None:
    """``table.<env>.<fam>.<method>.k<k>`` (mean over seeds), ``.k<k>.pm`` (with ``±`` std over seeds),
    ``.seeds`` and ``.steps`` (M env steps per seed) for both environments and every method; ``table.h100.k1`` and
    ``table.h100.seeds`` for the horizon-100 direction run; ``table.<env>.<fam>.<method>.oracle_ratio`` (percent of our
    oracle after one step) and ``.<method>.gap.k<k>`` (ours minus the paper's MAML, for MAML, MAML with learned step
    sizes and ProMP); ``paper.budget.<fam>``
    (:data:`PAPER_BUDGET_M`) and ``reimpl.<name>.k1``."""
    for env in ("paper", "gymnasium"):
        by_key = rows_of(rows, env=env)
        for fam in PROTOCOL_FAMILIES:
            for method in TABLE_METHODS:
                row = by_key.get((fam, method))
                key = f"table.{env}.{fam}.{method}"
                sheet.put(f"{key}.seeds", row["seeds"] if row else None, 0)
                sheet.text(f"{key}.seeds-text", (f"{row['seeds']} seed" + "s" * (row["seeds"] != 1)) if row else None)
                sheet.put(f"{key}.steps", row["env_steps_per_seed"] / 1e6 if row else None)
                for k in range(1 if catalogue.method(method).scores_once else 4):
                    mean, std, _ = row_cell(row, k) if row else (None, None, None)
                    sheet.put(f"{key}.k{k}", mean)
                    sheet.text(f"{key}.k{k}.pm", tex_pm(mean, std, row["seeds"] if row else 0))
            oracle = by_key.get((fam, catalogue.ORACLE))
            if env == "paper" and fam in PAPER_CURVES:  # ours minus the paper's MAML, after k steps
                for method in (m.name for m in catalogue.METHODS if m.curve):
                    row = by_key.get((fam, method))
                    for k, paper_value in enumerate(PAPER_CURVES[fam][catalogue.REFERENCE]):
                        gap = row["returns"][k] - paper_value if row and k < len(row["returns"]) else None
                        sheet.put(f"table.paper.{fam}.{method}.gap.k{k}", gap)
            for method in (m.name for m in catalogue.METHODS if not m.scores_once):
                row, ratio = by_key.get((fam, method)), None
                if row and oracle and oracle["returns"][0] != 0 and len(row["returns"]) > 1:
                    ratio = 100.0 * row["returns"][1] / oracle["returns"][0]
                sheet.put(f"table.{env}.{fam}.{method}.oracle_ratio", ratio)
    h100 = rows_of(rows, env="gymnasium", horizon=100).get(("dir", catalogue.REFERENCE))
    sheet.put("table.h100.k1", h100["returns"][1] if h100 else None)
    sheet.put("table.h100.seeds", h100["seeds"] if h100 else None, 0)
    for fam, budget in PAPER_BUDGET_M.items():
        sheet.put(f"paper.budget.{fam}", budget, 0)
    for name, value in REIMPLEMENTATIONS.items():
        sheet.put(f"reimpl.{name.lower()}.k1", value, 0)


def protocol_figure(rows: Sequence[Row], out: str | os.PathLike[str]) -> list[Path]:
    """``fig_protocol_{dir,vel}.png``: the paper's environment, our MAML, pretrained and random rows (mean ± std over
    seeds) against the paper's curves, with both oracles as horizontal lines (a placeholder where there is no row
    yet). The extensions have a figure of their own (:mod:`hw14_lib.report.extensions`)."""
    out = Path(out)
    written = []
    by_key = rows_of(rows, env="paper")
    for fam, family in FAMILIES.items():
        path = out / f"fig_protocol_{fam}.png"
        curves = {
            plain_label(method): (list(row["returns"]), list(row["std_over_seeds"]))
            for method in PAPER_METHODS  # the main text's methods; the extensions have a figure of their own
            if not catalogue.method(method).scores_once and (row := by_key.get((fam, method))) is not None
        }
        if not curves:
            written.append(plots.plot_placeholder("not yet available:\nresults/table.json (env 'paper')", path))
            continue
        oracle = by_key.get((fam, catalogue.ORACLE))
        written.append(
            plots.plot_adaptation_curves(
                curves,
                path,
                reference={catalogue.method(m).label: v for m, v in PAPER_CURVES[fam].items()},
                oracle=PAPER_ORACLE[fam],
                own_oracle=oracle["returns"][0] if oracle else None,
                title=f"{family.capitalize()} tasks, the paper's environment and protocol",
                ylabel="mean return (40 test tasks, 20 trajectories of 200 steps)",
            )
        )
    return written


def wall_time(seconds: float | None) -> str:
    """Training time per seed as the tables print it: ``"6.7 min"`` under two hours, ``"2.4 h"`` above, ``""`` for
    none (a random policy) or unknown."""
    if not seconds:
        return ""
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def protocol_markdown(rows: Sequence[Row]) -> str:
    """The README's table: every row of ``results/table.json`` (mean ± std over seeds, mean s.e.m. over tasks in
    brackets), with the paper's rows after those of its environment."""
    header = [
        "| env | T | family | method | seeds | k = 0 | k = 1 | k = 2 | k = 3 "
        "| env steps/seed | time/seed | step sizes |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines = list(header)

    def cell(row: Row, k: int) -> str:
        mean, std, sem = row_cell(row, k)
        if mean is None:
            return ""
        return f"{mean:.1f}" + ("" if std is None else f" ± {std:.1f}") + f" ({sem:.1f})"

    short = {family: fam for fam, family in FAMILIES.items()}  # the paper's families only
    for row in rows:
        fam = short.get(row["family"], "")
        sizes = ", ".join(f"{a:g}" for a in row["step_sizes"]) or "none"
        steps = f"{row['env_steps_per_seed'] / 1e6:g} M"
        cells = [cell(row, k) for k in range(4)]
        lines.append(
            f"| {row['env']} | {row['horizon']} | {row['family']} | **{row['method']}** | {row['seeds']} | "
            + " | ".join(cells)
            + f" | {steps} | {wall_time(row.get('wall_seconds_per_seed'))} | {sizes} |"
        )
        if row["env"] == "paper" and row["horizon"] == 200 and fam:
            if catalogue.method(row["method"]).scores_once:
                lines.append(f"| | | | *paper* | | {PAPER_ORACLE[fam]:.1f} | | | | | | |")
            elif row["method"] in PAPER_CURVES[fam]:
                paper = " | ".join(f"{v:.1f}" for v in PAPER_CURVES[fam][row["method"]])
                budget = f"{PAPER_BUDGET_M[fam]:g} M" if row["method"] == catalogue.REFERENCE else ""
                lines.append(f"| | | | *paper* | | {paper} | {budget} | | |")
    return "\n".join(lines) + "\n"


def gradient_variance_numbers(sheet: NumberSheet, folder: str | os.PathLike[str]) -> None:
    """``variance.<name>.ratio`` and ``.ratio-dice`` (LVC / REINFORCE and LVC / DiCE traces of the meta-gradient's
    covariance; ``.factor-dice`` is DiCE / LVC), ``.batches`` and ``.snr-lvc`` / ``.snr-reinforce`` / ``.snr-dice`` from
    ``results/diagnostics/gradient_variance_<name>.json`` (``diagnose --gradient-variance``), for ``name`` in
    ``paper_dir_init`` and ``paper_dir_s0``."""
    for name in ("paper_dir_init", "paper_dir_s0"):
        path = Path(folder) / f"gradient_variance_{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            values = (data["variance_ratio_lvc_over_reinforce"], data["variance_ratio_lvc_over_dice"],
                      data["batches"], data["ratio"]["snr"], data["reinforce"]["snr"], data["dice"]["snr"])  # fmt: skip
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            values = (None,) * 6
        key = f"variance.{name.replace('_', '-')}"
        for field, value, digits in zip(
            ("ratio", "ratio-dice", "batches", "snr-lvc", "snr-reinforce", "snr-dice"),
            values,
            (2, 3, 0, 2, 2, 2),
            strict=True,
        ):
            sheet.put(f"{key}.{field}", value, digits)
        sheet.put(f"{key}.factor-dice", 1.0 / values[1] if values[1] else None, 0)
