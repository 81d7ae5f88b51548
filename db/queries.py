"""The queries the application needs: the study state machine, audit events,
quarantine entries, and the model registry's current models.

Functions take the caller's session and never commit: the caller decides
what one transaction holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import (
    AuditEvent,
    LabellerVersion,
    LabelSource,
    Model,
    ModelMetric,
    ModelMode,
    ModelStatus,
    ModelStudy,
    Prediction,
    QuarantineEntry,
    Split,
    Study,
    StudyState,
    utcnow,
)

__all__ = [
    "audit",
    "current_image_model",
    "fail",
    "image_model_by_manifest",
    "image_models",
    "newest_labeller",
    "promote_model",
    "quarantine",
    "quarantine_mark",
    "quarantined_since",
    "record_model_metrics",
    "record_model_studies",
    "rejudge_predictions",
    "rollback_model",
    "set_state",
    "studies_in",
    "study_by_uid",
    "use_labeller",
]

logger = logging.getLogger(__name__)

ACTOR = "pacslabel"


def studies_in(session: Session, state: StudyState, limit: int | None = None) -> list[Study]:
    """Studies in ``state``, oldest first."""
    query = select(Study).where(Study.state == state).order_by(Study.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def study_by_uid(session: Session, uid: str, pseudonym: Callable[[str], str]) -> Study | None:
    """A study of the corpus by its pseudonymous UID, or by its original one mapped
    with ``pseudonym`` (the context's ``pseudonymiser.uid``)."""
    return session.scalar(select(Study).where(Study.study_uid.in_([uid, pseudonym(uid)])))


def set_state(study: Study, state: StudyState) -> None:
    """Advance a study; a successful stage clears the failure bookkeeping."""
    study.state = state
    study.failed_stage = None
    study.failure_reason = None
    study.attempts = 0


def fail(session: Session, study: Study, stage: str, reason: str, max_attempts: int) -> None:
    """Record a failed attempt; after ``max_attempts`` the study is ``failed``.

    Until then it keeps its state, so the next run retries the stage.
    """
    study.attempts += 1
    study.failed_stage = stage
    study.failure_reason = reason
    if study.attempts >= max_attempts:
        study.state = StudyState.FAILED
        logger.error(
            "study %s failed at %s after %d attempts: %s",
            study.study_uid,
            stage,
            study.attempts,
            reason,
        )
    else:
        logger.warning(
            "study %s: %s failed (attempt %d of %d): %s",
            study.study_uid,
            stage,
            study.attempts,
            max_attempts,
            reason,
        )
    audit(session, f"{stage}.failed", study.study_uid, reason=reason, attempt=study.attempts)


def quarantine(
    session: Session, study: Study | None, stage: str, reason: str, path: str | None = None
) -> None:
    """Put input aside with the reason; a quarantined study leaves the loop."""
    session.add(
        QuarantineEntry(
            stage=stage, study_uid=study.study_uid if study else None, path=path, reason=reason
        )
    )
    if study is not None and path is None:
        study.state = StudyState.QUARANTINED
        study.failed_stage = stage
        study.failure_reason = reason
    logger.warning(
        "quarantined%s at %s: %s", f" study {study.study_uid}" if study else "", stage, reason
    )


def quarantine_mark(session: Session) -> int:
    """Where the quarantine table stands now (pass it to :func:`quarantined_since`)."""
    return session.scalar(select(func.max(QuarantineEntry.id))) or 0


def quarantined_since(session: Session, mark: int) -> tuple[int, int]:
    """Since ``mark``: how many studies were quarantined, and how many files (instances
    refused or set aside one by one)."""
    rows = session.execute(
        select(QuarantineEntry.study_uid, QuarantineEntry.path).where(QuarantineEntry.id > mark)
    ).all()
    studies = {uid for uid, path in rows if path is None and uid is not None}
    return len(studies), sum(1 for _, path in rows if path is not None)


def audit(
    session: Session,
    action: str,
    study_uid: str | None = None,
    *,
    actor: str = ACTOR,
    **detail: Any,
) -> None:
    """Record an audit event (never with patient identifiers); ``actor``: who acted, the
    system unless a person did (a workbench user)."""
    session.add(AuditEvent(actor=actor, action=action, study_uid=study_uid, detail=detail or None))


def current_image_model(session: Session, task: str) -> Model | None:
    """The image model of ``task`` that predicts and writes SRs (status current)."""
    return session.scalar(
        select(Model)
        .where(Model.task == task, Model.mode != ModelMode.NLP, Model.status == ModelStatus.CURRENT)
        .order_by(Model.id.desc())
        .limit(1)
    )


def image_model_by_manifest(session: Session, task: str, manifest: str) -> Model | None:
    """The newest image model of ``task`` trained from ``manifest`` (the same studies,
    targets and settings), if there is one."""
    return session.scalar(
        select(Model)
        .where(Model.task == task, Model.mode != ModelMode.NLP, Model.manifest_hash == manifest)
        .order_by(Model.id.desc())
        .limit(1)
    )


def image_models(session: Session, task: str) -> list[Model]:
    """Every image model of ``task``, oldest first."""
    query = select(Model).where(Model.task == task, Model.mode != ModelMode.NLP)
    return list(session.scalars(query.order_by(Model.id)))


def promote_model(session: Session, model: Model, reason: str) -> Model | None:
    """Make ``model`` its task's current image model; returns the one it replaces."""
    previous = current_image_model(session, model.task)
    if previous is not None and previous.id != model.id:
        previous.status = ModelStatus.RETIRED
        previous.status_reason = f"replaced by {model.version}"
    model.status, model.status_reason, model.promoted_at = ModelStatus.CURRENT, reason, utcnow()
    audit(session, "model.promoted", model=model.version, reason=reason)
    return previous if previous is not None and previous.id != model.id else None


def rollback_model(session: Session, task: str, reason: str) -> tuple[Model, Model] | None:
    """Withdraw the current image model of ``task`` and make the one that was current
    before it current again; returns (withdrawn, restored), or None when there is no
    earlier one."""
    current = current_image_model(session, task)
    if current is None:
        return None
    earlier = session.scalar(
        select(Model)
        .where(
            Model.task == task,
            Model.mode != ModelMode.NLP,
            Model.id != current.id,
            Model.promoted_at.is_not(None),
        )
        .order_by(Model.promoted_at.desc(), Model.id.desc())
        .limit(1)
    )
    if earlier is None:
        return None
    current.status, current.status_reason = ModelStatus.RETIRED, f"rolled back: {reason}"
    earlier.status, earlier.status_reason = ModelStatus.CURRENT, f"restored by rollback: {reason}"
    earlier.promoted_at = utcnow()
    audit(session, "model.rollback", withdrawn=current.version, restored=earlier.version)
    return current, earlier


def newest_labeller(session: Session, task: str, version: str | None = None) -> Model | None:
    """The newest registered report labeller of ``task`` (of that ``version``, if given)."""
    query = select(Model).where(Model.task == task, Model.mode == ModelMode.NLP)
    if version is not None:
        query = query.where(Model.version == version)
    return session.scalar(query.order_by(Model.id.desc()).limit(1))


def rejudge_predictions(session: Session, model: Model) -> set[int]:
    """Judge ``model``'s stored predictions again at its current thresholds; returns the ids
    of the studies whose positive flags changed (their SRs say something else now)."""
    changed: set[int] = set()
    for prediction in session.scalars(select(Prediction).where(Prediction.model_id == model.id)):
        threshold = float(model.thresholds.get(prediction.finding, 0.5))
        positive = prediction.probability >= threshold
        if positive != prediction.positive:
            changed.add(prediction.study_id)
        prediction.threshold, prediction.positive = threshold, positive
    return changed


def use_labeller(session: Session, task: str, source: LabelSource, version: str) -> None:
    """Make ``version`` the current labeller of its ``source`` — the one whose labels the
    research views show. The rules being configured means no trained labeller is: every
    ``nlp`` version stops being current. The change is audited."""
    row = session.get(LabellerVersion, version)
    if row is not None and row.is_current:
        return
    if row is None:
        row = LabellerVersion(version=version, source=source, task=task, is_current=False)
        session.add(row)
    stale = [source] if source != LabelSource.RULES else [LabelSource.RULES, LabelSource.NLP]
    for other in session.scalars(
        select(LabellerVersion).where(
            LabellerVersion.source.in_(stale), LabellerVersion.is_current.is_(True)
        )
    ):
        other.is_current = False
    row.is_current, row.current_since = True, utcnow()
    audit(session, "labeller.current", labeller=version, source=str(source))


def record_model_studies(session: Session, model: Model, splits: dict[int, Split]) -> None:
    """Record which split each study (by id) was in for ``model``."""
    for study_id, split in splits.items():
        session.add(ModelStudy(model_id=model.id, study_id=study_id, split=split))


def record_model_metrics(
    session: Session, model: Model, evaluation: Split, per_finding: dict[str, dict[str, Any]]
) -> None:
    """Store ``model``'s figures on ``evaluation`` as rows (replacing earlier ones of that
    evaluation): what ``research_model_metrics`` shows."""
    for old in session.scalars(
        select(ModelMetric).where(
            ModelMetric.model_id == model.id, ModelMetric.evaluation == evaluation
        )
    ):
        session.delete(old)
    session.flush()
    for finding, figures in per_finding.items():
        session.add(
            ModelMetric(
                model_id=model.id,
                evaluation=evaluation,
                finding=finding,
                n=int(figures.get("n") or 0),
                positives=int(figures.get("positives") or 0),
                auc=figures.get("auc"),
                threshold=figures.get("threshold"),
                sensitivity=figures.get("sensitivity"),
                specificity=figures.get("specificity"),
            )
        )
