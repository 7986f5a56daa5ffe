"""Validation helpers of :class:`hw14_lib.config.TrainConfig`: one ``ValueError`` (or ``TypeError``) naming the field,
the value and what is allowed."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, get_args, get_origin, get_type_hints


def fail(name: str, value: Any, allowed: str) -> None:
    """Raise the one-line ``ValueError`` of a bad field."""
    raise ValueError(f"config field {name!r} has value {value!r}; allowed: {allowed}")


def at_least(cfg: Any, name: str, low: int) -> None:
    """``cfg.name`` is an integer >= ``low``."""
    if (value := getattr(cfg, name)) < low:
        fail(name, value, f"an integer >= {low}")


def positive(cfg: Any, name: str) -> None:
    """``cfg.name`` is finite and > 0."""
    if not (math.isfinite(value := getattr(cfg, name)) and value > 0):
        fail(name, value, "a finite number > 0")


def non_negative(cfg: Any, name: str) -> None:
    """``cfg.name`` is finite and >= 0."""
    if not (math.isfinite(value := getattr(cfg, name)) and value >= 0):
        fail(name, value, "a finite number >= 0")


def check_types(cfg: Any) -> None:
    """Reject wrong types (YAML gives ``"0.1"`` for a quoted number, ``True`` for ``yes``)."""
    hints = get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        hint = hints[f.name]
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if hint is bool:
            ok, expected = isinstance(value, bool), "true or false"
        elif hint is int:
            ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif hint is float:
            ok, expected = is_number, "a number"
            if ok:
                object.__setattr__(cfg, f.name, float(value))
        elif hint is str:
            ok, expected = isinstance(value, str), "a string"
        elif get_origin(hint) is Literal:  # a choice: the allowed values are the Literal's
            ok, expected = isinstance(value, str), "a string"
            if ok and value not in get_args(hint):
                fail(f.name, value, "one of " + ", ".join(repr(a) for a in get_args(hint)))
        elif f.name == "grad_clip":
            ok, expected = value is None or is_number, "a number or null"
        elif f.name == "trpo_curvature_trajectories":
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
            expected = "an integer or null"
        elif f.name == "hidden_sizes":
            ok = isinstance(value, (list, tuple)) and all(isinstance(h, int) and not isinstance(h, bool) for h in value)
            expected = "a list of integers"
        else:  # pragma: no cover - every field is listed above
            raise AssertionError(f"no type check for {f.name}")
        if not ok:
            raise TypeError(
                f"config field {f.name!r} has value {value!r} of type {type(value).__name__}; expected {expected}"
            )
