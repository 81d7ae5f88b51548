"""Studies held out of the corpus, and what an operator does with them.

A study is *held* when it waits (for its report, for its second view: looked at
again each pass) or is quarantined (with the reason); an operator can **retry**
it (it is retrieved again from the PACS and goes through the loop anew) or
**release** it (it is set aside for good: no longer retried, its quarantine
entries marked resolved). Files quarantined one by one (a corrupt instance)
are listed with their study.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db import QuarantineEntry, Study, StudyState
from db.queries import audit, study_by_uid
from pacslabel.context import Context
from pacslabel.errors import NotInCorpus, UsageError

__all__ = ["HELD", "Held", "held", "loose_files", "reasons", "release", "retry", "show"]

#: States of studies held out of the corpus (released ones are listed on request).
HELD = (
    StudyState.WAITING_REPORT,
    StudyState.WAITING_PAIR,
    StudyState.QUARANTINED,
    StudyState.FAILED,
)


@dataclass(frozen=True, slots=True)
class Held:
    """A study held out of the corpus."""

    study_uid: str
    state: StudyState
    stage: str
    reason: str
    since: dt.datetime
    files: int
    """Its instances quarantined one by one (unresolved)."""


def _files(session: Session) -> Counter[str]:
    rows = session.scalars(
        select(QuarantineEntry.study_uid).where(
            QuarantineEntry.resolved.is_(False), QuarantineEntry.path.is_not(None)
        )
    )
    return Counter(uid for uid in rows if uid)


def held(session: Session, *, released: bool = False) -> list[Held]:
    """The held studies, longest held first (released ones too, with ``released``)."""
    states = [*HELD, StudyState.RELEASED] if released else list(HELD)
    files = _files(session)
    studies = session.scalars(select(Study).where(Study.state.in_(states)))
    out = [
        Held(
            s.study_uid,
            s.state,
            s.failed_stage or "",
            s.failure_reason or "",
            s.waiting_since or s.updated_at,
            files[s.study_uid],
        )
        for s in studies
    ]
    return sorted(out, key=lambda h: h.since)


def loose_files(session: Session) -> list[QuarantineEntry]:
    """Files in quarantine that no held study lists: instances our storage SCP refused
    (unreadable, over a limit: often of no known study), unresolved, oldest first."""
    held_uids = select(Study.study_uid).where(Study.state.in_(HELD))
    return list(
        session.scalars(
            select(QuarantineEntry)
            .where(
                QuarantineEntry.resolved.is_(False),
                QuarantineEntry.path.is_not(None),
                or_(
                    QuarantineEntry.study_uid.is_(None),
                    QuarantineEntry.study_uid.not_in(held_uids),
                ),
            )
            .order_by(QuarantineEntry.id)
        )
    )


def reasons(session: Session) -> Counter[tuple[str, str]]:
    """How many studies are held, by state and reason (the reason's first clause)."""
    counted: Counter[tuple[str, str]] = Counter()
    for item in held(session):
        first = item.reason.split(" (")[0].split(";")[0].split(" — ")[0]
        counted[(str(item.state), f"{item.stage}: {first}" if item.stage else first)] += 1
    return counted


def _study(ctx: Context, session: Session, uid: str) -> Study:
    study = study_by_uid(session, uid, ctx.pseudonymiser.uid)
    if study is None:
        raise NotInCorpus(f"study {uid} is not in the corpus")
    return study


def show(ctx: Context, session: Session, uid: str) -> list[str]:
    """What is known of one study: state, reason, images, report, quarantine entries."""
    study = _study(ctx, session, uid)
    lines = [
        f"study {study.study_uid}: {study.state}"
        + (f" since {study.waiting_since:%Y-%m-%d %H:%M}" if study.waiting_since else ""),
        f"  reason: {study.failed_stage or '-'}: {study.failure_reason or '-'}",
        f"  pairing: {study.pairing_note or '-'}",
        f"  report: {'yes, ' + str(study.report.source) if study.report else 'none'}",
    ]
    lines += [
        f"  image {i.sop_uid} {i.modality} {i.view_role}{' (paired)' if i.is_paired else ''}"
        f": {i.view_reason}"
        for i in study.images
    ]
    entries = session.scalars(
        select(QuarantineEntry).where(QuarantineEntry.study_uid == study.study_uid)
    )
    lines += [
        f"  quarantine {e.at:%Y-%m-%d %H:%M} {e.stage}: {e.reason}"
        + (f" [{e.path}]" if e.path else "")
        + (" (resolved)" if e.resolved else "")
        for e in entries
    ]
    return lines


def _resolve(session: Session, study: Study) -> None:
    session.execute(
        update(QuarantineEntry)
        .where(QuarantineEntry.study_uid == study.study_uid)
        .values(resolved=True)
    )


def retry(ctx: Context, session: Session, uid: str | None) -> int:
    """Send a held study (``uid``; ``None``: every quarantined one) back to be retrieved
    again; returns how many. Its quarantine entries are marked resolved."""
    if uid is not None:
        studies = [_study(ctx, session, uid)]
    else:
        studies = list(session.scalars(select(Study).where(Study.state == StudyState.QUARANTINED)))
    for study in studies:
        if study.state not in (*HELD, StudyState.RELEASED, StudyState.FAILED):
            raise UsageError(f"study {study.study_uid} is {study.state}: nothing to retry")
        study.state, study.attempts = StudyState.DISCOVERED, 0
        study.failed_stage = study.failure_reason = None
        study.waiting_since = None
        _resolve(session, study)
        audit(session, "quarantine.retry", study.study_uid)
    return len(studies)


def release(ctx: Context, session: Session, uid: str) -> Study:
    """Set a held study aside for good: no longer retried, its quarantine entries resolved."""
    study = _study(ctx, session, uid)
    if study.state not in (*HELD, StudyState.FAILED):
        raise UsageError(f"study {study.study_uid} is {study.state}: nothing to release")
    previous = str(study.state)
    study.state = StudyState.RELEASED
    study.failure_reason = f"released by an operator (was {previous}: {study.failure_reason})"
    _resolve(session, study)
    audit(session, "quarantine.release", study.study_uid, was=previous)
    return study
