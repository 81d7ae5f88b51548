"""One pass at a time, one training at a time, and what a killed one left behind.

A pass holds an exclusive lock on ``<data_dir>/pass.lock`` and a training one on
``<data_dir>/train.lock`` (``flock``: the kernel drops a lock when its process dies,
however it dies), so ``serve`` and a ``run`` started by hand never work on the same
data folder at once, and a training that runs in its own process (``serve``'s
nightly one, ``pacslabel train``) goes on while ingest passes come and go.

Holding a lock, a process knows that anything left unfinished of its kind was left
by one that stopped. A pass cleans up half-written files of incoming instances
(the suffixes :mod:`pacslabel.files` names) and empties the incoming folders of studies already
de-identified; the training leftovers — runs still marked ``running`` (marked failed,
"interrupted"), half-written checkpoints and shards, model folders without a
checkpoint — are cleaned by whoever can take the training lock, and are left alone
while a training holds it. Every stage otherwise resumes by itself: its work is
committed study by study, and what was not committed is done again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import RunStatus, Study, StudyState, TrainingRun, utcnow
from pacslabel.context import Context, Paths
from pacslabel.errors import PassInProgress, TrainingInProgress
from pacslabel.files import RECEIVING_SUFFIX, TRAINING_SUFFIX

__all__ = ["Leftovers", "pass_lock", "recover_interrupted", "recover_training", "train_lock"]

logger = logging.getLogger(__name__)

#: States whose received instances may still be needed (retrieval or de-identification
#: not finished); the incoming folder of any other study is a leftover.
_RECEIVING = (StudyState.DISCOVERED, StudyState.RETRIEVED)


@contextmanager
def _flock(path: Path, busy: Callable[[str], PassInProgress], wait_s: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (with our process ID in it), trying for up
    to ``wait_s`` seconds; ``busy(holder)`` is raised when another process keeps it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    with path.open("a+") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    raise busy(fh.read().strip() or "unknown") from None
                time.sleep(0.2)
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


def pass_lock(paths: Paths) -> AbstractContextManager[None]:
    """Hold the data folder's pass lock for the duration (a context manager).

    Raises
    ------
    PassInProgress
        Another process holds it (its process ID is in the message).
    """
    return _flock(
        paths.root / "pass.lock",
        lambda holder: PassInProgress(
            f"another pass is working on {paths.root} (process {holder}); this one did nothing"
        ),
        0.0,
    )


def train_lock(paths: Paths, wait_s: float = 0.0) -> AbstractContextManager[None]:
    """Hold the data folder's training lock for the duration (a context manager),
    waiting up to ``wait_s`` seconds for it.

    Raises
    ------
    TrainingInProgress
        Another process is training (its process ID is in the message).
    """
    return _flock(
        paths.root / "train.lock",
        lambda holder: TrainingInProgress(
            f"a training is running on {paths.root} in process {holder}"
        ),
        wait_s,
    )


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


def _partial_files(folders: list[Path], suffix: str) -> list[Path]:
    found: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            found += [p for p in folder.rglob(f"*{suffix}") if p.is_file()]
    return found


def recover_training(ctx: Context, left: Leftovers | None = None) -> Leftovers:
    """Clean up after a training that was killed (call it holding :func:`train_lock`):
    its run is marked failed, its half-written checkpoints and shards are deleted, and
    a model folder without any checkpoint is removed (its targets are rewritten by the
    next run; one with a checkpoint resumes from it)."""
    left = left if left is not None else Leftovers()
    with Session(ctx.engine) as session:
        for run in session.scalars(
            select(TrainingRun).where(TrainingRun.status == RunStatus.RUNNING)
        ):
            run.status, run.finished_at = RunStatus.FAILED, utcnow()
            run.error = "interrupted: the process stopped during training"
            left.training_runs += 1
        session.commit()
    shards = list(ctx.paths.cache.glob("*/shards")) if ctx.paths.cache.is_dir() else []
    _unlink_partials([ctx.paths.models, *shards], TRAINING_SUFFIX, left)
    if ctx.paths.models.is_dir():
        for folder in ctx.paths.models.iterdir():
            if folder.is_dir() and not any(folder.rglob("*.pt")):
                shutil.rmtree(folder)
    return left


def _empty_incoming(ctx: Context, left: Leftovers) -> None:
    """Empty the incoming folders of studies no longer receiving (a quarantined study's
    files go where its others went); a folder of no study recorded is a study pushed to
    us, taken in by the pass (:func:`~pacslabel.pipeline.stages.adopt_pushed`)."""
    with Session(ctx.engine) as session:
        states = {
            uid: state for uid, state in session.execute(select(Study.study_uid, Study.state))
        }
    for folder in ctx.paths.incoming.iterdir():
        state = states.get(folder.name)
        if not folder.is_dir() or state is None or state in _RECEIVING:
            continue  # still receiving, or pushed to us and not taken in yet
        if state is StudyState.QUARANTINED:
            target = ctx.paths.quarantine / folder.name
            target.mkdir(parents=True, exist_ok=True)
            for path in folder.glob("*.dcm"):
                shutil.move(path, target / path.name)
        shutil.rmtree(folder)
        left.incoming_folders += 1


def _unlink_partials(folders: list[Path], suffix: str, left: Leftovers) -> None:
    for path in _partial_files(folders, suffix):
        path.unlink(missing_ok=True)
        left.partial_files += 1


def recover_interrupted(ctx: Context) -> Leftovers:
    """Clean up after a pass that was killed (call it holding :func:`pass_lock`), and
    after a killed training unless a training is running now."""
    left = Leftovers()
    # files being received; not those being de-identified (DEIDENTIFYING_SUFFIX): under
    # serve a pushed study may be de-identified while a pass starts
    _unlink_partials([ctx.paths.incoming, ctx.paths.dicom], RECEIVING_SUFFIX, left)
    try:
        with train_lock(ctx.paths):
            recover_training(ctx, left)
            # a training may be caching pixels
            _unlink_partials([ctx.paths.cache], TRAINING_SUFFIX, left)
    except TrainingInProgress as busy:
        logger.debug("%s: its files are left alone", busy)
    if ctx.paths.incoming.is_dir():
        _empty_incoming(ctx, left)
    if left:
        logger.warning("a pass was interrupted before this one; cleaned up: %s", left)
    return left
