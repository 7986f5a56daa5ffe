"""One writer per run folder: an advisory lock on ``<folder>/.lock`` held while a process writes it.

Two trainings writing one folder (``make run`` started in a second terminal resumes the same
folder) would interleave their ``metrics.jsonl`` lines and overwrite each other's checkpoints. The
lock is ``flock(2)`` on a file in the folder: the kernel releases it when its holder exits, however
it exits (SIGKILL included), so a lock left by a killed process never blocks a later ``--resume``.
The file holds the holder's pid, for the message a second writer gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lock"


class FolderInUseError(ValueError):
    """Another process holds the folder's lock; the message names the folder and the process."""


@contextlib.contextmanager
def exclusive_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``folder``'s lock for the ``with`` block (creating the folder if needed).

    Raises:
        FolderInUseError: another process holds it; nothing else has been written then.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FolderInUseError(f"{str(folder)!r} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise FolderInUseError(
                f"{str(folder)!r} is being written by another process (pid {holder}); "
                "wait for it to finish or stop it, then run again (with --resume to continue)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield folder
    finally:
        os.close(fd)  # releases the lock


def check_not_in_use(folders: list[Path]) -> None:
    """Raise :class:`FolderInUseError` for the first of ``folders`` whose lock another process holds
    (a check before starting several jobs; each job still takes the lock itself)."""
    for folder in folders:
        if (folder / LOCK_NAME).is_file():
            with exclusive_folder(folder):
                pass
