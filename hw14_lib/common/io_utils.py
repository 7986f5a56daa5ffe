"""Crash-safe file output: every artefact is written to a temporary file and renamed into place.

``os.replace`` is atomic on POSIX, so a kill at any moment leaves either the old or the new file.
``metrics.jsonl`` is append-only; each line is written whole and flushed, and a torn last line
(left by a crash of an older version) is dropped on read with a warning.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

_TMP_MARK = ".tmp"  # in the name of every temporary file of atomic_write


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename ``tmp_path`` onto ``path``; the temporary file lives in
    the same directory (so the rename never crosses file systems) and is removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix last: some writers (imageio, matplotlib) choose the format by it.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f"{_TMP_MARK}{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def visible_files(folder: str | os.PathLike[str], pattern: str = "*") -> list[Path]:
    """The files of ``folder`` matching ``pattern``, sorted, without hidden ones: ``pathlib``'s glob matches
    names that start with a dot, such as the temporaries of :func:`atomic_write` (``.X.json.*.tmp.json``),
    which a reader must never take for the file they replace. ``[]`` when ``folder`` is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith(".") and p.is_file())


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> None:
    """Delete the temporary files :func:`atomic_write` left in ``folder`` when killed (SIGKILL) before
    its rename; the files they were meant to replace are intact."""
    for stale in Path(folder).glob(f".*{_TMP_MARK}*"):
        stale.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically replace ``path`` by ``text`` (UTF-8)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Atomically replace ``path`` by ``data`` as indented JSON."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Atomically replace ``path`` by ``torch.save(obj)``."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append one JSON line, written in a single ``write`` call and flushed to disk."""
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read every complete line of a JSONL file; a torn last line is skipped with a warning."""
    records, _ = _read_complete_lines(Path(path))
    return records


def truncate_jsonl(path: str | os.PathLike[str], keep: int) -> list[dict[str, Any]]:
    """Keep the first ``keep`` complete records of ``path`` (dropping a torn tail) and rewrite it
    atomically; returns the records kept."""
    records, _ = _read_complete_lines(Path(path))
    records = records[:keep]
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return records


def _read_complete_lines(path: Path) -> tuple[list[dict[str, Any]], bool]:
    if not path.exists():
        return [], False
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    torn = False
    if lines and lines[-1] != "":
        torn = True  # no trailing newline: the last write did not finish
        warnings.warn(f"{path}: dropping a torn last line ({len(lines[-1])} characters)", stacklevel=3)
    records = []
    for number, line in enumerate(_nonempty(lines[:-1]), start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {number} is not valid JSON ({exc.msg})") from exc
    return records, torn


def _nonempty(lines: Iterable[str]) -> list[str]:
    return [line for line in lines if line.strip()]
