"""The registry of outer optimizers ("meta-learners"): each is its name, its settings dataclass and how it is built.

A meta-learner owns its settings (a frozen dataclass next to it: :class:`~hw14_lib.rl.outer.AdamSettings`,
:class:`~hw14_lib.rl.outer.TRPOSettings`, :class:`~hw14_lib.rl.promp.ProMPSettings`), receives the policy once and
finishes its whole update, projections included. Adding one is a class, its settings and one entry here; the
training configuration names it (``outer_optimizer``) and fills its settings from the fields each settings class
lists in ``CONFIG_KEYS`` (:func:`settings_from`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hw14_lib.rl.outer import AdamMetaOptimizer, AdamSettings, OuterOptimizer, TRPOMetaOptimizer, TRPOSettings
from hw14_lib.rl.policy import GaussianMLPPolicy
from hw14_lib.rl.promp import ProMPMetaOptimizer, ProMPSettings


@dataclass(frozen=True)
class MetaLearner:
    """One outer optimizer: ``build(policy, settings, workers)`` makes it (``workers``: threads it may use).
    ``learns_step_sizes``: its update also trains learned inner step sizes and projects them into their bounds
    (``rl/step_sizes.py``); a configuration with learned sizes and a meta-learner without is refused."""

    name: str
    settings: type
    build: Callable[[GaussianMLPPolicy, Any, int], OuterOptimizer]
    learns_step_sizes: bool = True


META_LEARNERS: dict[str, MetaLearner] = {
    learner.name: learner
    for learner in (
        MetaLearner("adam", AdamSettings, lambda policy, settings, workers: AdamMetaOptimizer(policy, settings)),
        MetaLearner(
            "trpo", TRPOSettings, lambda policy, settings, workers: TRPOMetaOptimizer(policy, settings, workers=workers)
        ),
        MetaLearner(
            "promp",
            ProMPSettings,
            lambda policy, settings, workers: ProMPMetaOptimizer(policy, settings),
            learns_step_sizes=False,
        ),
    )
}


def meta_learner(name: str) -> MetaLearner:
    """The registered meta-learner ``name``.

    Raises:
        ValueError: no such meta-learner (naming the registered ones).
    """
    if name not in META_LEARNERS:
        raise ValueError(f"unknown outer optimizer {name!r}; registered: {', '.join(META_LEARNERS)}")
    return META_LEARNERS[name]


def settings_from(learner: MetaLearner, values: Mapping[str, Any]) -> Any:
    """``learner``'s settings from a flat mapping of configuration fields: ``values[key]`` for each ``CONFIG_KEYS``
    entry ``setting: key`` of its settings class, then the settings named in ``values["outer_settings"]`` (a new
    meta-learner's own, which need no configuration field).

    Raises:
        ValueError: an ``outer_settings`` key that is not one of the settings class's other fields.
    """
    keys: Mapping[str, str] = learner.settings.CONFIG_KEYS
    own = {f.name for f in dataclasses.fields(learner.settings)} - set(keys)
    extra: Mapping[str, Any] = values.get("outer_settings") or {}
    unknown = sorted(set(extra) - own)
    if unknown:
        allowed = ", ".join(repr(k) for k in sorted(own)) or "none (every setting has its own field)"
        raise ValueError(
            f"config field 'outer_settings' has key {unknown[0]!r}; allowed for outer_optimizer {learner.name!r}: "
            f"{allowed}"
        )
    return learner.settings(**{setting: values[key] for setting, key in keys.items()}, **extra)
