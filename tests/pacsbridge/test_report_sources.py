"""Report text from an SR, an Encapsulated PDF, or the RIS drop folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from pacsbridge import ReportDrop, ReportNotFound, is_report, report_text
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
