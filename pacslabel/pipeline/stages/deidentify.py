"""De-identification of retrieved studies: headers, pairing, the report and its text.

Each received instance is an image (de-identified and kept), a report document
(a candidate for the study's report) or another document (a dose report, a
CAD or measurement SR, a key object selection, an SR pacslabel wrote) which is
left aside. The report is chosen among the candidates by
:func:`pacsbridge.choose_report`, or taken from the RIS drop folder.

A study without a standing AP + lateral pair, or without a report, *waits*
(``waiting_pair``, ``waiting_report``): the next passes look again
(:func:`pacslabel.pipeline.stages.retrieval.recheck_waiting`) until
``ingest.max_wait_days``, then it is quarantined. Files that cannot be read or
de-identified are quarantined one by one, with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db import FindingLabel, Image, LabelSource, Report, ReportSource, Study, StudyState, utcnow
from db.queries import audit, fail, quarantine, set_state, studies_in
from pacsbridge import (
    AmbiguousReport,
    DeidentifiedInstance,
    DocumentKind,
    FileOutcome,
    OriginalIdentity,
    PairingError,
    ReportCandidate,
    ReportDrop,
    ReportNotFound,
    ViewInfo,
    choose_report,
    classify_view,
    clean_string,
    deidentify_text,
    find_identifiers,
    first,
    lenient_age,
    lenient_date,
    lenient_int,
    lenient_sex,
    pair_views,
)
from pacslabel.context import Context
from pacslabel.pipeline.stages.guard import isolated

__all__ = ["attach_dropped_report", "deidentify_all", "deidentify_study", "wait"]

logger = logging.getLogger(__name__)

#: Where a study's report text came from, by the kind of document.
_SOURCE = {DocumentKind.REPORT_SR: ReportSource.SR, DocumentKind.REPORT_PDF: ReportSource.PDF}


@dataclass
class _Received:
    images: list[DeidentifiedInstance] = field(default_factory=list)
    reports: list[tuple[ReportCandidate, OriginalIdentity]] = field(default_factory=list)
    left_aside: list[DocumentKind] = field(default_factory=list)
    """Documents that are not reports (dose, CAD, measurement, KOS, pacslabel's SRs)."""
    written: dict[str, Path] = field(default_factory=dict)
    """The de-identified file of each image, by SOP Instance UID (staged by the workers)."""
    instances: int = 0


def _quarantine_file(ctx: Context, session: Session, study: Study, path: Path, reason: str) -> None:
    target = ctx.paths.quarantine / study.study_uid / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)
    quarantine(
        session,
        study,
        "deidentify",
        f"{path.name}: {reason}",
        path=str(target.relative_to(ctx.paths.root)),
    )


def _owner_elsewhere(session: Session, study: Study, received: _Received) -> str | None:
    """The study that already holds the image just read (the same SOP Instance UID: this
    one, read twice, or another one), if any; a second copy is never taken."""
    sop_uid = received.images[-1].sop_instance_uid
    if any(image.sop_instance_uid == sop_uid for image in received.images[:-1]):
        return study.study_uid
    return session.scalar(
        select(Study.study_uid)
        .join(Image, Image.study_id == Study.id)
        .where(Image.sop_uid == sop_uid, Study.id != study.id)
    )


def _file_outcome(
    ctx: Context, session: Session, study: Study, outcome: FileOutcome, received: _Received
) -> None:
    """File one received instance under what it turned out to be (quarantined with the
    reason when it cannot be taken)."""
    if outcome.refused is not None:
        _quarantine_file(ctx, session, study, outcome.path, outcome.refused)
    elif outcome.report is not None:
        received.reports.append(outcome.report)
    elif outcome.left_aside is not None:
        received.left_aside.append(outcome.left_aside)
    elif outcome.image is not None and outcome.written is not None:
        received.images.append(outcome.image)
        owner = _owner_elsewhere(session, study, received)
        if owner is None:
            received.written[outcome.image.sop_instance_uid] = outcome.written
            return
        received.images.pop()
        outcome.written.unlink(missing_ok=True)
        reason = f"its SOP Instance UID is already an image of study {owner}"
        _quarantine_file(ctx, session, study, outcome.path, reason)


def _read_instances(ctx: Context, session: Session, study: Study, folder: Path) -> _Received:
    """Every received instance of the study, de-identified by the workers (those that are
    not under way yet, after a restart or for a pushed study, are submitted now)."""
    received = _Received()
    paths = sorted(folder.glob("*.dcm"))
    for path in paths:
        ctx.deid.submit(path)
    for path in paths:
        received.instances += 1
        _file_outcome(ctx, session, study, ctx.deid.outcome(path), received)
    if received.left_aside:
        left = ", ".join(sorted({str(kind) for kind in received.left_aside}))
        logger.info("study %s: left aside (not reports): %s", study.study_uid, left)
    return received


