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
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from pathlib import Path

from pydicom.uid import Comprehensive3DSRStorage
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import ExportStatus, Model, Prediction, SRExport, Study, StudyState, utcnow
from db.queries import audit, fail, quarantine, set_state, studies_in
from pacsbridge import (
    AssociationError,
    FindingCode,
    FindingResult,
    InvalidSR,
    ParallelStore,
    PredictionSRFactory,
    StoreFailed,
)
from pacslabel.context import Context
from pacslabel.errors import LinkageError
from pacslabel.files import write_private
from pacslabel.pipeline.stages.guard import isolated

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


@dataclass(frozen=True)
class _Prepared:
    """An SR built for one study, waiting to be sent or written."""

    study_id: int
    export_id: int
    data: bytes
    content: str
    sop_uid: str
    series_uid: str


def _prepare(
    ctx: Context,
    session: Session,
    study: Study,
    codes: dict[str, FindingCode],
    factories: dict[str, PredictionSRFactory],
) -> _Prepared | None:
    """The study's SR, unless the PACS (or the dry-run folder) has one that says the same.
    A changed content (re-judged flags) is a new instance that names the one it replaces
    (Predecessor Documents Sequence).

    Raises
    ------
    LinkageError, InvalidSR
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
        return None  # the PACS (or the dry-run folder) has it already
    sop_uid = ctx.pseudonymiser.uid(f"sr:{study.study_uid}:{model.version}:{content}")
    series_uid = export.series_uid or ctx.pseudonymiser.uid(
        f"sr-series:{model.version}:{study.study_uid}"
    )
    previous = _previous(ctx, export, study, model)
    factory = factories.setdefault(
        model.version, PredictionSRFactory("pacslabel ResNet-18", model.version)
    )
    data = factory.encode(
        identities,
        results,
        sop_instance_uid=sop_uid,
        series_instance_uid=series_uid,
        supersedes=previous if previous and previous[1] != sop_uid else None,
    )
    export.attempts += 1
    session.flush()
    return _Prepared(study.id, export.id, data, content, sop_uid, series_uid)


def _delivered(session: Session, prepared: _Prepared, status: ExportStatus) -> None:
    """Record that the study's SR reached the PACS (or the dry-run folder)."""
    export = session.get(SRExport, prepared.export_id)
    study = session.get(Study, prepared.study_id)
    assert export is not None and study is not None
    export.status, export.error, export.sent_at = status, None, utcnow()
    export.content_hash, export.sop_uid = prepared.content, prepared.sop_uid
    export.series_uid = prepared.series_uid
    audit(session, "sr.written" if status is ExportStatus.WRITTEN else "sr.sent", study.study_uid)
    set_state(study, StudyState.REPORTED)


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


class _Delivery:
    """Where prepared SRs go: the PACS over ``writeback.associations`` associations at
    once (each SR through a 0600 file in ``outgoing/``, removed once sent), or the dry-run
    folder. Outcomes are recorded in the pass's session, one study at a time."""

    def __init__(self, ctx: Context, session: Session) -> None:
        self._ctx, self._session = ctx, session
        self.folder = ctx.settings.writeback.folder
        self.sent = 0
        self._outgoing = ctx.paths.root / "outgoing"
        for left in self._outgoing.glob("*.dcm"):  # a killed pass's: sent again below
            left.unlink(missing_ok=True)
        self._store: ParallelStore | None = None
        self._pending: dict[Future[None], tuple[_Prepared, Path]] = {}

    def __enter__(self) -> _Delivery:
        if self.folder is None:
            associations = self._ctx.settings.writeback.associations
            self._store = ParallelStore(
                self._ctx.local, self._ctx.node, [Comprehensive3DSRStorage], associations
            )
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.settle(wait=True)
        finally:
            if self._store is not None:
                self._store.close()

    def submit(self, prepared: _Prepared) -> None:
        if self.folder is not None:
            study = self._session.get(Study, prepared.study_id)
            assert study is not None
            write_private(self.folder / study.study_uid / f"{prepared.sop_uid}.dcm", prepared.data)
            _delivered(self._session, prepared, ExportStatus.WRITTEN)
            self._session.commit()
            self.sent += 1
            return
        assert self._store is not None
        path = self._outgoing / f"{prepared.sop_uid}.dcm"
        write_private(path, prepared.data)
        self._pending[self._store.submit(path)] = (prepared, path)
        if len(self._pending) >= 4 * self._ctx.settings.writeback.associations:
            self.settle(wait=False, one=True)

    def settle(self, *, wait: bool, one: bool = False) -> None:
        """Record the sends that finished (with ``wait``: all of them; with ``one``: wait
        for at least one)."""
        if not self._pending:
            return
        if wait:
            done = list(self._pending)
        else:
            finished, _ = futures_wait(
                self._pending, timeout=None if one else 0, return_when=FIRST_COMPLETED
            )
            done = [f for f in self._pending if f in finished]
        for future in done:
            prepared, path = self._pending.pop(future)
            self._record(future, prepared)
            path.unlink(missing_ok=True)

    def _record(self, future: Future[None], prepared: _Prepared) -> None:
        session = self._session
        study = session.get(Study, prepared.study_id)
        assert study is not None
        with isolated(session, study, "report"):
            try:
                future.result()
                _delivered(session, prepared, ExportStatus.SENT)
                self.sent += 1
            except (StoreFailed, AssociationError) as exc:
                export = session.get(SRExport, prepared.export_id)
                assert export is not None
                export.status, export.error = ExportStatus.FAILED, str(exc)
                fail(session, study, "report", str(exc), self._ctx.settings.ingest.max_attempts)
            session.commit()


def _one(
    ctx: Context,
    session: Session,
    study: Study,
    delivery: _Delivery,
    build: Callable[[Study], _Prepared | None],
) -> bool:
    """Prepare and hand over one study's SR; returns False when write-back must stop (the
    linkage key is missing: every study would fail alike)."""
    with isolated(session, study, "report"):
        try:
            prepared = build(study)
        except LinkageError as exc:
            logger.error("cannot write SRs back: %s", exc)
            return False
        except InvalidSR as exc:  # the same values would come again: not retried
            _, export = _export(ctx, session, study)
            export.status, export.error = ExportStatus.FAILED, str(exc)
            quarantine(session, study, "report", f"no SR sent: {exc}")
            session.commit()
            return True
        if prepared is None:
            set_state(study, StudyState.REPORTED)
        else:
            delivery.submit(prepared)
        session.commit()
    return True


def writeback_all(ctx: Context) -> int:
    """Send an SR for every predicted study whose SR in the PACS (if any) says something
    else; returns how many were stored (or written, in a dry run).

    Retries are idempotent: an SR's UIDs are derived from the study, the model and what
    it says, so a PACS that already has it receives the same instance again. Without the
    linkage key nothing is sent and the studies wait. An SR whose values would be invalid
    DICOM is not sent: its study is quarantined with the reasons.
    """
    settings = ctx.settings.writeback
    codes = {code.key: code for code in ctx.task.finding_codes()}
    factories: dict[str, PredictionSRFactory] = {}
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

        def build(study: Study) -> _Prepared | None:
            return _prepare(ctx, session, study, codes, factories)

        with ctx.progress.step(where, len(studies)) as bar, _Delivery(ctx, session) as delivery:
            for study in studies:
                if not _one(ctx, session, study, delivery, build):
                    break
                delivery.settle(wait=False)
                bar.advance()
    return delivery.sent
