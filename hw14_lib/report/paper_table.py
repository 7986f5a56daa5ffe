"""The main text's comparison with the paper (:func:`main_protocol_table`): MAML under both schedules of its
later steps (a scale ``c`` validated on other tasks, and the paper's ``c = 1``) beside the paper's baselines, and
the numbers the text quotes about it (:func:`schedule_numbers`, :func:`difference_numbers`)."""

from __future__ import annotations

from collections.abc import Sequence

from hw14_lib.common import catalogue
from hw14_lib.report.comparison import (
    LABELS,
    PAPER_BUDGET_M,
    PAPER_METHODS,
    Row,
    row_cell,
    row_difference,
    rows_of,
    tex_row_cell,
)
from hw14_lib.report.data import PAPER_CURVES, PAPER_ORACLE
from hw14_lib.report.tex import NA, NumberSheet, tex_number, tex_pm


def later_scale_of(row: Row) -> float | None:
    """The validated scale ``c`` of a row's later steps (``step_sizes[1] / step_sizes[0]``), ``None`` without one."""
    sizes = row.get("step_sizes") or []
    return sizes[1] / sizes[0] if len(sizes) > 1 and sizes[0] else None


def paper_schedule_row(row: Row) -> Row | None:
    """A row's ``c = 1`` schedule (every step of size ``alpha``, the paper's practice) as a row of its own, or
    ``None`` when it has none (its later steps already had size ``alpha``)."""
    paper = row.get("paper_schedule")
    if paper is None:
        return None
    return {**row, **paper}


