"""The later-steps studies the ``later-steps`` command writes (``results/later_steps/*.json``), read back: a run's
final evaluation repeated with the inner steps after the first scaled by ``c``, on held-out or validation tasks.
The protocol chooses its step-size schedule from the validation studies; the report draws them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw14_lib.common import catalogue
from hw14_lib.common.io_utils import visible_files


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class LaterStepStudy:
    """One ``python -m hw14_lib later-steps`` file: a run's final evaluation repeated with the inner
    steps after the first scaled by ``c``.

    Attributes:
        run: the run folder's name.
        task: the task distribution.
        rows: per scale: ``scale``, ``step_sizes``, ``mean_stochastic[k]`` (k = 0..K) and
            ``stochastic[k][task]``.
        validation: measured on validation tasks and seeds rather than the held-out ones.
        alpha: the first step size when it replaced the run's ``inner_lr`` (``later-steps --alpha``).
    """

    run: str
    task: str
    rows: list[dict[str, Any]]
    validation: bool = False
    alpha: float | None = None

    @property
    def label(self) -> str:
        """``run``, then ``_alpha<alpha>`` for a replaced step size and ``_validation`` for a
        validation study (``vel_pretrained_alpha0.01_validation``)."""
        alpha = f"_alpha{self.alpha:g}" if self.alpha is not None else ""
        return self.run + alpha + ("_validation" if self.validation else "")


def load_later_steps(folder: str | Path) -> list[LaterStepStudy]:
    """Every readable ``*.json`` of ``results/later_steps/``, by task (direction first), run name,
    the run's own step size before replaced ones (smallest first) and held-out before validation;
    rows by decreasing scale."""
    folder = Path(folder)
    found = []
    for path in visible_files(folder, "*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = [r for r in data["rows"] if _is_later_step_row(r)]
            if rows:
                rows.sort(key=lambda r: -r["scale"])
                validation = data.get("validation") is True
                alpha = float(data["alpha"]) if is_number(data.get("alpha")) else None
                found.append(LaterStepStudy(str(data["run"]), str(data["config"]["task"]), rows, validation, alpha))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            continue  # not a later-steps file
    order = [family.name for family in catalogue.FAMILIES]
    return sorted(
        found,
        key=lambda s: (order.index(s.task) if s.task in order else len(order), s.run, s.alpha or 0.0, s.validation),
    )


def _is_later_step_row(row: Mapping[str, Any]) -> bool:
    means, per_task = row.get("mean_stochastic"), row.get("stochastic")
    return (
        is_number(row.get("scale"))
        and isinstance(means, list)
        and len(means) > 0
        and all(map(is_number, means))
        and isinstance(per_task, list)
        and len(per_task) == len(means)
        and all(isinstance(r, list) and r and all(map(is_number, r)) for r in per_task)
    )
