"""The one palette: each method's label and colour in every figure of the report and the notebook (and the
swatches of the notebook's tables). A figure finds a series' colour with :func:`method_color`; a series that is no
method (an ablation, a scale) takes one of :data:`OTHER_COLORS`, which no method uses."""

from __future__ import annotations

from dataclasses import dataclass

from hw14_lib.common.catalogue import METHODS


@dataclass(frozen=True)
class MethodStyle:
    """How figures draw a method: its label (plain text) and its matplotlib colour."""

    label: str
    color: str


METHOD_STYLES: dict[str, MethodStyle] = {m.name: MethodStyle(m.label, m.color) for m in METHODS}
"""Method (as ``results/table.json`` and the run folders name it) -> its label and colour (the catalogue's), in
every figure."""
OTHER_COLORS: tuple[str, ...] = ("tab:red", "tab:cyan", "tab:pink", "black", "tab:gray")
"""Colours of series that are no method (ablations, the untrained policy), in order; none is a method's."""


def method_of(label: str) -> str | None:
    """The method a series label names: a key of :data:`METHOD_STYLES` or its label (``"MAML, learned α"``), also
    followed by a qualifier after a comma or a space and bracket (``"pretrained, α = 4"``, ``"MAML (ours)"``); the
    longest matching label wins. ``None`` for any other label."""
    for key, style in sorted(METHOD_STYLES.items(), key=lambda item: -len(item[1].label)):
        for name in (style.label, key):
            if label == name or label.startswith((f"{name},", f"{name} (")):
                return key
    return None


def method_color(label: str, *, other: int = 0) -> str:
    """The palette colour of the method ``label`` names (:func:`method_of`); for any other label, the ``other``-th
    of :data:`OTHER_COLORS` (cycling)."""
    method = method_of(label)
    return METHOD_STYLES[method].color if method else OTHER_COLORS[other % len(OTHER_COLORS)]
