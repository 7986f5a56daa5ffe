"""Whether adaptation matters on the families the MAML paper did not run (dynamics, the motors families, signed
velocity): two leads per family, each with its standard error, from ``results/table.json``'s rows.

* the **oracle's lead** at ``k = 0``: the oracle (told the task) minus the pretrained policy (not told it), what
  knowing the task is worth; a family is meta-trained only when it is at least :data:`ORACLE_LEAD_GATE`;
* **MAML's lead** after one step: MAML minus the pretrained policy adapted with its own validated step size,
  and how many standard errors that is.

A difference's standard error comes from the test tasks, as the report's other differences
(:func:`hw14_lib.report.comparison.row_difference`): each row's mean s.e.m. over its 40 tasks divided by the square
root of its seeds, the two combined in quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hw14_lib.common import catalogue
from hw14_lib.report.comparison import Row, row_difference, rows_of
from hw14_lib.report.tex import NumberSheet

ORACLE_LEAD_GATE = 50.0
"""The oracle's lead over the pretrained policy at ``k = 0`` below which a family is not meta-trained: knowing the
task is worth too little there for adaptation to matter."""


@dataclass(frozen=True)
class Lead:
    """``a - b`` and its standard error."""

    value: float
    se: float

    @property
    def z(self) -> float:
        """The lead in standard errors."""
        return self.value / self.se if self.se > 0 else math.inf


@dataclass(frozen=True)
class FamilyLeads:
    """A family's two leads (``None`` where a row is missing)."""

    oracle: Lead | None
    maml: Lead | None


def beyond_paper_families() -> list[str]:
    """The catalogue's families the MAML paper did not run (short names, in the catalogue's order)."""
    return [f.short for f in catalogue.FAMILIES if f.paper is None]


def _lead(a: Row | None, b: Row | None, k_a: int, k_b: int) -> Lead | None:
    return Lead(*row_difference(a, b, k_a, k_b)) if a is not None and b is not None else None


def family_leads(rows: Sequence[Row]) -> dict[str, FamilyLeads]:
    """``fam -> FamilyLeads`` on the paper's environment for :func:`beyond_paper_families` with any row."""
    paper = rows_of(rows, env="paper")
    leads = {}
    for fam in beyond_paper_families():
        oracle, pretrained = paper.get((fam, catalogue.ORACLE)), paper.get((fam, catalogue.PRETRAINED))
        maml = paper.get((fam, catalogue.REFERENCE))
        if oracle or pretrained or maml:
            leads[fam] = FamilyLeads(_lead(oracle, pretrained, 0, 0), _lead(maml, pretrained, 1, 1))
    return leads


def family_lead_numbers(sheet: NumberSheet, leads: dict[str, FamilyLeads]) -> None:
    """``fam.<fam>.oracle-lead`` and ``.oracle-lead-se``, ``fam.<fam>.maml-lead`` (after one step),
    ``.maml-lead-se`` and ``.maml-lead-z``; ``fam.gate`` (:data:`ORACLE_LEAD_GATE`)."""
    sheet.put("fam.gate", ORACLE_LEAD_GATE, 0)
    for fam in beyond_paper_families():
        entry = leads.get(fam, FamilyLeads(None, None))
        for name, lead in (("oracle-lead", entry.oracle), ("maml-lead", entry.maml)):
            sheet.put(f"fam.{fam}.{name}", lead.value if lead else None)
            sheet.put(f"fam.{fam}.{name}-se", lead.se if lead else None)
        sheet.put(f"fam.{fam}.maml-lead-z", entry.maml.z if entry.maml else None)


def family_lead_text(leads: dict[str, FamilyLeads]) -> list[str]:
    """One plain line per family for the notebook."""
    lines = []
    for fam, entry in leads.items():
        name = catalogue.family(fam).name
        parts = []
        if entry.oracle:
            parts.append(f"oracle minus pretrained at k = 0: {entry.oracle.value:+.1f} ± {entry.oracle.se:.1f}")
        if entry.maml:
            maml = entry.maml
            parts.append(f"MAML minus pretrained after one step: {maml.value:+.1f} ± {maml.se:.1f} ({maml.z:.1f} s.e.)")
        if parts:
            lines.append(f"{name}: " + "; ".join(parts))
    return lines