def _pair(ctx: Context, study: Study, received: _Received) -> tuple[set[str], dict[str, ViewInfo]]:
    views = {a.sop_instance_uid: ViewInfo.from_dataset(a.dataset) for a in received.images}
    try:
        pair = pair_views(list(views.values()), ctx.task.view_rules())
        study.pairing_note = "; ".join(pair.reasons)
        return {pair.ap_sop_instance_uid, pair.lateral_sop_instance_uid}, views
    except PairingError as exc:
        study.pairing_note = str(exc)
        return set(), views


def _write_images(ctx: Context, session: Session, study: Study, received: _Received) -> None:
    if not received.images:
        return
    rules = ctx.task.view_rules()
    paired, views = _pair(ctx, study, received)
    existing = {image.sop_uid: image for image in study.images}
    for anon in received.images:
        ds = anon.dataset
        out = ctx.paths.dicom / study.study_uid / f"{anon.sop_instance_uid}.dcm"
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(received.written[anon.sop_instance_uid], out)
        ctx.vault.put(session, anon.sop_instance_uid, "image", anon.original)
        if anon.sop_instance_uid in existing:  # received again: paired anew
            existing[anon.sop_instance_uid].is_paired = anon.sop_instance_uid in paired
            continue
        role, reason = classify_view(views[anon.sop_instance_uid], rules)
        study.images.append(
            Image(
                sop_uid=anon.sop_instance_uid,
                series_uid=anon.series_instance_uid,
                sop_class_uid=str(ds.SOPClassUID),
                modality=clean_string(first(ds.get("Modality", ""))),
                view_role=role,
                view_reason=reason,
                is_paired=anon.sop_instance_uid in paired,
                view_position=clean_string(first(ds.get("ViewPosition", ""))) or None,
                rows=lenient_int(ds.get("Rows")) or None,
                columns=lenient_int(ds.get("Columns")) or None,
                photometric_interpretation=clean_string(ds.get("PhotometricInterpretation"))
                or None,
                path=str(out.relative_to(ctx.paths.root)),
            )
        )


def _describe_study(study: Study, ds: Dataset) -> None:
    """What researchers query a study by, from its de-identified header, each value read
    leniently: one that cannot be understood is left empty, never guessed."""
    study.patient_pseudonym = str(ds.get("PatientID", "")) or None
    study.study_date = lenient_date(ds.get("StudyDate"))
    study.study_description = clean_string(first(ds.get("StudyDescription", ""))) or None
    study.patient_age = lenient_age(ds.get("PatientAge"))
    study.patient_sex = lenient_sex(ds.get("PatientSex"))


def _study_identity(received: _Received) -> OriginalIdentity | None:
    """The study's clinical identity: its first instance's, with the identifiers of every
    instance's header (images and reports) together."""
    identities = [image.original for image in received.images]
    identities += [identity for _, identity in received.reports]
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


def wait(session: Session, study: Study, state: StudyState, stage: str, reason: str) -> None:
    """Put a study in a waiting state (the clock starts the first time)."""
    first = study.state is not state or study.waiting_since is None
    study.state, study.failed_stage, study.failure_reason = state, stage, reason
    study.attempts = 0
    if first:
        study.waiting_since = study.waiting_since or utcnow()
        audit(session, f"{stage}.waiting", study.study_uid, reason=reason)
        logger.info("study %s waits: %s", study.study_uid, reason)


def _no_report_reason(ctx: Context, received: _Received) -> str:
    reason = "no report in the study yet (checked again each pass for up to "
    reason += f"ingest.max_wait_days = {ctx.settings.ingest.max_wait_days:g} days)"
    if received.left_aside:
        kinds = ", ".join(sorted({str(kind) for kind in received.left_aside}))
        titles = ", ".join(ctx.settings.ingest.report_titles)
        reason += f"; it holds {kinds}: a report SR needs one of the titles {titles} "
        reason += "(ingest.report_titles)"
    if ctx.settings.ingest.report_drop is None:
        reason += "; if the RIS keeps reports outside the PACS, set ingest.report_drop"
    return reason


def _set_report(
    session: Session, study: Study, text: str, source: ReportSource, document: tuple[str, str, str]
) -> None:
    """Store the report; a different document replaces the stored one, and the labels read
    from the old text go (the label stage reads the new one)."""
    document_class, document_uid, title = document
    if study.report is not None:
        if study.report.document_uid == document_uid and study.report.text == text:
            return
        session.execute(
            delete(FindingLabel).where(
                FindingLabel.study_id == study.id, FindingLabel.source != LabelSource.HUMAN
            )
        )
        audit(session, "report.replaced", study.study_uid, document=document_class)
        study.report.text, study.report.source = text, source
        study.report.document_class, study.report.document_uid = document_class, document_uid
        study.report.document_title = title
        return
    study.report = Report(
        text=text,
        source=source,
        document_class=document_class,
        document_uid=document_uid,
        document_title=title,
    )


