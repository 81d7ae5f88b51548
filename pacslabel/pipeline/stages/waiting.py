"""Studies waiting for their report or their second view: looked at again each pass.

Two checks, each pass:

- :func:`expire_or_attach` (local, always): a study that has waited longer than
  ``ingest.max_wait_days`` is quarantined with the reason it waited; one waiting
  for its report takes it from the RIS drop folder when it is there now.
- :func:`recheck_waiting` (needs the PACS): the PACS is asked how many
  instances the study holds now; when more than were retrieved (a report
  written after the images, a second view), the study is retrieved again and
  goes through de-identification with everything it holds.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Study, StudyState, utcnow
from db.queries import audit, quarantine
from pacsbridge import find_study
from pacslabel.context import Context
from pacslabel.errors import LinkageError
from pacslabel.pipeline.stages.deidentify import attach_dropped_report

__all__ = ["WAITING", "expire_or_attach", "recheck_waiting"]

logger = logging.getLogger(__name__)

WAITING = (StudyState.WAITING_REPORT, StudyState.WAITING_PAIR)


def _waiting(session: Session) -> list[Study]:
    return list(session.scalars(select(Study).where(Study.state.in_(WAITING)).order_by(Study.id)))


def _since(study: Study) -> dt.datetime:
    since = study.waiting_since or study.updated_at
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)


def expire_or_attach(ctx: Context) -> tuple[int, int]:
    """Quarantine the studies that waited too long; give waiting studies the report the RIS
    dropped since. Returns (quarantined, moved on)."""
    limit = dt.timedelta(days=ctx.settings.ingest.max_wait_days)
    expired = moved = 0
    with Session(ctx.engine) as session:
        for study in _waiting(session):
            if utcnow() - _since(study) > limit:
                reason = (
                    f"{study.failure_reason or study.state} — still so after "
                    f"{ctx.settings.ingest.max_wait_days:g} days (ingest.max_wait_days)"
                )
                quarantine(session, study, study.failed_stage or "wait", reason)
                expired += 1
            elif study.state is StudyState.WAITING_REPORT:
                try:
                    moved += attach_dropped_report(ctx, session, study)
                except LinkageError as exc:
                    logger.warning("study %s: cannot look for its report: %s", study.study_uid, exc)
            session.commit()
    return expired, moved


def recheck_waiting(ctx: Context) -> int:
    """Retrieve again the waiting studies for which the PACS holds more instances than were
    retrieved; returns how many. (Without a count from the PACS, every waiting study is.)

    Raises
    ------
    QueryFailed, AssociationRejected, AssociationAborted
        The PACS cannot be queried.
    """
    again = 0
    with Session(ctx.engine) as session:
        for study in _waiting(session):
            try:
                original = ctx.vault.get(session, study.study_uid).study_instance_uid
            except LinkageError as exc:
                logger.warning("study %s: cannot look for it again: %s", study.study_uid, exc)
                continue
            record = find_study(ctx.local, ctx.node, original)
            if record is None:
                continue
            count = record.number_of_study_related_instances
            if count is not None and count <= (study.instances_received or 0):
                continue
            study.state = StudyState.DISCOVERED  # keeps waiting_since: the clock runs on
            study.expected_instances = count
            audit(session, "wait.retrieve_again", study.study_uid, instances=count)
            again += 1
        session.commit()
    if again:
        logger.info("%d waiting studies hold more on the PACS: retrieved again", again)
    return again
