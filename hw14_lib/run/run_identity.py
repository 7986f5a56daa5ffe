"""What a run folder's files were made with: whether a configuration is the one they were trained with
(``evaluate`` asks before scoring a policy with the ``config.yaml`` beside it), and the version of the code that
trained them (recorded in ``summary.json``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from hw14_lib.run.config import TrainConfig
from hw14_lib.run.run_folder import CHECKPOINT, CONFIG, SUMMARY, RunFolderError, read_checkpoint


def check_config_matches_run(cfg: TrainConfig, folder: Path) -> None:
    """Check that ``cfg`` is the configuration the run in ``folder`` was trained with, by the configuration its
    ``summary.json`` (a finished run) or the digest its ``checkpoint.pt`` records; a folder with neither, or with
    files of older versions that record none, passes.

    Raises:
        RunFolderError: they differ (a damaged or replaced ``config.yaml``), or ``summary.json`` is damaged.
    """
    recorded: str | None = None
    source = folder / SUMMARY
    if source.is_file():
        try:
            summary = json.loads(source.read_text(encoding="utf-8"))
            recorded = TrainConfig.from_dict(summary["config"]).digest if "config" in summary else None
        except (ValueError, TypeError, KeyError) as exc:
            raise RunFolderError(f"{str(source)!r} is damaged ({type(exc).__name__}: {exc})") from exc
    elif (folder / CHECKPOINT).is_file():
        source = folder / CHECKPOINT
        recorded = read_checkpoint(source).get("config_digest")
    if recorded is not None and recorded != cfg.digest:
        raise RunFolderError(
            f"{str(folder / CONFIG)!r} is not the configuration the run was trained with (by {str(source)!r}); "
            "restore it or pass --config with the run's configuration"
        )


PACKAGE = Path(__file__).resolve().parents[1]
"""The ``hw14_lib`` folder that is running (every sub-package, not only this module's)."""


def code_version(package: Path = PACKAGE) -> dict[str, object] | None:
    """The git commit of the ``hw14_lib`` that is running and whether its files (``package`` and everything under
    it) differ from it, as ``{"commit": sha, "modified": bool}``; ``None`` outside a git checkout (an unpacked
    submission)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=package, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        modified = bool(git("status", "--porcelain", "--", "."))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "modified": modified}
