"""Hostile lumbar spine studies: what twenty years of vendors' mistakes and an attacker put
in a PACS, written by hand for issue 13 (none of the simulated hospital's code is used).

Each kind is one study — an AP and a lateral DX image and a Basic Text SR report — of
which one or more files are broken in one way: the structure of the file (truncated,
wrong lengths, bogus VRs, 4 GB lengths, random bytes, sequences nested 500 deep),
resources (a deflate bomb, a JPEG 2000 header claiming 40000 × 40000), the pixel
module (truncated, inconsistent bits, zero rows, several frames, burned-in text),
values (invalid DA/DS/IS, multi-valued StudyDate, InstanceNumber and UIDs, strings
longer than any column, SQL metacharacters, NUL and control characters, 10,000-character
names, unknown character sets, path-traversal UIDs, future and unparseable dates), the
report (corrupt PDF, none, empty, 300,000 characters) and identity (one SOP Instance UID
in two studies, or twice in one study with other content).

Files are written with pydicom's writers, and byte by byte where pydicom refuses
(:func:`_element`). Each :class:`Hostile` says what must become of its study:

``held``
    it never reaches the corpus: it ends quarantined, failed, waiting (for a report or a
    view) or refused, always with a reason; never an exception that stops the pass.
``reported``
    the broken values are normalised or dropped, and the study goes through the loop
    like any other (its prediction SR stored back).
"""

from __future__ import annotations

import io
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import PIL.Image
from pydicom import config, dcmread, dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_fragmented_frames
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import (
    BasicTextSRStorage,
    DeflatedExplicitVRLittleEndian,
    DigitalXRayImageStorageForPresentation,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
)

ROOT = "1.2.826.0.1.3680043.10.1138"
Outcome = Literal["held", "reported"]


@dataclass(frozen=True)
class Hostile:
    """One hostile study: its files (name → bytes of a DICOM file) and what must become
    of it."""

    kind: str
    study_uid: str
    files: dict[str, bytes]
    expect: Outcome
    what: str


# --- a valid study, written by hand --------------------------------------------------------

_FINDINGS = [
    "Lieve scoliosi sinistro convessa. Riduzione dello spazio intersomatico L4-L5.",
    "Osteofitosi marginale dei somi lombari. Sclerosi delle faccette articolari L5-S1.",
    "Mezzi di sintesi transpeduncolari L4-S1 in sede. Non fratture.",
    "Anterolistesi di I grado di L4 su L5. Ridotta la lordosi lombare.",
    "Rachide lombare nei limiti. Non alterazioni di rilievo.",
    "Frattura da compressione del soma di L1. Osteoporosi diffusa.",
]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _common(ds: Dataset, index: int, sop_class: str, sop_uid: str) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = f"OSTILE^PAZIENTE{index:03d}"
    ds.PatientID = f"HOST{index:05d}"
    ds.PatientBirthDate = f"19{40 + index % 50:02d}0{1 + index % 9}15"
    ds.PatientSex = "MF"[index % 2]
    ds.PatientAge = f"0{40 + index % 50}Y"
    ds.StudyInstanceUID = f"{ROOT}.1.{index}"
    ds.StudyDate = f"2024{1 + index // 28 % 12:02d}{1 + index % 28:02d}"
    ds.StudyTime = "093000"
    ds.AccessionNumber = f"H24-{index:05d}"
    ds.StudyID = f"S{index}"
    ds.ReferringPhysicianName = "MEDICO^CURANTE"
    ds.StudyDescription = "RX RACHIDE LOMBOSACRALE 2P"
    ds.Manufacturer = "Acme Radiografia"
    ds.InstitutionName = "Ospedale Immaginario"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid


