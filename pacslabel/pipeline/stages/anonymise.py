"""De-identification of retrieved studies: headers, pairing, report text."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from sqlalchemy.orm import Session

from db import Image, Report, ReportSource, Study, StudyState
from db.queries import fail, move_to, quarantine, studies_in
from pacsbridge import (
    AnonymisedInstance,
    InvalidInstance,
    OriginalIdentity,
    PairingError,
    ReportDrop,
    ReportNotFound,
    ViewInfo,
    anonymise,
    classify_view,
    deidentify_text,
    find_identifiers,
    is_report,
    pair_views,
    report_text,
)
from pacslabel.context import Context

__all__ = ["anonymise_all", "anonymise_study"]

logger = logging.getLogger(__name__)


@dataclass
class _Received:
    images: list[AnonymisedInstance] = field(default_factory=list)
    report: str | None = None
    report_identity: OriginalIdentity | None = None
    report_source: ReportSource = ReportSource.SR


def _quarantine_file(ctx: Context, session: Session, study: Study, path: Path, reason: str) -> None:
    target = ctx.paths.quarantine / study.study_uid / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)
    quarantine(
        session,
        study,
        "anonymise",
        f"{path.name}: {reason}",
        path=str(target.relative_to(ctx.paths.root)),
    )


def _read_instances(ctx: Context, session: Session, study: Study, folder: Path) -> _Received:
    received = _Received()
    for path in sorted(folder.glob("*.dcm")):
        try:
            ds = dcmread(path)
        except (InvalidDicomError, OSError, ValueError) as exc:
            _quarantine_file(ctx, session, study, path, f"not readable as DICOM: {exc}")
            continue
        if is_report(ds):
            try:
                received.report = report_text(ds)
            except ReportNotFound as exc:
                _quarantine_file(ctx, session, study, path, str(exc))
                continue
            received.report_identity = OriginalIdentity.from_dataset(ds, ctx.deid_options)
            received.report_source = (
                ReportSource.PDF if str(ds.Modality) == "DOC" else ReportSource.SR
            )
            continue
        try:
            received.images.append(anonymise(ds, ctx.pseudonymiser, ctx.deid_options))
        except InvalidInstance as exc:
            _quarantine_file(ctx, session, study, path, exc.reason)
    return received


def _write_images(ctx: Context, session: Session, study: Study, received: _Received) -> None:
    rules = ctx.task.view_rules()
    views = {a.sop_instance_uid: ViewInfo.from_dataset(a.dataset) for a in received.images}
    try:
        pair = pair_views(list(views.values()), rules)
        study.pairing_note = "; ".join(pair.reasons)
        paired = {pair.ap_sop_instance_uid, pair.lateral_sop_instance_uid}
    except PairingError as exc:
        study.pairing_note = str(exc)
        paired = set()
    existing = {image.sop_uid for image in study.images}
    for anon in received.images:
        ds = anon.dataset
        out = ctx.paths.dicom / study.study_uid / f"{anon.sop_instance_uid}.dcm"
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(out, enforce_file_format=True)
        ctx.vault.put(session, anon.sop_instance_uid, "image", anon.original)
        if anon.sop_instance_uid in existing:
            continue
        role, reason = classify_view(views[anon.sop_instance_uid], rules)
        study.images.append(
            Image(
                sop_uid=anon.sop_instance_uid,
                series_uid=anon.series_instance_uid,
                sop_class_uid=str(ds.SOPClassUID),
                modality=str(ds.get("Modality", "")),
                view_role=role,
                view_reason=reason,
                is_paired=anon.sop_instance_uid in paired,
                view_position=str(ds.get("ViewPosition", "") or "") or None,
                rows=int(ds.get("Rows", 0)) or None,
                columns=int(ds.get("Columns", 0)) or None,
                photometric_interpretation=str(ds.get("PhotometricInterpretation", "")) or None,
                path=str(out.relative_to(ctx.paths.root)),
            )
        )


def _describe_study(study: Study, ds: Dataset) -> None:
    study.patient_pseudonym = str(ds.get("PatientID", "")) or None
    study.study_date = str(ds.get("StudyDate", "")) or None
    study.study_description = str(ds.get("StudyDescription", "")) or None
    study.patient_age = str(ds.get("PatientAge", "")) or None
    study.patient_sex = str(ds.get("PatientSex", ""))[:1] or None


def _study_identity(received: _Received) -> OriginalIdentity | None:
    """The study's clinical identity: its first instance's, with the identifiers of every
    instance's header (images and report) together."""
    identities = [image.original for image in received.images]
    if received.report_identity is not None:
        identities.append(received.report_identity)
    if not identities:
        return None
    known = tuple(dict.fromkeys(item for identity in identities for item in identity.known()))
    return dataclasses.replace(identities[0], identifiers=known)


