"""The burned-in text screen: candidates, reading, judging, masking (on images drawn here)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from pacsbridge import (
    HARMLESS,
    Box,
    KnownIdentifier,
    OriginalIdentity,
    TextReader,
    blank_pixel_boxes,
    screen_image,
)
from pacsbridge.deid.burned_in import (
    OCRUnavailable,
    candidate_boxes,
    identifying_kinds,
    tessdata_dir,
)
from simhospital.dicom import generate_study

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _identity() -> list[tuple[KnownIdentifier, str]]:
    ds = Dataset()
    ds.PatientName = "ROSSETTI^MARIANGELA"
    ds.PatientID = "PZ4471902"
    ds.PatientBirthDate = "19561203"
    ds.AccessionNumber = "ACC77120455"
    ds.InstitutionName = "Ospedale Maggiore di Lodi"
    ds.ReferringPhysicianName = "BRAMBILLA^CARLO"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        setattr(ds, keyword, "1.2.3.4")
    return OriginalIdentity.from_dataset(ds).described()


def _radiograph(rows: int = 1400, cols: int = 1100) -> np.ndarray:
    """A grey field with a brighter column and grain (uint8, bright as displayed)."""
    rng = np.random.default_rng(7)
    image = np.full((rows, cols), 70.0)
    image[:, cols // 3 : 2 * cols // 3] = 150.0
    image[rows // 5 : rows // 5 + 200, cols // 2 - 120 : cols // 2 + 120] = 200.0
    return np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)


def _burn(
    image: np.ndarray, lines: list[str], xy: tuple[int, int], size: int, value: int = 255
) -> np.ndarray:
    pil = Image.fromarray(image.copy())
    pen = ImageDraw.Draw(pil)
    font = (
        ImageFont.truetype(FONT, size)
        if __import__("os").path.exists(FONT)
        else ImageFont.load_default(size=size)
    )
    for n, line in enumerate(lines):
        pen.text((xy[0], xy[1] + int(n * size * 1.3)), line, fill=value, font=font)
    return np.asarray(pil)


@pytest.fixture(scope="module")
def reader() -> TextReader:
    reader = TextReader()
    reader.check()
    return reader


def test_a_name_block_in_a_corner_is_found_and_named(reader: TextReader) -> None:
    image = _burn(_radiograph(), ["ROSSETTI MARIANGELA", "03/12/1956", "ACC77120455"], (30, 30), 36)
    screening = screen_image(image, _identity(), reader)
    kinds = {finding.kind for finding in screening.findings}
    assert {"patient name", "birth date", "accession number"} <= kinds, screening.reason()
    assert all(f.box.region(screening.shape) == "top-left" for f in screening.findings)
    reason = screening.reason()
    assert "ROSSETTI" not in reason.upper() and "1956" not in reason and "77120455" not in reason


def test_the_institution_strip_and_unknown_shapes_count(reader: TextReader) -> None:
    image = _burn(_radiograph(), ["OSPEDALE MAGGIORE DI LODI"], (200, 1320), 34)
    image = _burn(image, ["CF BNCGNN71C12F205X"], (600, 60), 30)
    kinds = {f.kind for f in screen_image(image, _identity(), reader).findings}
    assert "institution" in kinds
    assert kinds & {"codice fiscale", "identifier code"}, kinds  # read whole, or in part


def test_laterality_technique_and_a_ruler_are_not_identifiers(reader: TextReader) -> None:
    image = _burn(_radiograph(), ["L"], (60, 80), 90)
    image = _burn(image, ["AP ORTOSTATISMO"], (40, 1330), 30)
    image = _burn(image, ["85 kV 25 mAs"], (700, 1330), 30)
    pen = ImageDraw.Draw(pil := Image.fromarray(image))
    for k in range(20):  # a ruler: ticks and centimetre numbers
        pen.line([(1000, 300 + 30 * k), (1000 + (30 if k % 5 == 0 else 15), 300 + 30 * k)], 255, 3)
        if k % 5 == 0:
            pen.text((1040, 288 + 30 * k), str(k), fill=255, font=ImageFont.load_default(size=24))
    screening = screen_image(np.asarray(pil), _identity(), reader)
    assert not screening.identifying, screening.reason()


def test_a_clean_simulated_radiograph_has_no_identifying_text(reader: TextReader) -> None:
    from pacsbridge import decode_pixels

    study = generate_study(3, seed=4, scale=0.5, burned_in_rate=0.0)
    for ds in study.datasets:
        if "PixelData" in ds and ds.Modality in ("CR", "DX"):
            screening = screen_image(decode_pixels(ds).full_range, _identity(), reader)
            assert not screening.identifying, screening.reason()


def test_judging_allows_ocr_confusions_and_any_order() -> None:
    known = _identity()
    assert "patient name" in identifying_kinds([("MAR1ANGELA", 80.0), ("R0SSETTI", 75.0)], known)
    assert "patient ID" in identifying_kinds([("ID", 90.0), ("PZ447l902", 70.0)], known)
    assert "birth date" in identifying_kinds([("1956-12-03", 90.0)], known)
    assert identifying_kinds([("12.03.1961", 90.0)], known) == ["date"]
    assert identifying_kinds([("SX", 90.0), ("80", 90.0), ("kV", 90.0)], known) == []
    assert identifying_kinds([("PORTATILE", 90.0)], known) == ["unexplained text"]
    assert identifying_kinds([("PORTATILE", 90.0)], known, HARMLESS | {"portatile"}) == []
    assert identifying_kinds([("Ill", 95.0), ("ooo", 95.0)], known) == []  # ruler ticks, rings


def test_text_over_anatomy_and_dark_text_are_found(reader: TextReader) -> None:
    image = _burn(_radiograph(), ["BRAMBILLA"], (420, 300), 40, value=30)  # dark, over bone
    kinds = {f.kind for f in screen_image(image, _identity(), reader).findings}
    assert "referring physician" in kinds


def test_candidates_are_lines_in_full_size_pixels() -> None:
    image = _burn(_radiograph(2200, 1800), ["ROSSETTI MARIANGELA"], (50, 2100), 48)
    boxes = [c.box for c in candidate_boxes(image)]
    line = [b for b in boxes if b.top > 2000]
    assert line, boxes
    assert line[0].left <= 120 and line[0].right >= 400  # the whole line, not a letter


def test_blanking_boxes_of_a_dicom_image() -> None:
    study = generate_study(0, seed=3, scale=0.25, vendor_name="Agfa", burned_in_rate=0.0)
    ds = study.datasets[0]
    blank_pixel_boxes(ds, [(0, 0, 20, 30)], "x")
    pixels = ds.pixel_array
    fill = pixels.max() if ds.PhotometricInterpretation == "MONOCHROME1" else pixels.min()
    assert (pixels[:20, :30] == fill).all()
    assert ds.BurnedInAnnotation == "NO"
    box = Box(10, 10, 20, 10)
    assert box.padded(5, (25, 100)) == Box(5, 5, 30, 20)


def test_missing_language_data_is_said_clearly(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pacsbridge.deid.burned_in._TESSDATA", ())
    monkeypatch.delenv("TESSDATA_PREFIX", raising=False)
    with pytest.raises(OCRUnavailable, match="tesseract-ocr-ita"):
        tessdata_dir(None)
