"""Reading what nobody vouches for: lenient values, the structure walk, the limits."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import hostile
import numpy as np
import pytest
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian

from pacsbridge import (
    InvalidInstance,
    Limits,
    check_pixels,
    clean_string,
    lenient_age,
    lenient_date,
    lenient_int,
    lenient_sex,
    lenient_time,
    read_instance,
    single_uid,
)
from pacsbridge.limits import inflate, j2k_damage
from pacsbridge.structure import structure_damage


@pytest.mark.parametrize(
    ("raw", "date"),
    [
        ("20230314", "20230314"),
        ("2023.03.14", "20230314"),
        ("2023-03-14 ", "20230314"),
        (["20230314", "20230315"], "20230314"),
        ("2023-13-45", None),
        ("20230230", None),
        ("ieri", None),
        ("", None),
        (None, None),
    ],
)
def test_dates_are_read_leniently_or_not_at_all(raw: object, date: str | None) -> None:
    assert lenient_date(raw) == date


def test_times_numbers_ages_sexes_uids_and_strings() -> None:
    assert lenient_time("10:15:30") == "101530"
    assert lenient_time("1015") == "101500"
    assert lenient_time("101530.123") == "101530.123"
    assert lenient_time("25:61:99") is None
    assert lenient_int(" 12 ") == 12
    assert lenient_int(["3", "4"]) == 3
    assert lenient_int("x1") is None
    assert lenient_age("45Y") == "045Y"
    assert lenient_age("999Y") is None
    assert lenient_sex("f") == "F"
    assert lenient_sex("UNKNOWN") is None
    assert single_uid("1.2.840.10008.1.2") == "1.2.840.10008.1.2"
    assert single_uid(["1.2", "1.3"]) is None
    assert single_uid("1.2.3/../../etc") is None
    assert single_uid("1." + "2" * 70) is None
    assert clean_string("RX\x00 LOMBARE\x1b[31m\n x", 12) == "RX LOMBARE ["


def _dataset_bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    data = out.getvalue()
    return data[data.index(b"\x08\x00\x05\x00") :]  # from SpecificCharacterSet on


def test_the_structure_walk_accepts_sound_data_and_names_what_is_broken() -> None:
    (image, _, report) = [hostile._study(7)[i] for i in range(3)]
    assert structure_damage(_dataset_bytes(image)) is None
    assert structure_damage(_dataset_bytes(report)) is None  # nested sequences
    sound = _dataset_bytes(image)
    assert "claims" in (structure_damage(sound[:-10]) or "")
    assert "cut off" in (structure_damage(sound[:5]) or "")
    assert structure_damage(sound + b"\0" * 6) is None  # trailing padding
    deep = hostile._nested(30)(7)[0]
    start = deep.index(b"\x08\x00\x05\x00")
    assert "nested deeper than 12" in (structure_damage(deep[start:]) or "")
    assert structure_damage(deep[start:], max_depth=40) is None
    many = b"".join(struct.pack("<HH2sH", 0x0009, 0x1000 + i % 255, b"SH", 0) for i in range(10))
    assert structure_damage(many) is None
    unclosed = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
    assert "never closed" in (structure_damage(unclosed) or "")
    stray = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    assert "closes nothing" in (structure_damage(stray) or "")


def test_a_compressed_image_is_checked_before_it_is_decoded() -> None:
    study = hostile._study(8)
    ds = study[0]
    ds.compress("1.2.840.10008.1.2.4.90")  # JPEG 2000 lossless
    check_pixels(ds, Limits(), "good")
    codestream = bytes(hostile._fragments(ds)[0])
    assert j2k_damage(codestream) is None
    assert "end-of-codestream" in (j2k_damage(codestream[:-2]) or "")
    broken = bytearray(codestream)
    sot = broken.index(b"\xff\x90")
    broken[sot + 6 : sot + 10] = b"\x7f\xff\xff\xff"
    assert "tile-part claims" in (j2k_damage(bytes(broken)) or "")
    ds.PixelData = encapsulate([bytes(broken)])
    with pytest.raises(InvalidInstance, match="JPEG 2000 codestream is damaged"):
        check_pixels(ds, Limits(), "broken")
    big = hostile._study(9)[0]
    big.Rows, big.Columns = 20000, 20000
    with pytest.raises(InvalidInstance, match=r"limits\.max_decoded_mb"):
        check_pixels(big, Limits(), "big")


def test_inflating_stops_at_the_limit() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = compressor.compress(bytes(64 * 1024 * 1024)) + compressor.flush()
    assert len(bomb) < 100_000
    with pytest.raises(InvalidInstance, match=r"limits\.max_inflated_mb"):
        inflate(bomb, 8 * 1024 * 1024, "bomb")
    assert len(inflate(bomb, 64 * 1024 * 1024, "fits")) == 64 * 1024 * 1024
    with pytest.raises(InvalidInstance, match="does not inflate"):
        inflate(b"not deflate data at all", 1024, "junk")


def test_read_instance_refuses_with_the_limit_named(tmp_path: Path) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = "1.2.3.4"
    ds.BitsAllocated = 8
    ds.PixelData = np.zeros(600_000, np.uint8).tobytes()
    path = tmp_path / "big.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(InvalidInstance, match=r"limits\.max_instance_mb"):
        read_instance(path, Limits(max_instance_bytes=500_000))
    assert read_instance(path).SOPInstanceUID == "1.2.3.4"
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(InvalidInstance):
        read_instance(tmp_path / "empty.dcm")
    for study in hostile.corpus():
        if study.kind == "deflate-bomb":
            bomb = tmp_path / "bomb.dcm"
            bomb.write_bytes(study.files["deflate-bomb-ap.dcm"])
            with pytest.raises(InvalidInstance, match=r"limits\.max_inflated_mb"):
                read_instance(bomb, Limits(max_inflated_bytes=16 * 1024 * 1024))