def _image(index: int, view: str) -> Dataset:
    number = 1 if view == "AP" else 2
    ds = Dataset()
    _common(ds, index, DigitalXRayImageStorageForPresentation, f"{ROOT}.3.{index}.{number}")
    ds.Modality = "DX"
    ds.SeriesInstanceUID = f"{ROOT}.2.{index}.{number}"
    ds.SeriesNumber = number
    ds.InstanceNumber = 1
    ds.SeriesDescription = f"LOMBARE {view} ORTOSTATISMO"
    ds.BodyPartExamined = "LSPINE"
    ds.ViewPosition = "AP" if view == "AP" else "LL"
    ds.PatientOrientation = ["L", "F"] if view == "AP" else ["A", "F"]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ContentDate, ds.ContentTime = ds.StudyDate, "093500"
    ds.BurnedInAnnotation = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = 96, 64
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [0.5, 0.5]
    ds.ImagerPixelSpacing = [0.5, 0.5]
    rng = np.random.default_rng(index * 2 + number)
    body = np.linspace(500, 3500, 96, dtype=np.float64)[:, None] + rng.normal(0, 80, (96, 64))
    spine = (np.abs(np.arange(64) - 32) < (9 if view == "AP" else 13)) * 400.0
    ds.PixelData = np.clip(body + spine, 0, 4095).astype(np.uint16).tobytes()
    return ds


def _report(index: int, text: str | None = None) -> Dataset:
    ds = Dataset()
    _common(ds, index, BasicTextSRStorage, f"{ROOT}.3.{index}.9")
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.Modality = "SR"
    ds.SeriesInstanceUID = f"{ROOT}.2.{index}.9"
    ds.SeriesNumber = 9
    ds.InstanceNumber = 1
    ds.SeriesDescription = "REFERTO"
    ds.ContentDate, ds.ContentTime = ds.StudyDate, "110000"
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = "RADIOLOGO^REFERTANTE"
    observer.VerifyingOrganization = "Ospedale Immaginario"
    observer.VerificationDateTime = f"{ds.StudyDate}110000"
    observer.VerifyingObserverIdentificationCodeSequence = Sequence()
    ds.VerifyingObserverSequence = Sequence([observer])
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.PerformedProcedureCodeSequence = Sequence()
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    item.TextValue = (
        text
        if text is not None
        else "RX rachide lombosacrale in due proiezioni. " + _FINDINGS[index % len(_FINDINGS)]
    )
    ds.ContentSequence = Sequence([item])
    return ds


def _study(index: int) -> list[Dataset]:
    return [_image(index, "AP"), _image(index, "LAT"), _report(index)]


# --- writing ------------------------------------------------------------------------------


def _encode(ds: Dataset) -> bytes:
    """``ds`` as a DICOM file, written whatever its values (validation off)."""
    out = io.BytesIO()
    with config.disable_value_validation():
        dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def _meta(sop_class: str, sop_uid: str, syntax: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = f"{ROOT}.99"
    buffer = DicomBytesIO()
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + buffer.getvalue()


_LONG_VRS = {
    b"OB",
    b"OW",
    b"OF",
    b"OD",
    b"OL",
    b"OV",
    b"SQ",
    b"UT",
    b"UN",
    b"UC",
    b"UR",
    b"SV",
    b"UV",
}


def _element(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    """One explicit VR little endian element, byte by byte (any VR, any length field)."""
    size = len(value) if length is None else length
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, size) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, size) + value


def _at(data: bytes, tag: int) -> int:
    """Where the element ``tag`` starts in an explicit VR little endian file."""
    position = data.find(struct.pack("<HH", tag >> 16, tag & 0xFFFF), 132)
    if position < 0:
        raise LookupError(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) is not in the file")
    return position


def _insert(data: bytes, before: int, raw: bytes) -> bytes:
    """``raw`` inserted before the element ``before`` (keeping tag order)."""
    position = _at(data, before)
    return data[:position] + raw + data[position:]


# --- the kinds ----------------------------------------------------------------------------

Files = list[bytes]
_STUDY_DESCRIPTION, _PIXEL_DATA, _SERIES_DESCRIPTION = 0x00081030, 0x7FE00010, 0x0008103E
_PRIVATE_CREATOR, _PRIVATE_VALUE = 0x00290010, 0x00291010