def main_protocol_table(rows: Sequence[Row]) -> str:
    """``tab_protocol_main.tex``: the main text's comparison on the paper's environment, direction and velocity:
    MAML with its validated later-step scale ``c`` and with ``c = 1`` (the paper's practice; ``k = 0, 1`` are
    shared, so left blank), the pretrained, random and oracle baselines, each beside the paper's row."""
    by_key = rows_of(rows, env="paper")
    lines = [
        r"\begin{tabular}{@{}ll r rrrr r@{}}",
        r"\toprule",
        r" & & & \multicolumn{4}{c}{return after $k$ inner steps} & steps \\",
        r"\cmidrule(lr){4-7}",
        r"method & source & seeds & $k=0$ & $k=1$ & $k=2$ & $k=3$ & (M) \\",
    ]
    for fam, family in ((short, f.name) for short, f in catalogue.paper_families().items()):
        lines += [r"\midrule", rf"\multicolumn{{8}}{{@{{}}l}}{{\emph{{{family.capitalize()} tasks}}}} \\"]
        for method in PAPER_METHODS:  # the extensions are in the appendix's full table
            lines += _main_rows(by_key.get((fam, method)), method)
            if catalogue.method(method).scores_once:
                lines.append(rf" & paper & & \multicolumn{{4}}{{c}}{{{tex_number(PAPER_ORACLE[fam])}}} & \\")
            elif method in PAPER_CURVES[fam]:
                budget = tex_number(PAPER_BUDGET_M[fam]) if method == catalogue.REFERENCE else ""
                values = [tex_number(v) for v in PAPER_CURVES[fam][method]]
                lines.append(" & ".join(["", "paper", "", *values, budget]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _main_rows(row: Row | None, method: str) -> list[str]:
    """Our rows of one method in :func:`main_protocol_table` (MAML: one per later-step schedule)."""
    label = LABELS[method]
    if row is None:
        empty = [rf"\multicolumn{{4}}{{c}}{{{NA}}}"] if catalogue.method(method).scores_once else [NA] * 4
        return [" & ".join([label, "ours", "0", *empty, ""]) + r" \\"]
    steps = tex_number(row["env_steps_per_seed"] / 1e6)
    if catalogue.method(method).scores_once:
        cells = [rf"\multicolumn{{4}}{{c}}{{{tex_row_cell(row, 0)}}}"]
    else:
        cells = [tex_row_cell(row, k) for k in range(4)]
    scale = later_scale_of(row) if method == catalogue.REFERENCE else None
    if scale is not None and scale != 1:
        label = rf"{label}, $c = {scale:g}$"
    lines = [" & ".join([label, "ours", str(row["seeds"]), *cells, steps]) + r" \\"]
    paper_row = paper_schedule_row(row) if method == catalogue.REFERENCE else None
    if paper_row is not None:
        cells = ["", "", *(tex_row_cell(paper_row, k) for k in (2, 3))]
        lines.append(" & ".join([rf"{LABELS[method]}, $c = 1$", "ours", str(row["seeds"]), *cells, ""]) + r" \\")
    return lines


LEVEL_Z = 2.0
"""Differences within this many standard errors are read as level (sampling noise of the test tasks)."""
STEP_WORDS = ("no step", "one", "two", "three")


def difference_reading(z: Sequence[float | None]) -> str | None:
    """Words for the pretrained policy against MAML after ``k = 1, 2, 3`` steps from the differences' ``z``
    (difference / standard error): "ahead of MAML after one step; level after two and three steps"."""
    if any(v is None for v in z[1:4]):
        return None
    groups: dict[str, list[int]] = {"ahead of MAML": [], "level with MAML": [], "behind MAML": []}
    for k in (1, 2, 3):
        v = round(float(z[k]), 1)  # type: ignore[arg-type]  # as the text prints it: 2.0 reads as level
        groups["ahead of MAML" if v > LEVEL_Z else "behind MAML" if v < -LEVEL_Z else "level with MAML"].append(k)
    parts = []
    for words, steps in groups.items():
        if steps:
            names = [STEP_WORDS[k] for k in steps]
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            parts.append(f"{words} after {listed} step{'s' * (steps != [1])}")
    return "; ".join(parts)


def difference_numbers(sheet: NumberSheet, rows: Sequence[Row], *, env: str) -> None:
    """``diff.<env>.<fam>.pretrained.k<k>``: the pretrained policy's return minus MAML's after ``k`` steps on the
    same protocol, ``.se`` its standard error from the test tasks (each row's mean s.e.m. over tasks divided by
    the square root of its seeds, combined in quadrature), ``.z`` their ratio, and
    ``diff.<env>.<fam>.pretrained.reading`` (:func:`difference_reading`, level within :data:`LEVEL_Z` standard
    errors)."""
    by_key = rows_of(rows, env=env)
    for fam in catalogue.paper_families():
        maml, other = by_key.get((fam, catalogue.REFERENCE)), by_key.get((fam, catalogue.PRETRAINED))
        zs: list[float | None] = []
        for k in range(4):
            diff = se = None
            if maml and other and k < len(maml["returns"]) and k < len(other["returns"]):
                diff, se = row_difference(other, maml, k, k)
            key = f"diff.{env}.{fam}.pretrained.k{k}"
            sheet.put(key, diff)
            sheet.put(f"{key}.se", se)
            zs.append(diff / se if diff is not None and se else None)
            sheet.put(f"{key}.z", zs[-1])
        sheet.text(f"diff.{env}.{fam}.pretrained.reading", difference_reading(zs))


def schedule_numbers(sheet: NumberSheet, rows: Sequence[Row]) -> None:
    """``table.<env>.<fam>.<method>.c`` (the validated scale of MAML, ProMP, ANIL), ``.<method>.c1.k<k>`` and
    ``.pm`` (the ``c = 1`` schedule after ``k = 2, 3``), ``table.paper.<fam>.maml.c1.gap.k<k>`` (minus the paper's
    MAML) and ``.pretrained.alpha`` (the pretrained policy's validated step size), for every family."""
    for env in ("paper", "gymnasium"):
        by_key = rows_of(rows, env=env)
        for fam in (f.short for f in catalogue.FAMILIES):
            pretrained = by_key.get((fam, catalogue.PRETRAINED))
            for method in (m.name for m in catalogue.METHODS if m.schedule == "validated"):
                row = by_key.get((fam, method))
                sheet.put(f"table.{env}.{fam}.{method}.c", later_scale_of(row) if row else None, 2)
                paper_row = paper_schedule_row(row) if row else None
                for k in (2, 3):
                    mean, std, _ = row_cell(paper_row, k) if paper_row else (None, None, None)
                    sheet.put(f"table.{env}.{fam}.{method}.c1.k{k}", mean)
                    seeds = paper_row["seeds"] if paper_row else 0
                    sheet.text(f"table.{env}.{fam}.{method}.c1.k{k}.pm", tex_pm(mean, std, seeds))
                    if env == "paper" and method == catalogue.REFERENCE and fam in PAPER_CURVES:
                        gap = mean - PAPER_CURVES[fam][catalogue.REFERENCE][k] if mean is not None else None
                        sheet.put(f"table.paper.{fam}.maml.c1.gap.k{k}", gap)
            alpha = pretrained["step_sizes"][0] if pretrained and pretrained["step_sizes"] else None
            sheet.text(f"table.{env}.{fam}.pretrained.alpha", f"{alpha:g}" if alpha is not None else None)
