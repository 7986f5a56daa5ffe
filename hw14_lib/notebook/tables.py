"""The notebook's tables as HTML: one line per row (no cell wraps), numbers right-aligned, and each method named
with a swatch of its colour in the figures (:data:`hw14_lib.common.palette.METHOD_STYLES`).

Only inline ``style`` attributes are used: JupyterLab, Notebook 7 and VS Code keep them in a notebook opened
untrusted, whereas they drop ``<style>`` blocks and scripts there.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.colors import to_hex

from hw14_lib.common import catalogue
from hw14_lib.common.palette import METHOD_STYLES
from hw14_lib.report.comparison import PAPER_BUDGET_M, wall_time
from hw14_lib.report.data import FAMILIES, PAPER_CURVES, PAPER_ORACLE
from hw14_lib.report.extensions import REACH_WINDOW


class Markup(str):
    """Cell text that is already HTML (built here from numbers, never from a file's text)."""


CELL = "padding: 1px 8px; white-space: nowrap; text-align: left;"
NUMBER = CELL + " text-align: right; font-variant-numeric: tabular-nums;"
GROUP = "padding: 6px 8px 1px; text-align: left; font-weight: bold; border-bottom: 1px solid #999;"


@dataclass(frozen=True)
class Cell:
    """One table cell: its text (escaped when drawn, unless it is :class:`Markup`), whether it is a number, extra
    inline CSS, and the method it names (drawn with a swatch of the method's colour)."""

    text: str
    number: bool = False
    style: str = ""
    method: str | None = None

    def html(self, tag: str = "td") -> str:
        """The cell as ``<td>`` (or ``tag``); a method cell starts with a square in the method's colour."""
        style = (NUMBER if self.number else CELL) + self.style
        text = self.text if isinstance(self.text, Markup) else html.escape(self.text)
        if self.method is not None:
            color = method_hex(self.method)
            swatch = f'<span style="color: {color};" title="{html.escape(self.method)}">&#9632;</span> '
            text = swatch + text
        return f'<{tag} style="{style}">{text}</{tag}>'


class HtmlTable:
    """A table for ``IPython.display``: a caption, a header, rows of :class:`Cell` and full-width group rows.

    Its ``_repr_html_`` draws it; ``str()`` gives the same HTML.
    """

    def __init__(self, header: Sequence[str], *, caption: str = "", numeric_from: int = 1):
        self.header = list(header)
        self.caption = caption
        self.numeric_from = numeric_from
        self.rows: list[list[Cell] | str] = []

    def add(self, cells: Sequence[Cell | str]) -> None:
        """Append a row; plain strings become text cells, numbers from column ``numeric_from`` on."""
        row = [c if isinstance(c, Cell) else Cell(c, number=i >= self.numeric_from) for i, c in enumerate(cells)]
        if len(row) != len(self.header):
            raise ValueError(f"a row of {len(row)} cells in a table of {len(self.header)} columns")
        self.rows.append(row)

    def group(self, title: str) -> None:
        """Append a row that spans the table: the title of the rows below it."""
        self.rows.append(title)

    def __len__(self) -> int:
        return sum(isinstance(r, list) for r in self.rows)

    def _repr_html_(self) -> str:
        head = "".join(
            Cell(h, number=i >= self.numeric_from, style=" border-bottom: 1px solid #999;").html("th")
            for i, h in enumerate(self.header)
        )
        body = []
        for row in self.rows:
            if isinstance(row, str):
                body.append(f'<tr><td colspan="{len(self.header)}" style="{GROUP}">{html.escape(row)}</td></tr>')
            else:
                body.append("<tr>" + "".join(cell.html() for cell in row) + "</tr>")
        caption = (
            f'<caption style="caption-side: top; text-align: left; padding-bottom: 4px;">{html.escape(self.caption)}'
            "</caption>"
            if self.caption
            else ""
        )
        return (
            '<table style="border-collapse: collapse; font-size: 12px; margin: 4px 0;">'
            f"{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    def __str__(self) -> str:
        return self._repr_html_()

    def __repr__(self) -> str:
        return f"<table: {len(self)} rows of {', '.join(self.header)}>"


def method_hex(method: str) -> str:
    """The ``#rrggbb`` colour of ``method`` in every figure (:data:`hw14_lib.common.palette.METHOD_STYLES`)."""
    return to_hex(METHOD_STYLES[method].color)


def mean_cell(mean: float | None, std: float | None = None, sem: float | None = None) -> Cell:
    """``mean ± std (sem)`` with one decimal; an empty cell for ``None``."""
    if mean is None or not math.isfinite(mean):
        return Cell("", number=True)
    text = f"{mean:.1f}" + (f" ± {std:.1f}" if std is not None else "") + (f" ({sem:.1f})" if sem is not None else "")
    return Cell(text, number=True)


def environment_title(env: str, horizon: int) -> str:
    """The group title of a ``results/table.json`` environment."""
    name = "the paper's environment (rllab's half-cheetah)" if env == "paper" else "Gymnasium's HalfCheetah-v5"
    return f"{name}, T = {horizon}"


def protocol_html(rows: Sequence[Mapping[str, Any]]) -> HtmlTable:
    """``results/table.json`` as one table: a group of rows per task family, environment and horizon; per row the
    return after k = 0..3 steps (mean ± std over seeds, the mean s.e.m. over the test tasks in brackets), the env
    steps and time per seed and the step sizes; the paper's row (Finn et al. 2017,
    :data:`hw14_lib.report.data.PAPER_CURVES`) under ours on its environment; for MAML with smaller later steps,
    a second row with every step of size α."""
    table = HtmlTable(
        ["method", "seeds", "k = 0", "k = 1", "k = 2", "k = 3", "steps / seed", "time / seed", "step sizes"],
        caption="Return after k inner steps on the test tasks: mean ± std over seeds (mean s.e.m. over tasks)",
        numeric_from=1,
    )
    short = {family: fam for fam, family in FAMILIES.items()}
    group = None
    for row in rows:
        if (row["env"], row["horizon"], row["family"]) != group:
            group = (row["env"], row["horizon"], row["family"])
            table.group(f"{row['family'].capitalize()} tasks, {environment_title(row['env'], row['horizon'])}")
        method = row["method"]
        label = METHOD_STYLES[method].label if method in METHOD_STYLES else method
        table.add(_protocol_cells(row, Cell(label, method=method if method in METHOD_STYLES else None)))
        schedule = row.get("paper_schedule")
        if isinstance(schedule, Mapping) and schedule.get("step_sizes") != row.get("step_sizes"):
            table.add(_protocol_cells({**row, **schedule}, Cell(f"{label}, every step α", method=method)))
        fam = short.get(row["family"])
        if row["env"] != "paper" or row["horizon"] != 200 or fam not in PAPER_CURVES:
            continue
        paper = Cell("paper (Finn et al.)", style=" font-style: italic; color: #555;")
        if catalogue.method(method).scores_once:
            values = [Cell(f"{PAPER_ORACLE[fam]:.1f}", number=True), *[Cell("", number=True)] * 3]
        elif method in PAPER_CURVES[fam]:
            values = [Cell(f"{v:.1f}", number=True) for v in PAPER_CURVES[fam][method]]
        else:
            continue
        budget = f"{PAPER_BUDGET_M[fam]:g} M" if method == catalogue.REFERENCE else ""
        table.add([paper, "", *values, budget, "", ""])
    return table


def _protocol_cells(row: Mapping[str, Any], method: Cell) -> list[Cell | str]:
    returns, std, sem = row["returns"], row["std_over_seeds"], row["sem_over_tasks"]
    cells = [
        mean_cell(returns[k], std[k] if row["seeds"] > 1 else None, sem[k]) if k < len(returns) else mean_cell(None)
        for k in range(4)
    ]
    sizes = ", ".join(f"{a:.3g}" for a in row.get("step_sizes") or []) or "none"
    steps = f"{row['env_steps_per_seed'] / 1e6:g} M"
    return [method, str(row["seeds"]), *cells, steps, wall_time(row.get("wall_seconds_per_seed")), sizes]


def later_steps_html(studies: Sequence[Any]) -> list[HtmlTable]:
    """The ``results/later_steps/`` studies (:class:`hw14_lib.report.data.LaterStepStudy`) as two tables of the
    return after the last inner step: MAML runs with the steps after the first at ``c * alpha`` (a column per
    ``c``), and the pretrained policies with a step size ``alpha`` of their own (a row per ``alpha``)."""
    scaled = [s for s in studies if s.alpha is None]
    replaced = [s for s in studies if s.alpha is not None]
    tables = []
    if scaled:
        scales = sorted({r["scale"] for s in scaled for r in s.rows}, reverse=True)
        steps = max(len(r["mean_stochastic"]) - 1 for s in scaled for r in s.rows)
        table = HtmlTable(
            ["run", "tasks", *(f"c = {c:g}" for c in scales)],
            caption=f"Meta-trained runs: return after {steps} steps, the steps after the first of size c·α",
            numeric_from=2,
        )
        for study in scaled:
            by_scale = {r["scale"]: r["mean_stochastic"][-1] for r in study.rows}
            tasks = "validation" if study.validation else "held-out"
            table.add(
                [Cell(study.run, method=catalogue.REFERENCE), tasks, *(mean_cell(by_scale.get(c)) for c in scales)]
            )
        tables.append(table)
    if replaced:
        steps = max(len(r["mean_stochastic"]) - 1 for s in replaced for r in s.rows)
        table = HtmlTable(
            ["run", "tasks", "return for each α (the best in bold)"],
            caption=f"Pretrained policies: return after {steps} steps of size α",
            numeric_from=3,
        )
        groups: dict[tuple[str, bool], list[tuple[float, float]]] = {}
        for study in replaced:
            row = next((r for r in study.rows if r["scale"] == 1.0), study.rows[0])
            groups.setdefault((study.run, study.validation), []).append((study.alpha, row["mean_stochastic"][-1]))
        for (run, validation), values in groups.items():
            best = max(v for _, v in values)
            parts = [f"<b>α = {a:g}: {v:.1f}</b>" if v == best else f"α = {a:g}: {v:.1f}" for a, v in sorted(values)]
            table.add(
                [
                    Cell(run, method=catalogue.PRETRAINED),
                    "validation" if validation else "held-out",
                    Markup(", ".join(parts)),
                ]
            )
        tables.append(table)
    return tables


def extensions_html(facts: Any) -> HtmlTable:
    """:class:`hw14_lib.report.extensions.ExtensionFacts` as a table: per family and method, its seeds, the env
    steps at which its learning curve first reaches the paper's one-step return, its value at the budget, its best
    value, and for learned step sizes their values and on how many seeds every inner step raises the return."""
    table = HtmlTable(
        [
            "family",
            "method",
            "seeds",
            "paper's one step",
            "reached at",
            "at budget",
            "best",
            "learned α per step",
            "every step helps",
        ],
        caption=(
            "Learning curves on the training tasks (mean over seeds, moving average over "
            f"{REACH_WINDOW} iterations); the last two columns: the protocol's test tasks"
        ),
        numeric_from=2,
    )
    for (fam, method), curve in facts.curves.items():
        if curve.best is None:
            continue
        reach = f"{curve.reach / 1e6:.1f} M steps" if curve.reach is not None else "not reached"
        budget = f"{facts.budget[fam] / 1e6:g} M steps"
        at = f"{curve.at_budget:.1f} at {budget}" if curve.at_budget is not None else f"n/a at {budget}"
        sizes = facts.step_sizes.get(fam, []) if method == catalogue.LEARNED else []
        rising = facts.rising.get(fam) if method == catalogue.LEARNED else None
        table.add(
            [
                FAMILIES[fam],
                Cell(METHOD_STYLES[method].label, method=method),
                str(curve.seeds),
                f"{PAPER_CURVES[fam][catalogue.REFERENCE][1]:g}",
                reach,
                at,
                f"{curve.best:.1f}",
                ", ".join(f"{a:.3f}" for a in sizes),
                f"on {rising[0]} of {rising[1]} seeds" if rising else "",
            ]
        )
    return table