def _files(study: list[Dataset]) -> Files:
    return [_encode(ds) for ds in study]


def _truncated_header(index: int) -> Files:
    files = _files(_study(index))
    files[0] = files[0][: _at(files[0], _SERIES_DESCRIPTION) + 5]
    return files


def _truncated_pixels(index: int) -> Files:
    files = _files(_study(index))
    files[0] = files[0][: len(files[0]) - 4000]
    return files


def _sequence_wrong_length(index: int) -> Files:
    files = _files(_study(index))
    item = _element(0x00080100, b"SH", b"X1") + _element(0x00080102, b"SH", b"99")
    sequence = _element(0x00081032, b"SQ", struct.pack("<HHI", 0xFFFE, 0xE000, 5000) + item)
    files[0] = _insert(files[0], _SERIES_DESCRIPTION, sequence)
    return files


def _bogus_vr(index: int) -> Files:
    files = _files(_study(index))
    files[0] = _insert(files[0], _SERIES_DESCRIPTION, _element(0x00081040, b"ZZ", b"REPARTO "))
    return files


def _four_gb_length(index: int) -> Files:
    files = _files(_study(index))
    raw = _element(_PRIVATE_CREATOR, b"LO", b"ACME 1.0") + _element(
        _PRIVATE_VALUE, b"OB", b"\1\2\3\4", length=0xFFFFFFF0
    )
    files[0] = _insert(files[0], _PIXEL_DATA, raw)
    return files


def _random_bytes(index: int) -> Files:
    files = _files(_study(index))
    noise = random.Random(index).randbytes(20_000)
    files[0] = (
        _meta(DigitalXRayImageStorageForPresentation, f"{ROOT}.3.{index}.1", ExplicitVRLittleEndian)
        + noise
    )
    return files


def _without(keyword: str, value: str | None = None) -> Callable[[int], Files]:
    def make(index: int) -> Files:
        study = _study(index)
        if value is None:
            del study[0][keyword]
        else:
            setattr(study[0], keyword, value)
        return _files(study)

    return make


def _nested(depth: int) -> Callable[[int], Files]:
    def make(index: int) -> Files:
        files = _files(_study(index))
        inner = _element(0x00080100, b"SH", b"X1")
        for _ in range(depth):
            item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner
            item += struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
            inner = _element(0x0040A730, b"SQ", item, length=0xFFFFFFFF)
            inner += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        files[0] = _insert(files[0], _PIXEL_DATA, inner)
        return files

    return make


