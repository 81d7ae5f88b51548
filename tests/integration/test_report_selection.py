"""Report selection against a real Orthanc: studies that also hold a dose SR, another
vendor's TID 1500 SR, a key object selection and an SR of another pacslabel installation
are ingested; every stored report is the radiologist's, and the labels agree with the
report truth as they do without the extra documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from peers import Orthanc, free_port
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import FindingLabel, Image, LabelSource, Study, upgrade
from pacsbridge import DocumentKind, LocalAE, classify_document, store_files
from pacslabel.context import open_context
from pacslabel.pipeline import run_once
from pacslabel.settings import load_settings
from simhospital import SimulatedStudy, generate_study, write_study
from simhospital.documents import with_other_documents

COUNT = 6


def _agreement(ctx: object, studies: list[SimulatedStudy]) -> tuple[float, list[str]]:
    by_pseudonym = {ctx.pseudonymiser.uid(s.study_instance_uid): s for s in studies}  # type: ignore[attr-defined]
    right = cells = 0
    reports = []
    with Session(ctx.engine) as session:  # type: ignore[attr-defined]
        for study in session.scalars(select(Study)):
            truth = by_pseudonym[study.study_uid].report_states
            assert study.report is not None, study.failure_reason
            reports.append(study.report.text)
            for label in session.scalars(
                select(FindingLabel).where(
                    FindingLabel.study_id == study.id, FindingLabel.source == LabelSource.RULES
                )
            ):
                cells += 1
                right += label.state.value == truth[label.finding]
            modalities = {i.modality for i in study.images}
            assert modalities <= {"CR", "DX"}, modalities  # the documents were not kept
    return right / cells, reports


def _ingest(tmp_path: Path, orthanc: Orthanc, studies: list[SimulatedStudy]) -> object:
    """Store the studies in Orthanc: images and reports first, the other documents after
    them (as in a hospital: they are written later, and Orthanc takes a study's
    description from the first instance it gets)."""
    folder = tmp_path / "archive"
    for study in studies:
        write_study(study, folder / study.study_instance_uid, ris_dir=folder.parent / "ris")
    later = {
        str(ds.SOPInstanceUID)
        for study in studies
        for ds in study.datasets
        if classify_document(ds) not in (DocumentKind.NOT_A_DOCUMENT, *_REPORTS)
    }
    paths = sorted(folder.rglob("*.dcm"), key=lambda path: path.stem in later)
    report = store_files(LocalAE("UPLOADER"), orthanc.node, paths)
    assert not report.failed
    port = free_port()
    orthanc.put("/modalities/pacslabel", {"AET": "PACSLABEL", "Host": "127.0.0.1", "Port": port})
    return load_settings(
        data_dir=tmp_path / "data",
        pacs={"ae_title": "ORTHANC", "host": "127.0.0.1", "port": orthanc.dicom_port},
        local={"storage_port": port, "network_timeout_s": 10, "move_timeout_s": 60},
        ingest={"report_drop": folder.parent / "ris"},
        training={"min_studies": 1000},
    )


_REPORTS = (DocumentKind.REPORT_SR, DocumentKind.REPORT_PDF)


def test_stored_reports_are_the_radiologists(tmp_path: Path, orthanc: Orthanc) -> None:
    plain = [generate_study(i, seed=41, scale=0.1) for i in range(COUNT)]
    extra = [with_other_documents(study, seed=41) for study in plain]
    settings = _ingest(tmp_path, orthanc, extra)
    upgrade(settings.resolved_database_url)  # type: ignore[attr-defined]
    with open_context(settings) as ctx:  # type: ignore[arg-type]
        report = run_once(ctx, retrain=False)
        assert report.labelled == COUNT, report
        agreement, texts = _agreement(ctx, extra)
        with Session(ctx.engine) as session:
            images = session.scalar(select(Image).limit(1))
            assert images is not None
    for text in texts:  # none of the other documents' text
        assert "pacslabel ResNet-18" not in text and "AI:" not in text
        assert "Esposizione ripetuta" not in text and "Immagini chiave" not in text
    # The same studies without the extra documents, through the same path:
    baseline_dir = tmp_path / "baseline"
    baseline_dir.mkdir()
    for instance in orthanc.get("/instances"):
        orthanc.delete(f"/instances/{instance}")
    settings = _ingest(baseline_dir, orthanc, plain)
    upgrade(settings.resolved_database_url)  # type: ignore[attr-defined]
    with open_context(settings) as ctx:  # type: ignore[arg-type]
        run_once(ctx, retrain=False)
        baseline, _ = _agreement(ctx, plain)
    assert agreement == pytest.approx(baseline, abs=0.005)
    assert agreement > 0.9