def _deidentified_report(ctx: Context, report: str, identity: OriginalIdentity) -> str | None:
    """The report without the study's known identifiers and the pattern families; ``None``
    when a known identifier is still found in it after a second pass (fail closed)."""
    shift = ctx.pseudonymiser.date_shift_days(identity.patient_id)
    text = report
    for _ in range(2):
        text = deidentify_text(text, identity.identifiers, date_shift_days=shift)
        if not find_identifiers(text, identity.identifiers):
            return text
    return None


def anonymise_study(ctx: Context, session: Session, study: Study) -> None:
    """De-identify a retrieved study's instances, pair its views, keep its report text.

    Unreadable or unusable files go to quarantine with the reason; a study
    without an AP + lateral pair or without a report is quarantined.
    """
    folder = ctx.paths.incoming / study.study_uid
    if not folder.is_dir() or not any(folder.glob("*.dcm")):
        study.state = StudyState.DISCOVERED  # retrieve again
        fail(
            session,
            study,
            "anonymise",
            "no received instances found",
            ctx.settings.ingest.max_attempts,
        )
        return
    received = _read_instances(ctx, session, study, folder)
    if received.images:
        _describe_study(study, received.images[0].dataset)
    _write_images(ctx, session, study, received)
    drop = ctx.settings.ingest.report_drop
    if received.report is None and drop is not None and received.images:
        first = received.images[0].original  # the RIS knows the study by accession number
        dropped = ReportDrop(drop).text_for(first.accession_number)
        if dropped is not None:
            received.report, received.report_identity = dropped, first
            received.report_source = ReportSource.RIS
    identity = _study_identity(received)
    if identity is not None:  # the study's linkage knows every identifier of its headers
        ctx.vault.put(session, study.study_uid, "study", identity, replace=True)
    if received.report is not None and identity is not None and study.report is None:
        text = _deidentified_report(ctx, received.report, identity)
        if text is None:
            quarantine(session, study, "report", "identifiers could not be removed from the report")
            return
        study.report = Report(text=text, source=received.report_source)
    if not any(image.is_paired for image in study.images):
        quarantine(session, study, "pair", study.pairing_note or "no images")
    elif study.report is None:
        quarantine(session, study, "report", "no report text in the study")
    else:
        move_to(study, StudyState.ANONYMISED)


def anonymise_all(ctx: Context) -> int:
    """Run :func:`anonymise_study` on every retrieved study; returns how many passed."""
    done = 0
    with Session(ctx.engine) as session:
        studies = studies_in(session, StudyState.RETRIEVED)
        with ctx.progress.step("de-identifying and pairing", len(studies)) as bar:
            for study in studies:
                anonymise_study(ctx, session, study)
                session.commit()
                incoming = ctx.paths.incoming / study.study_uid
                if study.state is StudyState.QUARANTINED and incoming.is_dir():
                    target = ctx.paths.quarantine / study.study_uid
                    target.mkdir(parents=True, exist_ok=True)
                    for path in incoming.glob("*.dcm"):
                        shutil.move(path, target / path.name)
                if study.state is not StudyState.DISCOVERED and incoming.is_dir():
                    shutil.rmtree(incoming)
                done += study.state is StudyState.ANONYMISED
                bar.advance()
    return done
