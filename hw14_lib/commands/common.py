"""What the sub-commands share: the default config, the bad-input error and ``--set`` parsing."""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_CONFIG = "configs/backward.yaml"
"""The config ``train`` and ``diagnose`` use, and ``evaluate`` falls back on."""


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def parse_overrides(pairs: Sequence[str]) -> dict[str, object]:
    """``["key=value", ...]`` (``--set``) -> ``{key: YAML value}``."""
    import yaml

    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {pair!r} must look like KEY=VALUE")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {pair!r}: the value is not valid YAML") from exc
    return overrides
