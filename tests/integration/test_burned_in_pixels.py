"""Identifiers burned into the pixels, through a real Orthanc and ``pacslabel run`` as a
user runs it (issue 27): a study whose AP and lateral carry the patient's name, birth date
and accession in the top-left corner and the institution along the bottom edge, white,
about 40 pixels high, BurnedInAnnotation absent, with a report SR; and a clean study
(lead side markers only).

What is checked does not use the screen under test: each image left on the research side
(de-identified files, the pixel cache) is read whole by Tesseract (sparse text, no
candidate regions) and the planted strings are looked for in what it reads.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from peers import Orthanc, pacslabel, pacslabel_config
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import QuarantineEntry, Study, StudyState, make_engine
from pacsbridge import LocalAE, TextReader, decode_pixels, store_files
from pacslabel.errors import ExitCode
from simhospital.dicom import INSTITUTION, SimulatedStudy, generate_study

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _burn(ds: Dataset, lines: list[str], strip: str) -> None:
    """Burn ``lines`` top-left and ``strip`` along the bottom, white as displayed, ~40 px."""
    pixels = ds.pixel_array.astype(np.uint16)
    peak = (1 << int(ds.BitsStored)) - 1
    white = 0 if ds.PhotometricInterpretation == "MONOCHROME1" else peak
    mask = Image.new("L", (pixels.shape[1], pixels.shape[0]), 0)
    pen = ImageDraw.Draw(mask)
    font = ImageFont.truetype(str(FONT), 40) if FONT.is_file() else ImageFont.load_default(40)
    for n, line in enumerate(lines):
        pen.text((30, 24 + 52 * n), line, fill=255, font=font)
    pen.text((120, pixels.shape[0] - 64), strip, fill=255, font=font)
    alpha = np.asarray(mask, np.float32) / 255
    burned = pixels * (1 - alpha) + white * alpha
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress()
    ds.PixelData = np.round(burned).astype(np.uint16).tobytes()
    if "BurnedInAnnotation" in ds:
        del ds.BurnedInAnnotation


def _studies() -> tuple[SimulatedStudy, SimulatedStudy, list[str]]:
    burned = generate_study(
        1, seed=27, scale=0.5, vendor_name="Siemens", report_mix=(1.0, 0.0, 0.0), burned_in_rate=0
    )
    clean = generate_study(
        2, seed=27, scale=0.5, vendor_name="Siemens", report_mix=(1.0, 0.0, 0.0), burned_in_rate=0
    )
    family, given = burned.patient.patient_name.split("^")
    birth = burned.patient.patient_birth_date
    planted = [
        f"{family} {given}",
        f"{birth[6:]}/{birth[4:6]}/{birth[:4]}",
        burned.accession_number,
    ]
    for ds in burned.datasets:
        if ds.Modality in ("CR", "DX"):
            _burn(ds, planted, INSTITUTION.upper())
    return burned, clean, [family, given, birth[:4], burned.accession_number, "SIMULATO"]


def _push(studies: list[SimulatedStudy], folder: Path, orthanc: Orthanc) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for study in studies:
        for ds in study.datasets:
            path = folder / f"{ds.SOPInstanceUID}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    report = store_files(LocalAE("UPLOADER"), orthanc.node, paths)
    assert report.stored == len(paths) and not report.failed


def _read_whole(reader: TextReader, image: np.ndarray) -> str:
    """Everything Tesseract reads in the whole image (both polarities), upper case."""
    words = []
    for pixels in (image, 255 - image):
        words += [word for word, _ in reader.read(pixels)]
    return " ".join(words).upper()


def _research_side_texts(data: Path, reader: TextReader) -> dict[str, str]:
    """What OCR reads in every image of the research side: de-identified files and cache."""
    texts = {}
    for path in sorted((data / "dicom").rglob("*.dcm")):
        ds = dcmread(path)
        if "PixelData" in ds:
            texts[str(path.relative_to(data))] = _read_whole(reader, decode_pixels(ds).full_range)
    for path in sorted((data / "cache").rglob("*.npy")):
        for n, view in enumerate(np.load(path)):
            texts[f"{path.relative_to(data)}[{n}]"] = _read_whole(reader, view.astype(np.uint8))
    return texts


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'pacslabel.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _run(
    tmp_path: Path, orthanc: Orthanc, url: str, mode: str
) -> tuple[SimulatedStudy, SimulatedStudy, list[str], subprocess.CompletedProcess[str], Path]:
    burned, clean, planted = _studies()
    _push([burned, clean], tmp_path / "upload", orthanc)
    extra = f'[deid]\nburned_in = "{mode}"\n'
    config = pacslabel_config(tmp_path, orthanc, url, extra=extra)
    assert pacslabel(config, "db", "upgrade").returncode == 0
    ran = pacslabel(config, "--log-level", "DEBUG", "run", "--no-train")
    assert ran.returncode == 0, ran.stderr[-3000:]
    return burned, clean, planted, ran, config


def _states(url: str) -> tuple[dict[str, Study], list[QuarantineEntry]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            studies = {s.study_uid: s for s in session.scalars(select(Study))}
            entries = list(session.scalars(select(QuarantineEntry)))
            session.expunge_all()
            return studies, entries
    finally:
        engine.dispose()


def _leaks(texts: dict[str, str], planted: list[str]) -> list[str]:
    """``where: value`` for each planted value read anywhere (its inner part: a whole-image
    reading may lose a first or last letter at the edge of the image)."""
    found = []
    for where, text in texts.items():
        for value in planted:
            needle = value.upper()[1:-1] if len(value) > 5 else value.upper()
            if needle in text:
                found.append(f"{where}: {value}")
    return found


def test_burned_in_identifiers_are_quarantined_and_reach_no_research_file(
    tmp_path: Path, orthanc: Orthanc, url: str
) -> None:
    burned, _, planted, ran, config = _run(tmp_path, orthanc, url, "quarantine")
    studies, entries = _states(url)
    by_state = sorted(s.state for s in studies.values())
    assert by_state == [StudyState.CACHED, StudyState.QUARANTINED], (
        by_state
    )  # the clean one goes on
    (entry,) = [e for e in entries if e.stage == "burned-in text"]
    assert "patient name" in entry.reason and "top-left" in entry.reason, entry.reason
    log = ran.stdout + ran.stderr
    for value in planted:  # the reason names kinds and regions, never the text
        assert value.upper() not in entry.reason.upper()
        assert value.upper() not in log.upper()
    reader = TextReader()
    original = next(ds for ds in burned.datasets if ds.Modality in ("CR", "DX"))
    seen = _read_whole(reader, decode_pixels(original).full_range)
    assert len(_leaks({"original": seen}, planted)) >= 3, seen  # the check can see them
    texts = _research_side_texts(tmp_path / "data", reader)
    assert texts, "the clean study's images are on the research side"
    assert not _leaks(texts, planted), _leaks(texts, planted)
    audit = pacslabel(config, "audit-phi")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "images screened for burned-in text" in audit.stdout
    # a leak planted afterwards: the burned pixels in a de-identified file of the clean study
    target = next((tmp_path / "data" / "dicom").rglob("*.dcm"))
    ds = dcmread(target)
    burned_ds = next(d for d in burned.datasets if d.Modality in ("CR", "DX"))
    ds.Rows, ds.Columns = burned_ds.Rows, burned_ds.Columns
    ds.PixelData = burned_ds.PixelData
    ds.save_as(target)
    audit = pacslabel(config, "audit-phi", "--sample", "50")
    assert audit.returncode == ExitCode.IDENTIFIERS_FOUND, audit.stdout + audit.stderr
    assert f"pixels of {target.relative_to(tmp_path / 'data')}" in audit.stdout, audit.stdout
    assert all(value.upper() not in audit.stdout.upper() for value in planted)


def test_mask_blanks_the_text_and_keeps_the_study(
    tmp_path: Path, orthanc: Orthanc, url: str
) -> None:
    _, _, planted, _, _ = _run(tmp_path, orthanc, url, "mask")
    studies, entries = _states(url)
    assert sorted(s.state for s in studies.values()) == [StudyState.CACHED, StudyState.CACHED]
    assert not [e for e in entries if e.stage == "burned-in text"]
    data = tmp_path / "data"
    masked = [
        p
        for p in (data / "dicom").rglob("*.dcm")
        if "113101" in str(dcmread(p).get("DeidentificationMethodCodeSequence", ""))
    ]
    assert len(masked) >= 2, "both views of the burned-in study carry the Clean Pixel Data Option"
    texts = _research_side_texts(data, TextReader())
    assert not _leaks(texts, planted), _leaks(texts, planted)
