"""Report text from an SR, an Encapsulated PDF, or the RIS drop folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from pacsbridge import (
    AmbiguousReport,
    DocumentKind,
    ReportCandidate,
    ReportDrop,
    ReportNotFound,
    choose_report,
    classify_document,
    is_report,
    report_candidate,
    report_text,
)
from simhospital import generate_study


def _report(study_report_mix: tuple[float, float, float]) -> tuple[str, Dataset]:
    study = generate_study(2, seed=8, scale=0.1, report_mix=study_report_mix)
    (report,) = [ds for ds in study.datasets if is_report(ds)]
    return study.report_text, report


def test_sr_and_pdf_reports() -> None:
    text, sr = _report((1.0, 0.0, 0.0))
    assert report_text(sr) == text
    text, pdf = _report((0.0, 1.0, 0.0))
    extracted = report_text(pdf)
    assert "OSPEDALE SIMULATO" in extracted  # the letterhead comes along: de-identified later
    first_words = " ".join(text.split()[:4])
    assert first_words in " ".join(extracted.split())


def test_broken_pdf_and_non_reports() -> None:
    _, pdf = _report((0.0, 1.0, 0.0))
    pdf.EncapsulatedDocument = b"%PDF-1.4 broken"
    with pytest.raises(ReportNotFound, match="PDF"):
        report_text(pdf)
    image = generate_study(2, seed=8, scale=0.1).datasets[0]
    assert not is_report(image)
    with pytest.raises(ReportNotFound):
        report_text(image)


def test_ris_drop_folder(tmp_path: Path) -> None:
    (tmp_path / "ACC1.txt").write_text("Scoliosi lombare.\n", encoding="utf-8")
    (tmp_path / "reports.csv").write_text(
        'accession_number,text\nACC1,from csv\nACC2,"Non fratture, listesi."\n', encoding="utf-8"
    )
    drop = ReportDrop(tmp_path)
    assert drop.text_for("ACC1") == "Scoliosi lombare."  # a file wins over the CSV
    assert drop.text_for("ACC2") == "Non fratture, listesi."
    assert drop.text_for("ACC3") is None
    assert drop.text_for("../etc/passwd") is None


def _documents() -> tuple[Dataset, list[Dataset]]:
    from simhospital.documents import with_other_documents

    study = with_other_documents(generate_study(4, seed=8, scale=0.1, report_mix=(1, 0, 0)))
    documents = [ds for ds in study.datasets if "PixelData" not in ds]
    (report,) = [ds for ds in documents if ds.get("Manufacturer") == "RIS Simulato"]
    return report, documents


def test_only_report_documents_are_reports() -> None:
    report, documents = _documents()
    kinds = {classify_document(ds) for ds in documents}
    assert kinds == {
        DocumentKind.REPORT_SR,
        DocumentKind.DOSE_SR,
        DocumentKind.MEASUREMENT_SR,
        DocumentKind.KEY_OBJECTS,
        DocumentKind.OWN_SR,
    }
    candidates = [c for ds in documents if (c := report_candidate(ds)) is not None]
    assert [c.sop_instance_uid for c in candidates] == [report.SOPInstanceUID]
    with pytest.raises(ReportNotFound, match="not a report but a radiation dose report"):
        report_text(next(ds for ds in documents if classify_document(ds) is DocumentKind.DOSE_SR))
    # A site whose RIS titles its reports otherwise says so (ingest.report_titles).
    report.ConceptNameCodeSequence[0].CodeValue = "REFERTO"
    report.ConceptNameCodeSequence[0].CodingSchemeDesignator = "99LOCAL"
    assert classify_document(report) is DocumentKind.OTHER_SR
    assert classify_document(report, {("99LOCAL", "REFERTO")}) is DocumentKind.REPORT_SR


def _candidate(text: str, *, verified: bool, written: str) -> ReportCandidate:
    return ReportCandidate(
        "1.2", "1.2.840.10008.5.1.4.1.1.88.11", DocumentKind.REPORT_SR, "LN:18748-4", text,
        verified, True, written,
    )  # fmt: skip


def test_the_verified_then_the_latest_report_wins_and_a_true_tie_is_named() -> None:
    draft = _candidate("bozza", verified=False, written="20240101120000")
    signed = _candidate("firmato", verified=True, written="20240101100000")
    addendum = _candidate("integrazione", verified=True, written="20240102090000")
    assert choose_report([draft, signed]).text == "firmato"
    assert choose_report([draft, signed, addendum]).text == "integrazione"
    twin = _candidate("altro testo", verified=True, written="20240102090000")
    with pytest.raises(AmbiguousReport, match="needs a person"):
        choose_report([addendum, twin])
    same = _candidate("integrazione ", verified=True, written="20240102090000")
    assert choose_report([addendum, same]).text == "integrazione"  # same words: no conflict
    with pytest.raises(ReportNotFound):
        choose_report([])
