"""Training as a pass of its own, and in a process of its own.

:func:`train_pass` trains once holding the data folder's training lock (never two
trainings at once), after cleaning up what a killed training left. ``pacslabel run``
calls it inside its pass; ``pacslabel train`` calls it alone; ``serve`` runs it in a
:class:`TrainingProcess`, a child process, so that ingest passes go on while a long
training runs (a night's training of a large corpus takes hours; an ingest pass
minutes). The child opens its own context from the same settings; it writes the
new model to the registry, and the next ingest pass predicts with it once the
promotion gate made it current.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from pacslabel.context import Context, open_context
from pacslabel.errors import PacslabelError, TrainingInProgress
from pacslabel.logs import configure_logging
from pacslabel.pipeline.recovery import recover_training, train_lock
from pacslabel.pipeline.stages import TrainOutcome, TrainStatus, train_model
from pacslabel.settings import Settings

__all__ = ["TrainingProcess", "TrainingRecord", "train_pass"]

logger = logging.getLogger(__name__)


def train_pass(ctx: Context, *, wait_s: float = 0.0) -> TrainOutcome:
    """Train once (when the corpus changed) holding the training lock, waiting up to
    ``wait_s`` seconds for it; while another process trains, skip."""
    try:
        with train_lock(ctx.paths, wait_s):
            left = recover_training(ctx)
            if left:
                logger.warning("a training was interrupted before this one; cleaned up: %s", left)
            return train_model(ctx)
    except TrainingInProgress as busy:
        return TrainOutcome(TrainStatus.BUSY, str(busy))


def _child(settings: Settings) -> None:
    """The training process: its own context, one training pass, the outcome as the
    exit status (0 trained or nothing to do, 1 failed)."""
    configure_logging(settings.log_level, settings.log_format)
    try:
        with open_context(settings) as ctx:
            outcome = train_pass(ctx, wait_s=60.0)
    except PacslabelError as exc:  # a setting or the environment: the message says which
        logger.error("training not started: %s", exc)
        sys.exit(int(exc.exit_code))
    logger.info(
        "training %s%s%s",
        outcome.status,
        f": {outcome.model_version}" if outcome.model_version else "",
        f" ({outcome.reason})" if outcome.reason else "",
    )
    sys.exit(1 if outcome.status is TrainStatus.FAILED else 0)


@dataclass(frozen=True)
class TrainingRecord:
    """One training process ``serve`` started."""

    started: float
    """``time.monotonic()`` at the start."""
    finished: float
    """``time.monotonic()`` when the service saw it had ended (before its next pass)."""
    exit_code: int | None
    """0: trained or nothing new; 1: the training failed (the registry says why); another
    code: it could not start (a setting, the environment: ``pacslabel`` exit codes);
    negative: killed by that signal."""


class TrainingProcess:
    """At most one training child at a time (``spawn``: a fresh interpreter, no state
    shared with the service's threads)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: BaseProcess | None = None
        self._started = 0.0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> bool:
        """Start a training unless one is running; whether one was started."""
        if self.running:
            return False
        process = multiprocessing.get_context("spawn").Process(
            target=_child, args=(self._settings,), name="pacslabel-training", daemon=False
        )
        process.start()
        self._process, self._started = process, time.monotonic()
        logger.info("training started in process %s", process.pid)
        return True

    def poll(self) -> TrainingRecord | None:
        """The record of the training that finished since the last call, if one did."""
        process = self._process
        if process is None or process.is_alive():
            return None
        process.join()
        self._process = None
        record = TrainingRecord(self._started, time.monotonic(), process.exitcode)
        log = logger.info if process.exitcode == 0 else logger.error
        log("training process %s ended with status %s", process.pid, process.exitcode)
        return record

    def stop(self, timeout_s: float = 30.0) -> TrainingRecord | None:
        """Stop a running training (SIGTERM, then SIGKILL after ``timeout_s``); its
        run is marked interrupted by the next cleanup and its next run resumes from the
        newest epoch checkpoint."""
        process = self._process
        if process is None:
            return None
        if process.is_alive():
            logger.warning("stopping the training in process %s", process.pid)
            process.terminate()
            process.join(timeout_s)
            if process.is_alive():
                process.kill()
                process.join()
        return self.poll()
