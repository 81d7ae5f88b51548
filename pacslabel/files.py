"""Files written whole or not at all: the application's one atomic write, and the
suffixes of every file being written in the data folder (pacsbridge's and the
trainer's are theirs), which the recovery after a kill deletes.
"""

from __future__ import annotations

import os
from pathlib import Path

from pacsbridge import PARTIAL_SUFFIX as RECEIVING_SUFFIX
from pacsbridge import WRITING_SUFFIX as DEIDENTIFYING_SUFFIX
from trainer import PARTIAL_SUFFIX as TRAINING_SUFFIX

__all__ = [
    "DEIDENTIFYING_SUFFIX",
    "PARTIAL_SUFFIX",
    "RECEIVING_SUFFIX",
    "TRAINING_SUFFIX",
    "write_private",
]

PARTIAL_SUFFIX = ".part"
"""A file of the application's being written (an SR of the dry run, a key)."""


def write_private(path: Path, data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically, readable by its owner only whatever the
    umask (the folder 0700, the file 0600); ``durable``: on disk before the rename.

    Raises
    ------
    OSError
        The folder or the file cannot be written; no partial file is left.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    partial = path.with_name(f".{path.name}{PARTIAL_SUFFIX}")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return path
