"""Simulated studies: a DX AP image, a DX lateral image and a Basic Text SR report.

Everything is deterministic by ``(seed, index)``: the same archive is
generated on every machine. Headers carry what a hospital's do (patient
name, ID, birth date, accession number, institution, physicians), so the
de-identification has something to remove; the ground truth of each study
(what the image shows, what the report says, the planted identifiers) is
kept beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from pacsbridge.simulator.findings import Truth, draw_findings
from pacsbridge.simulator.phantom import FIELD_OF_VIEW_MM, render_ap, render_lateral
from pacsbridge.simulator.reports import DEFAULT_NOISE, NoiseRates, write_report
from pacsbridge.uids import uid_from

__all__ = [
    "SimulatedPatient",
    "SimulatedStudy",
    "generate_archive",
    "generate_study",
    "simulated_study_uid",
    "write_study",
]

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"

_FAMILY = [
    "ROSSI",
    "RUSSO",
    "FERRARI",
    "ESPOSITO",
    "BIANCHI",
    "ROMANO",
    "COLOMBO",
    "RICCI",
    "MARINO",
    "GRECO",
    "BRUNO",
    "GALLO",
    "CONTI",
    "DE LUCA",
    "MANCINI",
    "COSTA",
    "GIORDANO",
    "RIZZO",
    "LOMBARDI",
    "MORETTI",
    "BARBIERI",
    "FONTANA",
    "SANTORO",
    "MARIANI",
    "RINALDI",
    "CARUSO",
    "FERRARA",
    "GALLI",
    "MARTINI",
    "LEONE",
]
_GIVEN_F = [
    "MARIA",
    "ANNA",
    "GIUSEPPINA",
    "ROSA",
    "ANGELA",
    "GIOVANNA",
    "TERESA",
    "LUCIA",
    "CARMELA",
    "FRANCESCA",
    "PAOLA",
    "ELENA",
    "CHIARA",
    "GIULIA",
    "SARA",
]
_GIVEN_M = [
    "GIUSEPPE",
    "GIOVANNI",
    "ANTONIO",
    "MARIO",
    "LUIGI",
    "FRANCESCO",
    "ANGELO",
    "VINCENZO",
    "PIETRO",
    "SALVATORE",
    "CARLO",
    "ANDREA",
    "MARCO",
    "LUCA",
    "PAOLO",
]
_RADIOLOGISTS = ["VERDI^PAOLO^^DOTT.", "NERI^LAURA^^DOTT.SSA", "BASSI^ENRICO^^DOTT."]
_STUDY_DESCRIPTIONS = [
    "RX RACHIDE LOMBARE",
    "RX COLONNA LOMBO-SACRALE",
    "RX RACHIDE LOMBOSACRALE 2P",
    "L-SPINE 2 VIEWS",
    "RX RACHIDE LOMBARE IN ORTOSTASI",
]
_AP_SERIES = ["RACHIDE LOMBARE AP", "L-SPINE AP", "LOMBARE FRONTALE", "AP"]
_LAT_SERIES = ["RACHIDE LOMBARE LL", "L-SPINE LATERAL", "LOMBARE LATERALE", "LAT"]


@dataclass(frozen=True, slots=True)
class SimulatedPatient:
    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str


@dataclass(frozen=True)
class SimulatedStudy:
    """One simulated study: its instances and its ground truth."""

    index: int
    study_instance_uid: str
    accession_number: str
    study_date: str
    patient: SimulatedPatient
    truth: Truth
    report_text: str
    report_states: dict[str, str]
    planted_identifiers: tuple[str, ...]
    datasets: tuple[Dataset, ...]
    ap_sop_instance_uid: str
    lateral_sop_instance_uid: str


def _uid(seed: int, index: int, what: str) -> str:
    return uid_from("pacslabel-simulator", str(seed), str(index), what)


def simulated_study_uid(seed: int, index: int) -> str:
    """The Study Instance UID that study ``index`` of archive ``seed`` gets."""
    return _uid(seed, index, "study")


def _common(ds: Dataset, patient: SimulatedPatient, study: dict[str, str]) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = patient.patient_name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = "OSPEDALE SIMULATO"
    ds.PatientBirthDate = patient.patient_birth_date
    ds.PatientSex = patient.patient_sex
    ds.StudyInstanceUID = study["uid"]
    ds.StudyDate = study["date"]
    ds.StudyTime = study["time"]
    ds.StudyID = study["id"]
    ds.AccessionNumber = study["accession"]
    ds.StudyDescription = study["description"]
    ds.ReferringPhysicianName = study["referrer"]
    ds.InstitutionName = "Ospedale Simulato di Milano"
    ds.InstitutionAddress = "Via Simulata 1, 20100 Milano"
    ds.Manufacturer = "SimulatedVendor"
    ds.StationName = "RX-SALA-2"


def _file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _image(
    pixels: np.ndarray,
    view: str,
    series: dict[str, str | int],
    sop_uid: str,
    patient: SimulatedPatient,
    study: dict[str, str],
    age: int,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = _file_meta(DX_FOR_PRESENTATION, sop_uid)
    _common(ds, patient, study)
    ds.SOPClassUID = DX_FOR_PRESENTATION
    ds.SOPInstanceUID = sop_uid
    ds.PatientAge = f"{age:03d}Y"
    ds.Modality = "DX"
    ds.SeriesInstanceUID = str(series["uid"])
    ds.SeriesNumber = int(series["number"])
    ds.SeriesDescription = str(series["description"])
    ds.SeriesDate = study["date"]
    ds.SeriesTime = study["time"]
    ds.AcquisitionDate = study["date"]
    ds.AcquisitionTime = str(series["time"])
    ds.ContentDate = study["date"]
    ds.ContentTime = str(series["time"])
    ds.InstanceNumber = 1
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BodyPartExamined = "LSPINE"
    ds.ViewPosition = "AP" if view == "ap" else "LL"
    ds.PatientOrientation = ["L", "F"] if view == "ap" else ["A", "F"]
    ds.ImageLaterality = "U"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.OperatorsName = "TECNICO^SIMULATO"
    ds.ProtocolName = f"LOMBARE {'AP' if view == 'ap' else 'LATERALE'}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    spacing = FIELD_OF_VIEW_MM[0] / pixels.shape[0]
    ds.ImagerPixelSpacing = [f"{spacing:.4f}", f"{spacing:.4f}"]
    ds.PixelSpacing = [f"{spacing:.4f}", f"{spacing:.4f}"]
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.DetectorType = "SCINTILLATOR"
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def _text_item(meaning: str, value: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", meaning)])
    item.TextValue = value
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    return code


def _report_sr(
    text: str,
    sop_uid: str,
    series_uid: str,
    patient: SimulatedPatient,
    study: dict[str, str],
    radiologist: str,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = _file_meta(BASIC_TEXT_SR, sop_uid)
    _common(ds, patient, study)
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "SR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = 900
    ds.SeriesDescription = "REFERTO"
    ds.InstanceNumber = 1
    ds.ContentDate = study["date"]
    ds.ContentTime = study["time"]
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.PerformedProcedureCodeSequence = Sequence()
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = radiologist
    observer.VerifyingObserverIdentificationCodeSequence = Sequence()
    observer.VerifyingOrganization = "Ospedale Simulato di Milano"
    observer.VerificationDateTime = study["date"] + study["time"]
    ds.VerifyingObserverSequence = Sequence([observer])
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    findings = Dataset()
    findings.RelationshipType = "CONTAINS"
    findings.ValueType = "CONTAINER"
    findings.ContinuityOfContent = "SEPARATE"
    findings.ConceptNameCodeSequence = Sequence([_code("121070", "DCM", "Findings")])
    findings.ContentSequence = Sequence([_text_item("Finding", text)])
    ds.ContentSequence = Sequence([findings])
    return ds


def generate_study(
    index: int,
    seed: int = 0,
    *,
    rows: int = 640,
    cols: int = 512,
    noise: NoiseRates = DEFAULT_NOISE,
) -> SimulatedStudy:
    """Generate study number ``index`` of the archive with ``seed``."""
    rng = np.random.default_rng([seed, index])
    truth = draw_findings(rng)
    female = truth.sex == "F"
    given = str(rng.choice(_GIVEN_F if female else _GIVEN_M))
    family = str(rng.choice(_FAMILY))
    day = dt.date(2016, 1, 4) + dt.timedelta(days=int(rng.integers(0, 730)))
    birth = day - dt.timedelta(days=int(truth.age * 365.25 + rng.integers(0, 365)))
    patient = SimulatedPatient(
        patient_name=f"{family}^{given}",
        patient_id=f"MRN{rng.integers(10**7, 10**8)}",
        patient_birth_date=birth.strftime("%Y%m%d"),
        patient_sex=truth.sex,
    )
    hour = int(rng.integers(8, 19))
    minute = int(rng.integers(0, 60))
    study = {
        "uid": simulated_study_uid(seed, index),
        "date": day.strftime("%Y%m%d"),
        "time": f"{hour:02d}{minute:02d}00",
        "id": f"{index + 1:06d}",
        "accession": f"ACC{seed % 1000:03d}{index:07d}",
        "description": str(rng.choice(_STUDY_DESCRIPTIONS)),
        "referrer": "MEDICO^CURANTE",
    }
    ap = render_ap(truth, rows, cols, rng)
    lateral = render_lateral(truth, rows, cols, rng)
    ap_sop, lat_sop = _uid(seed, index, "ap"), _uid(seed, index, "lat")
    ap_ds = _image(
        ap,
        "ap",
        {
            "uid": _uid(seed, index, "series-ap"),
            "number": 1,
            "description": str(rng.choice(_AP_SERIES)),
            "time": f"{hour:02d}{minute:02d}10",
        },
        ap_sop,
        patient,
        study,
        truth.age,
    )
    lat_ds = _image(
        lateral,
        "lateral",
        {
            "uid": _uid(seed, index, "series-lat"),
            "number": 2,
            "description": str(rng.choice(_LAT_SERIES)),
            "time": f"{hour:02d}{minute:02d}40",
        },
        lat_sop,
        patient,
        study,
        truth.age,
    )
    draft = write_report(
        truth, rng, patient_name=patient.patient_name, study_date=study["date"], noise=noise
    )
    sr = _report_sr(
        draft.text,
        _uid(seed, index, "report"),
        _uid(seed, index, "series-sr"),
        patient,
        study,
        str(rng.choice(_RADIOLOGISTS)),
    )
    return SimulatedStudy(
        index=index,
        study_instance_uid=study["uid"],
        accession_number=study["accession"],
        study_date=study["date"],
        patient=patient,
        truth=truth,
        report_text=draft.text,
        report_states=draft.states,
        planted_identifiers=draft.planted,
        datasets=(ap_ds, lat_ds, sr),
        ap_sop_instance_uid=ap_sop,
        lateral_sop_instance_uid=lat_sop,
    )


def generate_archive(
    count: int, seed: int = 0, *, rows: int = 640, cols: int = 512
) -> Iterator[SimulatedStudy]:
    """Generate ``count`` studies, one at a time (an archive need not fit in memory)."""
    for index in range(count):
        yield generate_study(index, seed, rows=rows, cols=cols)


def write_study(study: SimulatedStudy, folder: Path) -> list[Path]:
    """Write a study's instances as PS3.10 files under ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in study.datasets:
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
