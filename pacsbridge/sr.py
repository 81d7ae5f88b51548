"""The DICOM SR we send back: an Imaging Measurement Report (TID 1500) per study.

One Measurement and Qualitative Evaluation Group (TID 1501) per finding:
its tracking identifier names the finding, the finding type is the finding's
code, a qualitative evaluation says Present / Absent (SCT 52101004 /
272519000) at the model's cut-off, a measurement gives the model's
probability (DCM 122157, unit "1"), and the group references the AP and
lateral source images. The algorithm (name and model version) is
identified in every group. The SR is built with highdicom, so it cannot be
built invalid, and goes into the original (clinical) study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from pacsbridge.deid.deidentify import OriginalIdentity
from pacsbridge.report import OWN_MANUFACTURER
from pacsbridge.sr_check import CONTROL_CHARACTERS, InvalidSR, sr_problems, value_problems
from pacsbridge.uids import uid_from
from pacsbridge.values import lenient_date, lenient_sex, lenient_time

__all__ = ["FindingCode", "FindingResult", "build_prediction_sr", "checked_values"]


@dataclass(frozen=True, slots=True)
class FindingCode:
    """A finding's key and code (from the task definition)."""

    key: str
    scheme: str
    value: str
    meaning: str
    display: str

    def coded_concept(self) -> hd.sr.CodedConcept:
        return hd.sr.CodedConcept(
            value=self.value, scheme_designator=self.scheme, meaning=self.meaning
        )


@dataclass(frozen=True, slots=True)
class FindingResult:
    """The model's output for one finding of one study."""

    finding: FindingCode
    probability: float
    present: bool


def _text(value: str) -> str:
    """A value copied from the clinical header, made what DICOM allows where that changes
    nothing a reader sees: control characters and padding out."""
    return CONTROL_CHARACTERS.sub("", value).strip(" \0")


def _name(value: str) -> str:
    """A person name without empty trailing components (``DOE^JOHN^^^`` → ``DOE^JOHN``)."""
    return "=".join(group.rstrip("^ ") for group in _text(value).split("=")).rstrip("=")


_UIDS = ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")


def _evidence_values(identity: OriginalIdentity) -> dict[str, tuple[str, str]]:
    """What the SR copies of an image's clinical header: keyword → (VR, value), each
    value normalised (:func:`_text`, :func:`_name`) and dates and times as DICOM has them
    or empty."""
    return {
        "SOPClassUID": ("UI", _text(identity.sop_class_uid)),
        "SOPInstanceUID": ("UI", _text(identity.sop_instance_uid)),
        "SeriesInstanceUID": ("UI", _text(identity.series_instance_uid)),
        "StudyInstanceUID": ("UI", _text(identity.study_instance_uid)),
        "Modality": ("CS", _text(identity.modality).upper() or "DX"),
        "PatientName": ("PN", _name(identity.patient_name)),
        "PatientID": ("LO", _text(identity.patient_id)),
        "PatientBirthDate": ("DA", lenient_date(identity.patient_birth_date) or ""),
        "PatientSex": ("CS", lenient_sex(identity.patient_sex) or ""),
        "AccessionNumber": ("SH", _text(identity.accession_number)),
        "StudyID": ("SH", _text(identity.study_id)),
        "StudyDate": ("DA", lenient_date(identity.study_date) or ""),
        "StudyTime": ("TM", lenient_time(identity.study_time) or ""),
        "ReferringPhysicianName": ("PN", _name(identity.referring_physician_name)),
    }


def checked_values(identity: OriginalIdentity) -> dict[str, tuple[str, str]]:
    """What an SR copies of an image's header (keyword → (VR, value)), normalised and
    checked.

    Raises
    ------
    InvalidSR
        A value breaks its VR's rules, or a UID is empty.
    """
    values = _evidence_values(identity)
    problems = value_problems(values, _UIDS)
    if problems:
        raise InvalidSR(problems)
    return values


def _evidence(identity: OriginalIdentity) -> Dataset:
    """The image as highdicom takes it for the SR's evidence and patient/study modules.

    Raises
    ------
    InvalidSR
        A value breaks its VR's rules, or a UID is empty (checked before any of them is
        put in a data set).
    """
    values = checked_values(identity)
    ds = Dataset()
    for keyword, (_, value) in values.items():
        setattr(ds, keyword, value)
    return ds


