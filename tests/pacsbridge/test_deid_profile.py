"""The PS3.15 E.1-1 profile over third-party files: pydicom's test files and highdicom objects."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import UID_dictionary

from pacsbridge import (
    DeidOptions,
    FindingCode,
    FindingResult,
    InvalidInstance,
    OriginalIdentity,
    Pseudonymiser,
    build_prediction_sr,
    deidentify,
    find_identifiers,
    load_profile,
)
from simhospital import generate_study

PSEUDONYMISER = Pseudonymiser(b"third-party-files-key")
OPTIONS = DeidOptions()
_SET_BY_US = {0x00100010, 0x00100020, 0x00100030}  # replaced by the pseudonym / emptied
_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def _pydicom_files() -> list[Path]:
    return sorted(p for p in _TEST_FILES.rglob("*") if p.is_file() and p.suffix in ("", ".dcm"))


def _readable(path: Path) -> Dataset | None:
    try:
        with warnings.catch_warnings():  # some of pydicom's files are odd on purpose
            warnings.simplefilter("ignore")
            ds = dcmread(path)
            ds.get("SOPInstanceUID")
    except (InvalidDicomError, OSError, ValueError, AttributeError, KeyError, EOFError):
        return None
    return ds if "SOPInstanceUID" in ds and "DirectoryRecordSequence" not in ds else None


def _shifted(value: str, vr: str, days: int) -> str:
    day = dt.datetime.strptime(value[:8], "%Y%m%d").date() - dt.timedelta(days=days)
    return day.strftime("%Y%m%d") + (value[8:] if vr == "DT" else "")


def _expected_uid(value: str) -> str:
    return value if value in UID_dictionary else PSEUDONYMISER.uid(value)


def _check(original: Dataset, out: Dataset, shift: int, identity: OriginalIdentity) -> int:
    """Assert every attribute of ``original`` was acted on as the profile says; returns
    how many attributes were checked."""
    profile = load_profile()
    checked = 0
    for elem in original:
        tag = int(elem.tag)
        if tag in _SET_BY_US:
            continue  # checked below: the pseudonym, or empty
        group = elem.tag.group
        if elem.tag.is_private or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            assert elem.tag not in out, f"{elem.tag} should be gone"
            continue
        action = profile.action(tag, OPTIONS)
        if action is None:
            continue
        checked += 1
        name = elem.keyword or str(elem.tag)
        if action == "X":
            assert elem.tag not in out, f"{name}: X but still there"
            continue
        assert elem.tag in out, f"{name}: {action} but removed"
        new = out[elem.tag]
        if elem.VR == "SQ":
            if action == "Z":
                assert len(new.value) == 0, f"{name}: Z but not emptied"
            else:
                assert len(new.value) == len(elem.value), name
                for before, after in zip(elem.value, new.value, strict=True):
                    checked += _check(before, after, shift, identity)
            continue
        if action == "Z":
            assert new.value in ("", None, []), f"{name}: Z but {new.value!r}"
        elif action in ("U", "U*") or (action in ("D", "K") and elem.VR == "UI"):
            values = elem.value if elem.VM > 1 else [elem.value]
            expected = [_expected_uid(str(v)) for v in values if v]
            got = new.value if new.VM > 1 else [new.value]
            assert [str(v) for v in got if v] == expected, f"{name}: UID not remapped"
        elif action == "D" and elem.value not in ("", None):
            assert new.value != elem.value or str(elem.value).startswith("DEIDENTIFIED"), name
        elif action == "K":  # kept, unless it named someone the header knows (then cleaned)
            named = find_identifiers(str(elem.value), identity.known())
            assert new.value == elem.value or named, f"{name}: K but changed"
        elif action == "C" and elem.VR in ("DA", "DT") and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            shifted = [_shifted(str(v), elem.VR, shift) for v in values]
            got = new.value if new.VM > 1 else [new.value]
            assert [str(v) for v in got] == shifted, f"{name}: C but not shifted"
        elif action == "C":
            assert not find_identifiers(str(new.value), identity.known()), name
    return checked


def _third_party() -> Iterator[tuple[str, Dataset]]:
    for path in _pydicom_files():
        ds = _readable(path)
        if ds is not None:
            yield f"pydicom/{path.name}", ds


THIRD_PARTY = list(_third_party())


def test_the_profile_is_the_whole_table() -> None:
    profile = load_profile()
    assert len(profile.rows) + len(profile.repeating) == 460
    assert profile.action(0x00100010, OPTIONS) == "Z"  # Patient's Name
    assert profile.action(0x0020000D, OPTIONS) == "U"  # Study Instance UID
    assert profile.action(0x00080080, OPTIONS) == "Z"  # Institution Name: X/Z/D
    assert profile.action(0x00080021, OPTIONS) == "C"  # Series Date, modified dates option
    assert profile.action(0x00080021, DeidOptions(retain_longitudinal_modified_dates=False)) == "D"
    assert profile.action(0x00101010, OPTIONS) == "K"  # Patient's Age, characteristics option
    assert profile.action(0x00081010, OPTIONS) == "Z"  # Station Name without device identity
    assert profile.action(0x00081010, DeidOptions(retain_device_identity=True)) == "K"
    assert profile.action(0x60003000, OPTIONS) == "X"  # Overlay Data, repeating group
    assert profile.action(0x00091010, OPTIONS) == "X"  # private


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on the odd values of its files
@pytest.mark.parametrize(("name", "ds"), THIRD_PARTY, ids=[n for n, _ in THIRD_PARTY])
def test_pydicom_test_files(name: str, ds: Dataset) -> None:
    missing = [k for k in ("StudyInstanceUID", "SeriesInstanceUID") if not ds.get(k)]
    burned = (
        str(ds.get("BurnedInAnnotation", "")).upper() == "YES"
        or str(ds.SOPClassUID) in OPTIONS.burned_in_sop_classes
    )
    if missing or burned:
        with pytest.raises(InvalidInstance, match=r"missing|burned-in"):
            deidentify(ds, PSEUDONYMISER)
        return
    result = deidentify(ds, PSEUDONYMISER)
    out = result.dataset
    assert _check(ds, out, result.date_shift_days, result.original) > 0
    assert not any(elem.tag.is_private for elem in out.iterall()), "a private tag survived"
    if "PixelData" in ds:
        assert out.PixelData == ds.PixelData, "pixel data changed"
    assert out.PatientIdentityRemoved == "YES"
    assert (
        out.PatientID == out.PatientName == PSEUDONYMISER.patient_id(str(ds.get("PatientID", "")))
    )
    assert out.PatientBirthDate == ""


def test_many_third_party_files_were_exercised() -> None:
    assert len(THIRD_PARTY) >= 60
    modalities = {str(ds.get("Modality", "")) for _, ds in THIRD_PARTY}
    assert {"CT", "MR", "OT", "RTDOSE", "RTPLAN", "SR"} <= modalities
    syntaxes = {
        str(ds.file_meta.TransferSyntaxUID)
        for _, ds in THIRD_PARTY
        if getattr(ds, "file_meta", None) and "TransferSyntaxUID" in ds.file_meta
    }
    assert len(syntaxes) >= 8


def _highdicom_objects() -> list[tuple[str, Dataset, Dataset]]:
    study = generate_study(0, seed=41, scale=0.1)
    by_uid = {ds.SOPInstanceUID: ds for ds in study.datasets}
    ap, lateral = by_uid[study.ap_sop_instance_uid], by_uid[study.lateral_sop_instance_uid]
    code = FindingCode("fractures", "99PACSLABEL", "VERTFX", "Vertebral fracture", "Fractures")
    sr = build_prediction_sr(
        [OriginalIdentity.from_dataset(ap), OriginalIdentity.from_dataset(lateral)],
        [FindingResult(code, 0.4, False)],
        algorithm_name="x",
        algorithm_version="1",
    )
    kos = hd.ko.KeyObjectSelectionDocument(
        evidence=[ap, lateral],
        content=hd.ko.KeyObjectSelection(
            document_title=codes.DCM.Manifest, referenced_objects=[ap, lateral]
        ),
        series_instance_uid=hd.UID(),
        series_number=3,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
    )
    return [("highdicom Comprehensive 3D SR", sr, ap), ("highdicom KOS", kos, ap)]


@pytest.mark.parametrize("index", range(2))
def test_highdicom_objects_keep_their_references(index: int) -> None:
    name, document, image = _highdicom_objects()[index]
    result = deidentify(document, PSEUDONYMISER)
    out = result.dataset
    assert _check(document, out, result.date_shift_days, result.original) > 0, name
    image_out = deidentify(image, PSEUDONYMISER).dataset
    references = {
        str(item.ReferencedSOPInstanceUID)
        for evidence in out.CurrentRequestedProcedureEvidenceSequence
        for series in evidence.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    assert image_out.SOPInstanceUID in references
    assert out.StudyInstanceUID == image_out.StudyInstanceUID


def test_burned_in_quarantined_or_masked() -> None:
    study = generate_study(
        0,
        seed=42,
        scale=0.1,
        transfer_syntax="1.2.840.10008.1.2.4.80",
        vendor_name="Carestream Health",
    )
    ds = next(d for d in study.datasets if "PixelData" in d)
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(InvalidInstance, match="burned-in"):
        deidentify(ds, PSEUDONYMISER)
    result = deidentify(ds, PSEUDONYMISER, DeidOptions(burned_in="mask"))
    masked, original = result.dataset.pixel_array, ds.pixel_array
    rows = masked.shape[0]
    assert (masked[: int(0.08 * rows)] == masked.min()).all()
    middle = slice(int(0.2 * rows), int(0.8 * rows))
    assert np.array_equal(masked[middle], original[middle])
    assert result.dataset.BurnedInAnnotation == "NO"
    assert "113101" in {i.CodeValue for i in result.dataset.DeidentificationMethodCodeSequence}


def test_two_series_and_an_sr_still_reference_each_other() -> None:
    study = generate_study(3, seed=43, scale=0.1, vendor_name="Philips Medical Systems")
    by_uid = {ds.SOPInstanceUID: ds for ds in study.datasets}
    ap, lateral = by_uid[study.ap_sop_instance_uid], by_uid[study.lateral_sop_instance_uid]
    assert ap.SeriesInstanceUID != lateral.SeriesInstanceUID  # two series
    lateral.ReferencedImageSequence = Sequence([Dataset()])
    lateral.ReferencedImageSequence[0].ReferencedSOPClassUID = ap.SOPClassUID
    lateral.ReferencedImageSequence[0].ReferencedSOPInstanceUID = ap.SOPInstanceUID
    sr = build_prediction_sr(
        [OriginalIdentity.from_dataset(ap), OriginalIdentity.from_dataset(lateral)],
        [
            FindingResult(
                FindingCode("scoliosis", "SCT", "298382003", "Scoliosis deformity of spine", "S"),
                0.9,
                True,
            )
        ],
        algorithm_name="x",
        algorithm_version="1",
    )
    ap_out, lat_out, sr_out = (deidentify(ds, PSEUDONYMISER).dataset for ds in (ap, lateral, sr))
    assert ap_out.StudyInstanceUID == lat_out.StudyInstanceUID == sr_out.StudyInstanceUID
    assert lat_out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ap_out.SOPInstanceUID
    evidence = {
        (str(series.SeriesInstanceUID), str(item.ReferencedSOPInstanceUID))
        for ev in sr_out.CurrentRequestedProcedureEvidenceSequence
        for series in ev.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    assert evidence == {
        (ap_out.SeriesInstanceUID, ap_out.SOPInstanceUID),
        (lat_out.SeriesInstanceUID, lat_out.SOPInstanceUID),
    }
    groups = sr_out.ContentSequence  # image references inside the content tree follow too
    referenced = {
        str(e.value)
        for item in groups
        for e in item.iterall()
        if e.keyword == "ReferencedSOPInstanceUID"
    }
    assert referenced <= {ap_out.SOPInstanceUID, lat_out.SOPInstanceUID}
