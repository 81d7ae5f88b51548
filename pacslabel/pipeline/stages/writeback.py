"""Write-back: one DICOM SR per predicted study, into the original (clinical) study."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import ExportStatus, Model, Prediction, SRExport, Study, StudyState, utcnow
from db.queries import audit, fail, move_to, studies_in
from pacsbridge import (
    AssociationError,
    FindingResult,
    StoreFailed,
    build_prediction_sr,
    store_instance,
)
from pacslabel.context import Context
from pacslabel.errors import LinkageError

__all__ = ["writeback_all"]

logger = logging.getLogger(__name__)


def _export(ctx: Context, session: Session, study: Study) -> tuple[Model, SRExport]:
    predictions = list(
        session.scalars(
            select(Prediction).where(Prediction.study_id == study.id).order_by(Prediction.id.desc())
        )
    )
    model = session.get(Model, predictions[0].model_id)
    if model is None:
        raise LookupError(f"model {predictions[0].model_id} is not in the registry")
    export = session.scalar(
        select(SRExport).where(SRExport.study_id == study.id, SRExport.model_id == model.id)
    )
    if export is None:
        export = SRExport(
            study_id=study.id, model_id=model.id, status=ExportStatus.PENDING, attempts=0
        )
        session.add(export)
    return model, export


def writeback_all(ctx: Context) -> int:
    """Send an SR for every predicted study; returns how many were stored.

    Retries are idempotent: the SR's UIDs are derived from the study and
    model, so a PACS that already has it receives the same instance again.
    Without the linkage key nothing is sent and the studies wait.
    """
    codes = {code.key: code for code in ctx.task.finding_codes()}
    max_attempts = ctx.settings.ingest.max_attempts
    sent = 0
    with Session(ctx.engine) as session:
        studies = studies_in(session, StudyState.PREDICTED)
        with ctx.progress.step("sending SRs to the PACS", len(studies)) as bar:
            for study in studies:
                model, export = _export(ctx, session, study)
                paired = sorted((i for i in study.images if i.is_paired), key=lambda i: i.view_role)
                try:
                    identities = [ctx.vault.get(session, image.sop_uid) for image in paired]
                except LinkageError as exc:
                    logger.error("cannot write SRs back: %s", exc)
                    break
                results = [
                    FindingResult(codes[p.finding], p.probability, p.positive)
                    for p in session.scalars(
                        select(Prediction).where(
                            Prediction.study_id == study.id, Prediction.model_id == model.id
                        )
                    )
                ]
                sr = build_prediction_sr(
                    identities,
                    sorted(results, key=lambda r: ctx.task.finding_keys.index(r.finding.key)),
                    algorithm_name="pacslabel ResNet-18",
                    algorithm_version=model.version,
                    sop_instance_uid=ctx.pseudonymiser.uid(f"sr:{study.study_uid}:{model.version}"),
                    series_instance_uid=ctx.pseudonymiser.uid(
                        f"sr-series:{model.version}:{study.study_uid}"
                    ),
                )
                export.attempts += 1
                try:
                    store_instance(ctx.local, ctx.node, sr)
                except (StoreFailed, AssociationError) as exc:
                    export.status, export.error = ExportStatus.FAILED, str(exc)
                    fail(session, study, "report", str(exc), max_attempts)
                else:
                    export.status, export.error, export.sent_at = ExportStatus.SENT, None, utcnow()
                    move_to(study, StudyState.REPORTED)
                    audit(session, "sr.sent", study.study_uid, model=model.version)
                    sent += 1
                session.commit()
                bar.advance()
    return sent
