"""Write-back: one current DICOM SR per predicted study, in the original (clinical) study.

An SR is sent when what it says (the model's probabilities and positive flags)
differs from the last one sent for the study and model: the new one replaces
the old by naming it in its Predecessor Documents Sequence, so the PACS keeps
one current SR per study and model and the history of what was said.

``writeback.enabled = false`` sends nothing (the studies wait, predicted);
``writeback.folder`` is a dry run: each SR is written there as a file instead
(``<folder>/<study pseudonym>/<SR SOP Instance UID>.dcm``), and once the folder
is unset the SRs that only went there are sent.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import ExportStatus, Model, Prediction, SRExport, Study, StudyState, utcnow
from db.queries import audit, fail, move_to, studies_in
from pacsbridge import (
    AssociationError,
    FindingCode,
    FindingResult,
    StoreFailed,
    build_prediction_sr,
    store_instance,
)
from pacslabel.context import Context
from pacslabel.errors import LinkageError
from pacslabel.pipeline.stages.guard import isolated

if TYPE_CHECKING:
    from pydicom import Dataset

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


def _content_hash(model: Model, results: list[FindingResult]) -> str:
    """What an SR says: the model and, per finding, the probability and the flag."""
    said = [model.version] + [
        f"{r.finding.key}={round(float(r.probability), 6)}:{int(r.present)}" for r in results
    ]
    return hashlib.sha256("\n".join(said).encode()).hexdigest()


def _previous(ctx: Context, export: SRExport, study: Study, model: Model) -> tuple[str, str] | None:
    """(series, SOP instance UID) of the SR of ours that the next one replaces, if any (an
    export sent before revisions were recorded had UIDs of the study and model alone)."""
    if export.status is not ExportStatus.SENT:
        return (export.series_uid, export.sop_uid) if export.sop_uid and export.series_uid else None
    if export.sop_uid and export.series_uid:
        return export.series_uid, export.sop_uid
    return (
        ctx.pseudonymiser.uid(f"sr-series:{model.version}:{study.study_uid}"),
        ctx.pseudonymiser.uid(f"sr:{study.study_uid}:{model.version}"),
    )


def _send(ctx: Context, session: Session, study: Study, codes: dict[str, FindingCode]) -> bool:
    """Send the study's SR unless the PACS has one that says the same; returns whether one
    was sent. A changed content (re-judged flags) goes out as a new instance that names the
    one it replaces (Predecessor Documents Sequence).

    Raises
    ------
    LinkageError, StoreFailed, AssociationError
    """
    model, export = _export(ctx, session, study)
    paired = sorted((i for i in study.images if i.is_paired), key=lambda i: i.view_role)
    identities = [ctx.vault.get(session, image.sop_uid) for image in paired]
    predictions = session.scalars(
        select(Prediction).where(Prediction.study_id == study.id, Prediction.model_id == model.id)
    )
    results = sorted(
        (FindingResult(codes[p.finding], p.probability, p.positive) for p in predictions),
        key=lambda r: ctx.task.finding_keys.index(r.finding.key),
    )
    content = _content_hash(model, results)
    done = ExportStatus.WRITTEN if ctx.settings.writeback.folder else ExportStatus.SENT
    if export.status is done and export.content_hash == content:
        return False  # the PACS (or the dry-run folder) has it already
    sop_uid = ctx.pseudonymiser.uid(f"sr:{study.study_uid}:{model.version}:{content}")
    series_uid = export.series_uid or ctx.pseudonymiser.uid(
        f"sr-series:{model.version}:{study.study_uid}"
    )
    previous = _previous(ctx, export, study, model)
    sr = build_prediction_sr(
        identities,
        results,
        algorithm_name="pacslabel ResNet-18",
        algorithm_version=model.version,
        sop_instance_uid=sop_uid,
        series_instance_uid=series_uid,
        supersedes=previous if previous and previous[1] != sop_uid else None,
    )
    export.attempts += 1
    folder = ctx.settings.writeback.folder
    if folder is not None:
        _write(sr, folder / study.study_uid / f"{sop_uid}.dcm")
    else:
        store_instance(ctx.local, ctx.node, sr)
    export.status, export.error, export.sent_at = done, None, utcnow()
    export.content_hash, export.sop_uid, export.series_uid = content, sop_uid, series_uid
    return True


def _write(sr: Dataset, path: Path) -> None:
    """The SR as a file readable by its owner only, whatever the umask; atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    part = path.with_name(path.name + ".part")
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        sr.save_as(handle, enforce_file_format=True)
    os.replace(part, path)


def _unsent_dry_runs(session: Session) -> int:
    """Studies whose current SR went only to the dry-run folder go back to be sent."""
    studies = session.scalars(
        select(Study)
        .join(SRExport, SRExport.study_id == Study.id)
        .where(Study.state == StudyState.REPORTED, SRExport.status == ExportStatus.WRITTEN)
    ).all()
    for study in studies:
        study.state = StudyState.PREDICTED
    session.commit()
    return len(studies)


def writeback_all(ctx: Context) -> int:
    """Send an SR for every predicted study whose SR in the PACS (if any) says something
    else; returns how many were stored (or written, in a dry run).

    Retries are idempotent: an SR's UIDs are derived from the study, the model and what
    it says, so a PACS that already has it receives the same instance again. Without the
    linkage key nothing is sent and the studies wait.
    """
    settings = ctx.settings.writeback
    codes = {code.key: code for code in ctx.task.finding_codes()}
    max_attempts = ctx.settings.ingest.max_attempts
    sent = 0
    with Session(ctx.engine) as session:
        if settings.enabled and settings.folder is None and (back := _unsent_dry_runs(session)):
            logger.info("%d SRs written only to a dry-run folder before are sent now", back)
        studies = studies_in(session, StudyState.PREDICTED)
        if not settings.enabled:
            if studies:
                logger.info(
                    "write-back is off (writeback.enabled = false): %d studies' SRs wait",
                    len(studies),
                )
            return 0
        where = (
            f"writing SRs to {settings.folder}" if settings.folder else "sending SRs to the PACS"
        )
        with ctx.progress.step(where, len(studies)) as bar:
            for study in studies:
                with isolated(session, study, "report"):
                    try:
                        if _send(ctx, session, study, codes):
                            what = "sr.written" if settings.folder else "sr.sent"
                            audit(session, what, study.study_uid)
                            sent += 1
                        move_to(study, StudyState.REPORTED)
                    except LinkageError as exc:
                        logger.error("cannot write SRs back: %s", exc)
                        break
                    except (StoreFailed, AssociationError) as exc:
                        _, export = _export(ctx, session, study)
                        export.status, export.error = ExportStatus.FAILED, str(exc)
                        fail(session, study, "report", str(exc), max_attempts)
                    session.commit()
                bar.advance()
    return sent