def _take_report(
    ctx: Context, session: Session, study: Study, received: _Received, identity: OriginalIdentity
) -> str | None:
    """Choose, de-identify and store the study's report; returns why it could not."""
    try:
        candidate = choose_report([c for c, _ in received.reports])
        text, source = candidate.text, _SOURCE[candidate.kind]
        uid = ctx.pseudonymiser.uid(candidate.sop_instance_uid)
        document = (candidate.sop_class_uid, uid, candidate.title)
    except AmbiguousReport as exc:
        return str(exc)
    except ReportNotFound:
        drop = ctx.settings.ingest.report_drop
        dropped = ReportDrop(drop).text_for(identity.accession_number) if drop else None
        if dropped is None:
            return _no_report_reason(ctx, received)
        text, source, document = dropped, ReportSource.RIS, ("ris", "", "")
    clean = _deidentified_report(ctx, text, identity)
    if clean is None:
        quarantine(session, study, "report", "identifiers could not be removed from the report")
        return None
    _set_report(session, study, clean, source, document)
    return None


def attach_dropped_report(ctx: Context, session: Session, study: Study) -> bool:
    """Take a waiting study's report from the RIS drop folder, if it is there now; returns
    whether the study has its report (and moves on)."""
    drop = ctx.settings.ingest.report_drop
    if drop is None:
        return False
    identity = ctx.vault.get(session, study.study_uid)
    text = ReportDrop(drop).text_for(identity.accession_number)
    if text is None:
        return False
    clean = _deidentified_report(ctx, text, identity)
    if clean is None:
        quarantine(session, study, "report", "identifiers could not be removed from the report")
        return False
    _set_report(session, study, clean, ReportSource.RIS, ("ris", "", ""))
    if any(image.is_paired for image in study.images):
        set_state(study, StudyState.DEIDENTIFIED)
        study.waiting_since = None
    return True


def deidentify_study(ctx: Context, session: Session, study: Study) -> None:
    """De-identify a retrieved study's instances, pair its views, take its report.

    Unreadable or unusable files go to quarantine with the reason; a study
    without an AP + lateral pair or without a report waits (see the module doc).
    """
    folder = ctx.paths.incoming / study.study_uid
    if not folder.is_dir() or not any(folder.glob("*.dcm")):
        study.state = StudyState.DISCOVERED  # retrieve again
        fail(
            session,
            study,
            "deidentify",
            "no received instances found",
            ctx.settings.ingest.max_attempts,
        )
        return
    received = _read_instances(ctx, session, study, folder)
    study.instances_received = received.instances
    if received.images:
        _describe_study(study, received.images[0].dataset)
    _write_images(ctx, session, study, received)
    identity = _study_identity(received)
    if identity is not None:  # the study's linkage knows every identifier of its headers
        ctx.vault.put(session, study.study_uid, "study", identity, replace=True)
    missing_report = _take_report(ctx, session, study, received, identity) if identity else None
    if study.state is StudyState.QUARANTINED:
        return
    if not any(image.is_paired for image in study.images):
        wait(session, study, StudyState.WAITING_PAIR, "pair", study.pairing_note or "no images")
    elif study.report is None:
        reason = missing_report or "no report in the study"
        wait(session, study, StudyState.WAITING_REPORT, "report", reason)
    else:
        set_state(study, StudyState.DEIDENTIFIED)
        study.waiting_since = None


def deidentify_all(ctx: Context) -> int:
    """Run :func:`deidentify_study` on every retrieved study; returns how many passed."""
    done = 0
    ctx.deid.settle()  # every instance received so far is with the workers
    with Session(ctx.engine) as session:
        studies = studies_in(session, StudyState.RETRIEVED)
        with ctx.progress.step("de-identifying and pairing", len(studies)) as bar:
            for study in studies:
                with isolated(session, study, "deidentify"):
                    deidentify_study(ctx, session, study)
                    session.commit()
                incoming = ctx.paths.incoming / study.study_uid
                if study.state is StudyState.QUARANTINED and incoming.is_dir():
                    target = ctx.paths.quarantine / study.study_uid
                    target.mkdir(parents=True, exist_ok=True)
                    for path in incoming.glob("*.dcm"):
                        shutil.move(path, target / path.name)
                ctx.deid.forget(incoming)
                if study.state is not StudyState.DISCOVERED and incoming.is_dir():
                    shutil.rmtree(incoming)
                done += study.state is StudyState.DEIDENTIFIED
                bar.advance()
    return done
