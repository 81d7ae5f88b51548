"""One pass at a time, and what a pass that was killed left behind.

A pass holds an exclusive lock on ``<data_dir>/pass.lock`` (``flock``: the kernel drops
it when the process dies, however it dies), so ``serve`` and a ``run`` started by hand
never work on the same data folder at once. Holding it, a pass knows that anything
another pass left unfinished was left by one that stopped: a training run still marked
``running`` is marked failed ("interrupted"), half-written files (``*.part``) are
deleted, and incoming folders of studies already de-identified are emptied. Every
stage otherwise resumes by itself: its work is committed study by study, and what was
not committed is done again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import RunStatus, Study, StudyState, TrainingRun, utcnow
from pacslabel.context import Context, Paths
from pacslabel.errors import PassInProgress

__all__ = ["Leftovers", "pass_lock", "recover_interrupted"]

logger = logging.getLogger(__name__)

#: States whose received instances may still be needed (retrieval or de-identification
#: not finished); the incoming folder of any other study is a leftover.
_RECEIVING = (StudyState.DISCOVERED, StudyState.RETRIEVED)


@contextmanager
def pass_lock(paths: Paths) -> Iterator[None]:
    """Hold the data folder's pass lock for the duration.

    Raises
    ------
    PassInProgress
        Another process holds it (its process ID is in the message).
    """
    paths.root.mkdir(parents=True, exist_ok=True)
    path = paths.root / "pass.lock"
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise PassInProgress(
                f"another pass is working on {paths.root} (process {holder}); this one did nothing"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


class Leftovers:
    """What :func:`recover_interrupted` cleaned up."""

    def __init__(self) -> None:
        self.training_runs = 0
        self.partial_files = 0
        self.incoming_folders = 0

    def __bool__(self) -> bool:
        return bool(self.training_runs or self.partial_files or self.incoming_folders)

    def __str__(self) -> str:
        return (
            f"{self.training_runs} interrupted training runs, {self.partial_files} "
            f"half-written files, {self.incoming_folders} incoming folders already used"
        )


def _partial_files(paths: Paths) -> list[Path]:
    found: list[Path] = []
    for folder in (paths.incoming, paths.cache, paths.models, paths.dicom):
        if folder.is_dir():
            found += [p for p in folder.rglob("*.part") if p.is_file()]
    return found


def recover_interrupted(ctx: Context) -> Leftovers:
    """Clean up after a pass that was killed (call it holding :func:`pass_lock`)."""
    left = Leftovers()
    with Session(ctx.engine) as session:
        for run in session.scalars(
            select(TrainingRun).where(TrainingRun.status == RunStatus.RUNNING)
        ):
            run.status, run.finished_at = RunStatus.FAILED, utcnow()
            run.error = "interrupted: the process stopped during training"
            left.training_runs += 1
        session.commit()
        for path in _partial_files(ctx.paths):
            path.unlink(missing_ok=True)
            left.partial_files += 1
        if ctx.paths.models.is_dir():  # a model whose training was cut short before a
            for folder in ctx.paths.models.iterdir():  # checkpoint: its targets are rewritten
                if folder.is_dir() and not any(folder.rglob("*.pt")):
                    shutil.rmtree(folder)
        if ctx.paths.incoming.is_dir():
            states = {
                uid: state for uid, state in session.execute(select(Study.study_uid, Study.state))
            }
            for folder in ctx.paths.incoming.iterdir():
                state = states.get(folder.name)
                if not folder.is_dir() or state in _RECEIVING:
                    continue
                if state is StudyState.QUARANTINED:  # its files go where its others went
                    target = ctx.paths.quarantine / folder.name
                    target.mkdir(parents=True, exist_ok=True)
                    for path in folder.glob("*.dcm"):
                        shutil.move(path, target / path.name)
                shutil.rmtree(folder)
                left.incoming_folders += 1
    if left:
        logger.warning("a pass was interrupted before this one; cleaned up: %s", left)
    return left
