"""A configuration's digest: what each checkpoint records, so that a checkpoint and a ``config.yaml`` that do not
belong together (a truncated or edited config, another run's checkpoint) are refused on resume and evaluation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

RUNTIME_FIELDS = ("physics_threads", "sampler", "notes")
"""Fields that do not change a run's results: left out of the digest."""
FIELDS_ADDED_AFTER_THE_DIGEST = ("inner_params", "outer_settings")
"""Fields added after checkpoints began to record the digest: they enter it only when they differ from their default,
so a checkpoint written before a field existed still matches its run (``tests/run/test_untrusted_files.py`` makes every
new field be listed here)."""
FIELDS_AT_THE_DIGEST = frozenset(
    {
        "env", "task", "velocity_low", "velocity_high", "dynamics_low", "dynamics_high", "ctrl_weight", "iterations",
        "meta_batch_size", "trajectories_per_task", "horizon", "backend", "physics_threads", "gamma", "gae_lambda",
        "baseline", "normalize_advantages", "objective", "inner_lr", "learned_step_sizes", "step_size_lr",
        "inner_steps", "inner_l2", "first_order", "inner_estimator", "entropy_coef", "oracle", "outer_optimizer",
        "outer_lr", "promp_steps", "promp_clip", "promp_kl_coef", "promp_adaptive_kl", "promp_target_kl",
        "weight_decay", "grad_clip", "trpo_max_kl", "trpo_cg_iterations", "trpo_cg_damping",
        "trpo_line_search_steps", "trpo_backtrack_ratio", "trpo_curvature_trajectories", "hidden_sizes",
        "init_log_std", "squash", "seed", "eval_tasks", "eval_trajectories", "eval_adaptation_steps", "video",
        "torch_threads", "notes",
    }
)  # fmt: skip
"""The configuration's fields when checkpoints began to record the digest."""


def config_digest(fields: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """SHA-256 of ``fields``' canonical JSON, without :data:`RUNTIME_FIELDS` and without the
    :data:`FIELDS_ADDED_AFTER_THE_DIGEST` that hold their ``defaults``."""
    kept = {
        k: v
        for k, v in fields.items()
        if k not in RUNTIME_FIELDS and not (k in FIELDS_ADDED_AFTER_THE_DIGEST and v == defaults.get(k))
    }
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()
