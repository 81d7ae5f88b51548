"""Files written whole or not at all: pacsbridge's one atomic write, and the suffixes of
the files it is writing (the application's recovery imports them).

- :data:`PARTIAL_SUFFIX`: an instance arriving at the storage SCP before it is filed,
  deleted by the recovery after a kill;
- :data:`WRITING_SUFFIX`: a de-identified instance a worker is writing; not deleted by
  the recovery at the start of a pass (under ``serve`` a pushed study may be
  de-identified at that moment), each name unique to its process and thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["PARTIAL_SUFFIX", "WRITING_SUFFIX", "arriving_path", "write_atomically"]

PARTIAL_SUFFIX = ".part"
WRITING_SUFFIX = ".writing"


def arriving_path(folder: Path) -> Path:
    """A new hidden file in ``folder`` for an instance arriving on this thread."""
    return folder / f".arriving-{threading.get_ident()}-{time.monotonic_ns()}{PARTIAL_SUFFIX}"


def write_atomically(
    path: Path, write: Callable[[Path], object], suffix: str = PARTIAL_SUFFIX
) -> Path:
    """``write(partial)`` a hidden file beside ``path``, then rename it to ``path``.

    With :data:`WRITING_SUFFIX` the partial file's name is unique to the process and the
    thread, so two writers of the same file never write into each other's; the last
    rename wins, whole.

    Raises
    ------
    OSError
        The write or the rename failed; the partial file is removed.
    """
    unique = f".{os.getpid()}-{threading.get_ident()}" if suffix == WRITING_SUFFIX else ""
    partial = path.with_name(f".{path.name}{unique}{suffix}")
    try:
        write(partial)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return path
