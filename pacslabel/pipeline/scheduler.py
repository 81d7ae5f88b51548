"""``pacslabel serve``: the loop on a schedule (APScheduler).

Two jobs share one worker thread, so passes never overlap: an *ingest* pass
every ``schedule.ingest_every_minutes`` (ingest, label, cache, predict, write
back — the first one at start) and a *nightly* pass at ``schedule.train_at``
that, on ``schedule.full_query_on``, queries the PACS's whole date range rather
than from the watermark, and then starts a training in its own process
(:class:`~pacslabel.pipeline.training.TrainingProcess`): ingest passes go on while
it trains, and the first one after it predicts with the new model if the
promotion gate made it current. A pass that fails is logged and the next one runs
as scheduled: every stage resumes where the last one stopped. Stopping waits for
the pass in progress and stops a running training (it resumes from its newest
epoch checkpoint at the next night); a pass killed instead loses nothing either.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Literal

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from pacslabel.context import Context
from pacslabel.pipeline.loop import RunReport, run_once, start_listening, storage_scp
from pacslabel.pipeline.training import TrainingProcess, TrainingRecord
from pacslabel.settings import ScheduleSettings

__all__ = ["PassKind", "PassRecord", "Service"]

logger = logging.getLogger(__name__)

PassKind = Literal["ingest", "nightly"]
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order


@dataclass(frozen=True)
class PassRecord:
    """One pass the service ran."""

    kind: PassKind
    started: float
    """``time.monotonic()`` at the start."""
    finished: float
    report: RunReport | None
    """``None`` when the pass raised (the error is in the log)."""


class Service:
    """The scheduled loop over an open :class:`~pacslabel.context.Context`.

    Parameters
    ----------
    ctx
        The open context the passes run in.
    schedule
        When to run them.
    timezone
        Of ``schedule.train_at``; default the machine's local time zone.
    train
        Whether the nightly pass starts a training (in its own process).
    listen
        Whether our storage SCP listens for the service's whole life (C-ECHO, studies
        pushed to us, C-MOVE retrievals), not only while a pass ingests.
    """

    def __init__(
        self,
        ctx: Context,
        schedule: ScheduleSettings,
        *,
        timezone: dt.tzinfo | None = None,
        train: bool = True,
        listen: bool = True,
    ) -> None:
        self._ctx = ctx
        self._schedule = schedule
        options = {"timezone": timezone} if timezone is not None else {}  # default: tzlocal
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},  # passes never overlap
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(int(schedule.misfire_grace_minutes * 60), 1),
            },
            **options,
        )
        self._scheduler.add_listener(self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self.history: deque[PassRecord] = deque(maxlen=100)
        """The latest passes, oldest first."""
        self.counts: Counter[tuple[str, str]] = Counter()
        """Passes run, by (kind, ``ok`` or ``failed``)."""
        self.last_success: dict[str, float] = {}
        """When the last successful pass of each kind ended (Unix time)."""
        self.trainings: deque[TrainingRecord] = deque(maxlen=100)
        """The latest training processes that ended, oldest first."""
        self.training = TrainingProcess(ctx.settings) if train else None
        """Where the nightly training runs (``None`` when the service does not train)."""
        self.scp = storage_scp(ctx, push=True) if listen else None
        """Our storage SCP, listening from :meth:`start` to :meth:`stop` (``None``: each
        pass listens while it ingests)."""

    def start(self) -> None:
        """Start listening and the jobs; the first ingest pass begins at once.

        Raises
        ------
        EnvironmentFault
            Our storage port is taken or cannot be bound (``local.storage_port``).
        """
        schedule = self._schedule
        if self.scp is not None:
            start_listening(self._ctx, self.scp)
        hour, minute, *second = (int(part) for part in schedule.train_at.split(":"))
        self._scheduler.add_job(
            self._pass,
            IntervalTrigger(seconds=schedule.ingest_every_minutes * 60),
            args=("ingest",),
            id="ingest",
            name="ingest pass",
            next_run_time=dt.datetime.now(self._scheduler.timezone),
        )
        self._scheduler.add_job(
            self._pass,
            CronTrigger(hour=hour, minute=minute, second=second[0] if second else 0),
            args=("nightly",),
            id="nightly",
            name="nightly pass (may retrain)",
        )
        self._scheduler.start()
        for job in self._scheduler.get_jobs():
            logger.info("%s: next at %s", job.name, job.next_run_time)

    def stop(self, *, wait: bool = True) -> None:
        """Stop scheduling; with ``wait``, let the pass in progress finish first. A
        running training is stopped."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        if self.scp is not None:
            self.scp.stop()
        if self.training is not None and (record := self.training.stop()) is not None:
            self.trainings.append(record)

    @property
    def running(self) -> bool:
        """Whether the scheduler runs (between :meth:`start` and :meth:`stop`)."""
        return bool(self._scheduler.running)

    def last_pass(self) -> dict[str, PassRecord]:
        """The latest pass of each kind."""
        return {record.kind: record for record in list(self.history)}

    def next_runs(self) -> dict[str, dt.datetime | None]:
        """When each job runs next, by job id."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def _pass(self, kind: PassKind) -> None:
        self._collect_training()  # a training that ended: this pass predicts with its model
        started = time.monotonic()
        report: RunReport | None = None
        try:
            report = run_once(
                self._ctx, retrain=False, full_query=self._full_query(kind), scp=self.scp
            )
        finally:
            record = PassRecord(kind, started, time.monotonic(), report)
            self.history.append(record)
            self.counts[kind, "ok" if report is not None else "failed"] += 1
            if report is not None:
                self.last_success[kind] = time.time()
            if kind == "nightly" and self.training is not None and not self.training.start():
                logger.warning("the training started before is still running: not again")
        logger.info(
            "%s pass done in %.0f s: %d new, %d labelled, %d reported%s",
            kind,
            record.finished - started,
            report.new,
            report.labelled,
            report.reported,
            "; a training is running" if self.training and self.training.running else "",
        )

    def _collect_training(self) -> None:
        if self.training is not None and (record := self.training.poll()) is not None:
            self.trainings.append(record)

    def _full_query(self, kind: PassKind) -> bool:
        """Whether this pass queries the whole date range (the nightly pass, on its day)."""
        day = self._schedule.full_query_on
        if kind != "nightly" or day == "never":
            return False
        today = _WEEKDAYS[dt.datetime.now(self._scheduler.timezone).weekday()]
        return day in ("daily", today)

    def _on_event(self, event: JobExecutionEvent) -> None:
        next_run = self.next_runs().get(event.job_id)
        if event.code == EVENT_JOB_MISSED:
            logger.warning(
                "%s pass skipped: it was due at %s, more than the grace time ago; next at %s",
                event.job_id,
                event.scheduled_run_time,
                next_run,
            )
            return
        logger.error(
            "%s pass failed: %s: %s; the next one runs at %s and resumes where it stopped",
            event.job_id,
            type(event.exception).__name__,
            event.exception,
            next_run,
        )
