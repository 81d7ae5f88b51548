"""Files written whole or not at all: the trainer's one atomic write.

A checkpoint, a cached pair or a shard is written to a hidden partial file beside
its place (``.NAME`` + :data:`PARTIAL_SUFFIX`) and renamed over it; a process
killed meanwhile leaves only the partial file, which the application's recovery
deletes (it imports the suffix from here).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["PARTIAL_SUFFIX", "write_atomically"]

PARTIAL_SUFFIX = ".part"
"""What a file being written ends with (deleted by recovery after a kill)."""


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(partial)`` a partial file, then rename it to ``path``; returns ``path``.

    Raises
    ------
    OSError
        The write or the rename failed (a full or read-only disk): the partial file is
        removed and the error names ``path`` when the system's error named no file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}{PARTIAL_SUFFIX}")
    try:
        write(partial)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(exc.filename or path)) from exc
    return path
