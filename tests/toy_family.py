"""A toy task family, as a user would add one: two goal velocities, its task distribution's entry and its
catalogue entry. Nothing of it is in ``hw14_lib``; :func:`register` adds both entries for one test."""

from __future__ import annotations

import numpy as np
import pytest

from hw14_lib.common import catalogue
from hw14_lib.rl import task_families
from hw14_lib.rl.task_families import TaskDistribution, TaskFamily
from hw14_lib.rl.tasks import Task

NAME = "two_speeds"
"""The family's name (``TrainConfig.task``)."""
SHORT = "two"
"""Its short name (the prefix of its experiments' folders)."""
GOALS = (0.5, 1.5)


def draw(dist: TaskDistribution, n: int, rng: np.random.Generator) -> list[Task]:
    """``n`` tasks, each goal velocity one of :data:`GOALS`."""
    return [Task.of_velocity(v, ctrl_weight=dist.ctrl_weight) for v in rng.choice(GOALS, n)]


FAMILY = TaskFamily(NAME, 1, draw)
ENTRY = catalogue.Family(SHORT, NAME, label="Two-speed")


def register(monkeypatch: pytest.MonkeyPatch, *, entry: bool = True) -> None:
    """Add the task distribution (and, with ``entry``, the catalogue's family) for the test that calls it."""
    monkeypatch.setitem(task_families.TASK_FAMILIES, NAME, FAMILY)
    if entry:
        monkeypatch.setattr(catalogue, "FAMILIES", (*catalogue.FAMILIES, ENTRY))