def _finding_group(
    result: FindingResult,
    algorithm: hd.sr.AlgorithmIdentification,
    sources: Sequence[hd.sr.SourceImageForMeasurementGroup],
    sop_uid: str,
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """One finding as a TID 1501 group: present/absent and the model's probability."""
    concept = result.finding.coded_concept()
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=uid_from("tracking", sop_uid, result.finding.key),
            identifier=result.finding.key,
        ),
        finding_type=concept,
        algorithm_id=algorithm,
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(
                name=concept,
                value=codes.SCT.Present if result.present else codes.SCT.Absent,
            )
        ],
        measurements=[
            hd.sr.Measurement(
                name=codes.DCM.Probability,
                value=round(float(result.probability), 6),
                unit=codes.UCUM.NoUnits,
                algorithm_id=algorithm,
            )
        ],
        source_images=list(sources),
    )


def _non_ascii(ds: Dataset) -> bool:
    """Whether a text value of ``ds`` (at any depth) holds a character beyond ASCII."""
    texts = ("PN", "LO", "SH", "LT", "ST", "UT", "UC")
    return any(
        element.VR in texts and element.value and not str(element.value).isascii()
        for element in ds.iterall()
    )


def _observer(name: str, version: str, manufacturer: str) -> hd.sr.ObserverContext:
    """The algorithm as the device that observed (TID 1004)."""
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=uid_from("device", name, version),
            name=name,
            model_name=version[:64],
            manufacturer_name=manufacturer,
        ),
    )


def _predecessor(study_uid: str, supersedes: tuple[str, str] | None) -> list[Dataset] | None:
    """The SR a new version replaces, as highdicom takes it (its UIDs and class)."""
    if supersedes is None:
        return None
    old = Dataset()
    old.StudyInstanceUID = study_uid
    old.SeriesInstanceUID, old.SOPInstanceUID = supersedes
    old.SOPClassUID = uid.Comprehensive3DSRStorage
    return [old]


def build_prediction_sr(
    images: Sequence[OriginalIdentity],
    results: Sequence[FindingResult],
    *,
    algorithm_name: str,
    algorithm_version: str,
    sop_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    series_number: int = 990,
    manufacturer: str = OWN_MANUFACTURER,
    supersedes: tuple[str, str] | None = None,
) -> Dataset:
    """Build the Comprehensive 3D SR (TID 1500) with the model's findings for one study.

    Parameters
    ----------
    images
        The clinical identities of the images the model looked at (AP, lateral).
    results
        One result per finding.
    algorithm_name, algorithm_version
        Identify the model (PS3.16 TID 4019).
    sop_instance_uid, series_instance_uid
        Give them to make retries idempotent; new UIDs otherwise.
    supersedes
        (series, SOP instance UID) of an SR of ours this one replaces: it is named in
        the Predecessor Documents Sequence (PS3.3 C.17.2.3), so a reader takes this one
        as the current version.

    Raises
    ------
    InvalidSR
        A value copied from the clinical header breaks DICOM's rules even once its
        control characters and padding are removed (a 10,000-character name, a UID that
        is not one): sent, the PACS would hold an invalid object.
    ValueError
        No images, images from several studies, or no results.
    """
    if not images:
        raise ValueError("an SR needs at least one source image")
    if len({image.study_instance_uid for image in images}) != 1:
        raise ValueError("all source images must belong to one study")
    if not results:
        raise ValueError("an SR needs at least one finding")
    evidence = [_evidence(image) for image in images]
    sop_uid = sop_instance_uid or generate_uid(prefix=None)
    algorithm = hd.sr.AlgorithmIdentification(name=algorithm_name, version=algorithm_version)
    sources = [
        hd.sr.SourceImageForMeasurementGroup(image.sop_class_uid, image.sop_instance_uid)
        for image in images
    ]
    groups = [_finding_group(result, algorithm, sources, sop_uid) for result in results]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=_observer(algorithm_name, algorithm_version, manufacturer)
        ),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=series_instance_uid or generate_uid(prefix=None),
        series_number=series_number,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer=manufacturer,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description="pacslabel AI findings",
        previous_versions=_predecessor(images[0].study_instance_uid, supersedes),
    )
    if not sr.get("SpecificCharacterSet") and _non_ascii(sr):
        sr.SpecificCharacterSet = "ISO_IR 192"  # a name with accents: UTF-8, declared
    problems = sr_problems(sr)
    if problems:
        raise InvalidSR(problems)
    return sr
