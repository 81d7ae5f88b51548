"""Header de-identification: identity gone, references kept, pixels untouched."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacsbridge import DeidOptions, InvalidInstance, Pseudonymiser, deidentify
from simhospital import SimulatedStudy


def _texts(ds: Dataset) -> str:
    return " ".join(str(e.value) for e in ds.iterall() if e.VR not in ("OB", "OW", "SQ"))


def test_identity_is_removed_and_pixels_kept(
    small_studies: list[SimulatedStudy], pseudonymiser: Pseudonymiser
) -> None:
    study = small_studies[0]
    ds = study.datasets[0]
    result = deidentify(ds, pseudonymiser)
    out = result.dataset
    text = _texts(out)
    for value in (
        study.patient.patient_id,
        study.patient.patient_birth_date,
        study.accession_number,
        "Ospedale Simulato",
        "Via Simulata",
        "RX-SALA-2",
        "TECNICO",
    ):
        assert value not in text
    for part in study.patient.patient_name.split("^"):
        assert part not in text
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert np.array_equal(out.pixel_array, ds.pixel_array)
    assert out.SOPInstanceUID != ds.SOPInstanceUID and out.SOPInstanceUID.startswith("2.25.")
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.SOPClassUID == ds.SOPClassUID  # well-known UIDs are not remapped
    assert out.get("ViewPosition") == ds.get("ViewPosition")  # pairing still works
    assert out.get("SeriesDescription") == ds.get("SeriesDescription")
    assert result.original.patient_id == study.patient.patient_id
    assert ds.PatientID == study.patient.patient_id  # the input is not modified


def test_dates_shift_consistently_per_patient(
    small_studies: list[SimulatedStudy], pseudonymiser: Pseudonymiser
) -> None:
    datasets = small_studies[0].datasets
    ap, lateral, report = (deidentify(ds, pseudonymiser) for ds in (*datasets[:2], datasets[-1]))
    assert ap.dataset.StudyDate == lateral.dataset.StudyDate == report.dataset.StudyDate
    assert ap.dataset.StudyDate != small_studies[0].study_date
    assert ap.date_shift_days == pseudonymiser.date_shift_days(small_studies[0].patient.patient_id)
    assert ap.dataset.PatientID == lateral.dataset.PatientID  # same pseudonym


def test_uids_stay_linked(
    small_studies: list[SimulatedStudy], pseudonymiser: Pseudonymiser
) -> None:
    ap = copy.deepcopy(small_studies[0].datasets[0])
    lateral = small_studies[0].datasets[1]
    ref = Dataset()
    ref.ReferencedSOPClassUID = lateral.SOPClassUID
    ref.ReferencedSOPInstanceUID = lateral.SOPInstanceUID
    ap.ReferencedImageSequence = Sequence([ref])
    out_ap = deidentify(ap, pseudonymiser).dataset
    out_lat = deidentify(lateral, pseudonymiser).dataset
    assert out_ap.StudyInstanceUID == out_lat.StudyInstanceUID
    assert out_ap.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out_lat.SOPInstanceUID
    assert out_ap.SeriesInstanceUID != out_lat.SeriesInstanceUID


def test_private_tags_and_nested_person_names_go(
    small_studies: list[SimulatedStudy], pseudonymiser: Pseudonymiser
) -> None:
    ds = copy.deepcopy(small_studies[1].datasets[0])
    ds.add_new(0x00091010, "LO", "PRIVATE " + small_studies[1].patient.patient_id)
    item = Dataset()
    item.ScheduledPerformingPhysicianName = "DOTTORE^SEGRETO"
    ds.ScheduledProcedureStepSequence = Sequence([item])
    out = deidentify(ds, pseudonymiser).dataset
    assert 0x00091010 not in out
    assert "SEGRETO" not in _texts(out)


def test_identifier_left_in_free_text_is_caught(
    small_studies: list[SimulatedStudy], pseudonymiser: Pseudonymiser
) -> None:
    ds = copy.deepcopy(small_studies[2].datasets[0])
    ds.ImageComments = "ok"
    ds.DerivationDescription = "x"
    ds.add_new(0x00204000, "LT", "x")
    ds.SeriesDescription = f"AP {small_studies[2].patient.patient_id}"
    out = deidentify(ds, pseudonymiser, DeidOptions(clean_descriptors=True)).dataset
    assert small_studies[2].patient.patient_id not in out.SeriesDescription
    assert out.SeriesDescription.startswith("AP")


def test_burned_in_annotation_is_refused(
    small_studies: list[SimulatedStudy], pseudonymiser: Pseudonymiser
) -> None:
    ds = copy.deepcopy(small_studies[0].datasets[0])
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(InvalidInstance, match="BurnedInAnnotation"):
        deidentify(ds, pseudonymiser)


def test_pseudonyms_are_keyed() -> None:
    one, other = Pseudonymiser(b"k" * 16), Pseudonymiser(b"j" * 16)
    assert one.uid("1.2.3") == one.uid("1.2.3") != other.uid("1.2.3")
    assert len(one.uid("1.2.3")) <= 64
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymiser(b"short")