def _deflate_bomb(index: int) -> Files:
    """A deflated AP whose data set inflates past 1 GB: a private OB of zeros."""
    study = _study(index)
    plain = _files(study)[0]
    start = plain.index(b"DICM") + 4
    body = plain[start:]
    meta_end = _at(plain, 0x00080005) - start  # the data set starts at its first element
    dataset = body[meta_end:]
    zeros = 1024 * 1024 * 1024 + 4096
    payload = _element(_PRIVATE_CREATOR, b"LO", b"ACME 1.0") + _element(
        _PRIVATE_VALUE, b"OB", b"", length=zeros
    )
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    position = _at(plain, _PIXEL_DATA) - start - meta_end
    out = compressor.compress(dataset[:position] + payload)
    block = bytes(16 * 1024 * 1024)
    for _ in range(zeros // len(block)):
        out += compressor.compress(block)
    out += compressor.compress(bytes(zeros % len(block)) + dataset[position:])
    out += compressor.flush()
    head = _meta(
        DigitalXRayImageStorageForPresentation,
        f"{ROOT}.3.{index}.1",
        DeflatedExplicitVRLittleEndian,
    )
    files = _files(study)
    files[0] = head + out
    return files


def _siz(rows: int, columns: int) -> bytes:
    """A JPEG 2000 codestream start: SOC, then a SIZ for one 16-bit component."""
    siz = struct.pack(">HIIIIIIIIH", 0, columns, rows, 0, 0, columns, rows, 0, 0, 1)
    siz += struct.pack(">BBB", 15, 1, 1)
    return b"\xff\x4f\xff\x51" + struct.pack(">H", len(siz) + 2) + siz


def _j2k_image(index: int, codestream: bytes, rows: int, columns: int) -> bytes:
    ds = _image(index, "AP")
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.Rows, ds.Columns = rows, columns
    ds.BitsStored, ds.HighBit = 16, 15
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    return _encode(ds)


def _j2k_huge(mismatch: bool) -> Callable[[int], Files]:
    def make(index: int) -> Files:
        files = _files(_study(index))
        codestream = _siz(40000, 40000) + b"\xff\x52" + bytes(4000) + b"\xff\xd9"
        files[0] = _j2k_image(index, codestream, *((96, 64) if mismatch else (40000, 40000)))
        return files

    return make


def _corrupt_j2k(index: int) -> Files:
    study = _study(index)
    study[0].compress(JPEG2000Lossless)
    codestream = bytearray(next(iter(_fragments(study[0]))))
    rng = random.Random(index)
    tile_part = codestream.find(b"\xff\x90")
    codestream[tile_part + 6 : tile_part + 10] = rng.randbytes(4)  # its length (Psot)
    for position in range(tile_part + 14, len(codestream) - 2, 7):
        codestream[position] = rng.randrange(256)
    files = _files(study)
    files[0] = _j2k_image(index, bytes(codestream), 96, 64)
    return files


def _fragments(ds: Dataset) -> list[bytes]:
    return [b"".join(frame) for frame in generate_fragmented_frames(ds.PixelData)]


def _jpeg_size_mismatch(index: int) -> Files:
    study = _study(index)
    ds = study[0]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    jpeg = io.BytesIO()
    PIL.Image.fromarray(np.full((96, 64), 120, np.uint8)).save(jpeg, "JPEG", quality=90)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([jpeg.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    ds.Rows = 200  # the header says 200 rows, the JPEG frame header 96
    return _files(study)


def _syntax_mismatch(index: int) -> Files:
    files = _files(_study(index))
    data = files[0][_at(files[0], 0x00080005) :]  # the data set, native pixel data
    sop_class, sop_uid = DigitalXRayImageStorageForPresentation, f"{ROOT}.3.{index}.1"
    files[0] = _meta(sop_class, sop_uid, JPEGBaseline8Bit) + data
    return files


def _changed(**values: object) -> Callable[[int], Files]:
    """The AP with attributes set to ``values`` (``None`` deletes)."""

    def make(index: int) -> Files:
        study = _study(index)
        for keyword, value in values.items():
            if value is None:
                del study[0][keyword]
            else:
                setattr(study[0], keyword, value)
        return _files(study)

    return make


def _every_file(**values: object) -> Callable[[int], Files]:
    """Every instance of the study with attributes set to ``values``."""

    def make(index: int) -> Files:
        study = _study(index)
        for ds in study:
            for keyword, value in values.items():
                setattr(ds, keyword, value)
        return _files(study)

    return make


def _raw_value(tag: int, vr: bytes, value: bytes) -> Callable[[int], Files]:
    """Every instance with element ``tag`` replaced, byte for byte, by ``value``."""

    def make(index: int) -> Files:
        files = []
        for ds in _study(index):
            data = _encode(ds)
            if tag not in ds:
                files.append(data)
                continue
            position = _at(data, tag)
            (old,) = struct.unpack_from("<H", data, position + 6)
            files.append(data[:position] + _element(tag, vr, value) + data[position + 8 + old :])
        return files

    return make


def _truncated_pixel_bits(index: int) -> Files:
    study = _study(index)
    study[0].BitsAllocated, study[0].BitsStored, study[0].HighBit = 8, 16, 15
    return _files(study)


def _pixels(ds: Dataset, array: np.ndarray, photometric: str, samples: int) -> None:
    ds.Rows, ds.Columns = array.shape[0], array.shape[1]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = samples, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.PixelData = array.astype(np.uint8).tobytes()


def _burned_in(rgb: bool) -> Callable[[int], Files]:
    def make(index: int) -> Files:
        study = _study(index)
        if rgb:
            _pixels(study[0], np.full((96, 64, 3), 90), "RGB", 3)
        else:
            _pixels(study[0], np.full((96, 64), 90), "MONOCHROME2", 1)
        study[0].BurnedInAnnotation = "YES"
        return _files(study)

    return make


def _multi_frame(index: int) -> Files:
    study = _study(index)
    study[0].NumberOfFrames = 3
    study[0].PixelData = study[0].PixelData * 3
    return _files(study)


def _corrupt_pdf(index: int) -> Files:
    study = _study(index)
    pdf = Dataset()
    _common(pdf, index, EncapsulatedPDFStorage, f"{ROOT}.3.{index}.9")
    pdf.Modality = "DOC"
    pdf.SeriesInstanceUID = f"{ROOT}.2.{index}.9"
    pdf.SeriesNumber, pdf.InstanceNumber = 9, 1
    pdf.DocumentTitle = "REFERTO RX RACHIDE"
    pdf.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    pdf.MIMETypeOfEncapsulatedDocument = "application/pdf"
    pdf.BurnedInAnnotation = "YES"
    junk = b"%PDF-1.4\n" + random.Random(index).randbytes(3000) + b"\n%%EOF"
    pdf.EncapsulatedDocument = junk + (b"\0" if len(junk) % 2 else b"")
    study[2] = pdf
    return _files(study)


def _report_text(text: str) -> Callable[[int], Files]:
    def make(index: int) -> Files:
        study = _study(index)
        study[2] = _report(index, text)
        return _files(study)

    return make


def _no_report(index: int) -> Files:
    return _files(_study(index)[:2])


def _multi_valued(keyword: str, values: list[str]) -> Callable[[int], Files]:
    def make(index: int) -> Files:
        study = _study(index)
        for ds in study:
            setattr(ds, keyword, values)
        return _files(study)

    return make


def _multi_valued_series(index: int) -> Files:
    study = _study(index)
    study[0].SeriesInstanceUID = [f"{ROOT}.2.{index}.1", f"{ROOT}.2.{index}.7"]
    return _files(study)


def _same_sop_twice(index: int) -> Files:
    """The lateral reuses the AP's SOP Instance UID (other series, other pixels)."""
    study = _study(index)
    study[1].SOPInstanceUID = study[0].SOPInstanceUID
    study[1].file_meta.MediaStorageSOPInstanceUID = study[0].SOPInstanceUID
    return _files(study)


def _sop_of_another_study(index: int) -> Files:
    """The AP reuses the SOP Instance UID of study 0's AP (another study, other pixels)."""
    study = _study(index)
    study[0].SOPInstanceUID = f"{ROOT}.3.0.1"
    study[0].file_meta.MediaStorageSOPInstanceUID = f"{ROOT}.3.0.1"
    return _files(study)


def _path_traversal(index: int) -> Files:
    study = _study(index)
    for ds in study:
        ds.StudyInstanceUID = f"{ROOT}.1.{index}/../../../../tmp/pwned"
    return _files(study)


_SQL = "x'); DROP TABLE studies; -- \" OR 1=1 /* ; DELETE FROM reports"
_CONTROL = "RX\x1b[31m LOMBARE\x07\x08 RACHIDE\x7f\x1b]0;pwned\x07"
_LONG = "RACHIDE LOMBARE " * 700

#: kind → (how its files are made, what must become of the study, what it is).
KINDS: dict[str, tuple[Callable[[int], Files], Outcome, str]] = {
    "truncated-header": (_truncated_header, "held", "AP cut off in the middle of its header"),
    "truncated-pixels": (_truncated_pixels, "held", "AP pixel data 4000 bytes short"),
    "sequence-wrong-length": (
        _sequence_wrong_length,
        "held",
        "a sequence item whose length runs past the sequence",
    ),
    "bogus-vr": (_bogus_vr, "held", "an element with the VR 'ZZ'"),
    "length-4gb": (_four_gb_length, "held", "a private element claiming 0xFFFFFFF0 bytes"),
    "random-bytes": (_random_bytes, "held", "a valid file meta header, then random bytes"),
    "missing-study-uid": (_without("StudyInstanceUID"), "held", "AP without a Study UID"),
    "empty-study-uid": (_without("StudyInstanceUID", ""), "held", "AP with an empty Study UID"),
    "missing-sop-uid": (_without("SOPInstanceUID"), "held", "AP without a SOP Instance UID"),
    "nested-500": (_nested(500), "held", "sequences nested 500 deep"),
    "nested-40": (_nested(40), "held", "sequences nested 40 deep"),
    "deflate-bomb": (_deflate_bomb, "held", "a deflated AP inflating to 1 GB"),
    "j2k-40000": (_j2k_huge(False), "held", "JPEG 2000, 40000 × 40000 in header and codestream"),
    "j2k-40000-mismatch": (
        _j2k_huge(True),
        "held",
        "JPEG 2000 codestream claiming 40000 × 40000 for a 96 × 64 image",
    ),
    "j2k-corrupt": (
        _corrupt_j2k,
        "held",
        "a JPEG 2000 codestream with its tile-part length and every 7th byte scrambled",
    ),
    "jpeg-size-mismatch": (_jpeg_size_mismatch, "held", "JPEG frame 96 rows, header 200"),
    "syntax-mismatch": (_syntax_mismatch, "held", "JPEG transfer syntax, native pixel data"),
    "bits-inconsistent": (_truncated_pixel_bits, "held", "BitsStored 16 > BitsAllocated 8"),
    "bits-zero": (_changed(BitsAllocated=0), "held", "BitsAllocated 0"),
    "zero-rows": (_changed(Rows=0), "held", "Rows 0"),
    "no-pixel-data": (_changed(PixelData=None), "held", "an AP without pixel data"),
    "photometric-unknown": (
        _changed(PhotometricInterpretation="PURPLE"),
        "held",
        "PhotometricInterpretation 'PURPLE'",
    ),
    "multi-frame": (_multi_frame, "held", "an AP of three frames"),
    "burned-in-rgb": (_burned_in(True), "held", "RGB AP, BurnedInAnnotation YES"),
    "burned-in-grey": (_burned_in(False), "held", "grey AP, BurnedInAnnotation YES"),
    "corrupt-pdf": (_corrupt_pdf, "held", "the report an encapsulated PDF of random bytes"),
    "no-report": (_no_report, "held", "no report at all"),
    "empty-report": (_report_text(""), "held", "a report SR with an empty text"),
    "huge-report": (
        _report_text("Riduzione dello spazio intersomatico L4-L5. " * 7000),
        "held",
        "a report of 300,000 characters",
    ),
    "multi-valued-series-uid": (_multi_valued_series, "held", "AP with two Series UIDs"),
    "path-traversal-uid": (_path_traversal, "held", "Study UID '…/../../tmp/pwned'"),
    "same-sop-twice": (_same_sop_twice, "held", "AP and lateral with one SOP Instance UID"),
    "sop-of-another-study": (
        _sop_of_another_study,
        "held",
        "AP with the SOP Instance UID of another study's AP",
    ),
    "invalid-da": (
        _raw_value(0x00080020, b"DA", b"2024-13-45"),
        "held",  # issue 18: a study the PACS dates with no date is quarantined at discovery
        "StudyDate '2024-13-45'",
    ),
    "unparseable-date": (
        _raw_value(0x00080020, b"DA", b"ieri    "),
        "held",
        "StudyDate 'ieri'",
    ),
    "future-date": (_every_file(StudyDate="29991231"), "held", "StudyDate 29991231"),
    "unparseable-time": (
        _raw_value(0x00080030, b"TM", b"25:61:99"),
        "reported",
        "StudyTime '25:61:99'",
    ),
    "invalid-ds": (
        _raw_value(0x00280030, b"DS", b"abc\\def "),
        "reported",
        "PixelSpacing 'abc\\def'",
    ),
    "invalid-is": (_raw_value(0x00200013, b"IS", b"x1"), "reported", "InstanceNumber 'x1'"),
    "multi-valued-study-date": (
        _multi_valued("StudyDate", ["20240105", "20240106"]),
        "held",
        "two StudyDates",
    ),
    "multi-valued-instance-number": (
        _multi_valued("InstanceNumber", ["1", "2", "3"]),
        "reported",
        "three InstanceNumbers",
    ),
    "overlong-strings": (
        _every_file(
            StudyDescription="RX RACHIDE LOMBOSACRALE " + "X" * 176,
            Manufacturer=_LONG[:3000],
            InstitutionName=_LONG,
            ProtocolName=_LONG,
        ),
        "reported",
        "a 200-character StudyDescription, others of 3,000 and 11,200 characters",
    ),
    "sql-strings": (
        _every_file(StudyDescription="RX RACHIDE " + _SQL, Manufacturer=_SQL),
        "reported",
        "SQL metacharacters in strings",
    ),
    "nul-strings": (
        _raw_value(_STUDY_DESCRIPTION, b"LO", b"RX RACHIDE\x00LOMBARE\x00\x00 "),
        "reported",
        "NUL characters in StudyDescription",
    ),
    "control-chars": (
        _every_file(StudyDescription=_CONTROL, SeriesDescription=_CONTROL),
        "reported",
        "terminal escapes and control characters",
    ),
    "names-10k": (
        _every_file(PatientName="A" * 5000 + "^" + "B" * 5000),
        "held",  # issue 18: its SR would be invalid DICOM: quarantined at write-back
        "a PatientName of 10,001 characters",
    ),
    "charset-unknown": (
        _every_file(SpecificCharacterSet="ISO_IR 999"),
        "reported",
        "SpecificCharacterSet 'ISO_IR 999'",
    ),
    "charset-invalid-bytes": (
        _raw_value(0x00100010, b"PN", "ÀÈÌÒÙ^ÇÑ".encode("latin-1")),
        "reported",
        "PatientName in Latin-1 bytes, also in the report that declares UTF-8",
    ),
    "age-sex-garbage": (
        _every_file(PatientAge="999Y", PatientSex="UNKNOWN"),
        "reported",
        "PatientAge 999Y, PatientSex UNKNOWN",
    ),
    "report-control-chars": (
        _report_text("Scoliosi\x00 lombare.\x1b[2J Riduzione\x07 dello spazio L4-L5."),
        "reported",
        "NUL and escapes in the report text",
    ),
}


def _study_uid(data: bytes) -> str:
    """The Study Instance UID the PACS files a study under (its last file is intact)."""
    return str(dcmread(io.BytesIO(data), specific_tags=["StudyInstanceUID"]).StudyInstanceUID)


def corpus(first_index: int = 1000) -> list[Hostile]:
    """One study of every kind, numbered from ``first_index``."""
    studies = []
    for offset, (kind, (make, expect, what)) in enumerate(KINDS.items()):
        index = first_index + offset
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns of every value broken on purpose
            files = make(index)
            study_uid = _study_uid(files[-1])
        names = ["ap", "lateral", "report"]
        studies.append(
            Hostile(
                kind,
                study_uid,
                {f"{kind}-{names[i]}.dcm": data for i, data in enumerate(files)},
                expect,
                what,
            )
        )
    return studies


def good_study(index: int) -> dict[str, bytes]:
    """A valid study of this file's hospital (``index`` below ``first_index``)."""
    return {f"good{index}-{n}.dcm": data for n, data in enumerate(_files(_study(index)))}
