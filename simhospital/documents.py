"""Documents a real study holds besides its images and its report.

A PACS study also collects what other systems write into it: the modality's
radiation dose report (TID 10001), another vendor's AI findings as a TID 1500
measurement report, a key object selection marking the images a radiologist
flagged, and — in a hospital that runs pacslabel — the SRs of pacslabel
itself, written back by another installation. Each holds text that reads like
findings, so a report taken from the wrong document mislabels the study.
:func:`with_other_documents` adds them to a simulated study.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

from pacsbridge import FindingCode, FindingResult, OriginalIdentity, build_prediction_sr, uid_from
from simhospital.dicom import SimulatedStudy
from simhospital.truth import FINDINGS

__all__ = ["with_other_documents"]

#: Header attributes every document of the study repeats from its images.
_SHARED = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "ReferringPhysicianName",
)
#: Sentences that read like findings (and contradict most reports).
_MISLEADING = [
    "Frattura da compressione del soma di L1.",
    "Anterolistesi di grado II di L4 su L5.",
    "Retrolistesi di L3.",
    "Scoliosi severa dorso-lombare.",
    "Mezzi di sintesi peduncolari L4-S1.",
    "Marcata osteoporosi.",
]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _text(meaning: tuple[str, str, str], text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = Sequence([_code(*meaning)])
    item.TextValue = text
    return item


def _document(
    image: Dataset,
    sop_class: str,
    name: str,
    title: tuple[str, str, str],
    manufacturer: str,
    series_number: int,
) -> Dataset:
    ds = Dataset()
    sop_uid = uid_from("simhospital-document", str(image.StudyInstanceUID), name)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = uid.UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = uid.UID(sop_uid)
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    for keyword in _SHARED:
        if keyword in image:
            setattr(ds, keyword, image[keyword].value)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.Modality = "KO" if sop_class == uid.KeyObjectSelectionDocumentStorage else "SR"
    ds.SeriesInstanceUID = uid_from(
        "simhospital-document-series", str(image.StudyInstanceUID), name
    )
    ds.SeriesNumber, ds.InstanceNumber = series_number, 1
    ds.Manufacturer = manufacturer
    ds.ContentDate, ds.ContentTime = str(image.StudyDate), "235900"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code(*title)])
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.PerformedProcedureCodeSequence = Sequence()
    if ds.Modality == "SR":
        ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    return ds


def _template(ds: Dataset, identifier: str) -> None:
    template = Dataset()
    template.MappingResource, template.TemplateIdentifier = "DCMR", identifier
    ds.ContentTemplateSequence = Sequence([template])


def _dose(image: Dataset, rng: np.random.Generator) -> Dataset:
    ds = _document(
        image,
        uid.XRayRadiationDoseSRStorage,
        "dose",
        ("113701", "DCM", "X-Ray Radiation Dose Report"),
        image.get("Manufacturer", "Modality"),
        998,
    )
    _template(ds, "10001")
    comment = f"Esposizione ripetuta. {rng.choice(_MISLEADING)}"
    ds.ContentSequence = Sequence([_text(("121106", "DCM", "Comment"), comment)])
    return ds


def _vendor_ai(image: Dataset, rng: np.random.Generator) -> Dataset:
    ds = _document(
        image,
        uid.ComprehensiveSRStorage,
        "vendor-ai",
        ("126000", "DCM", "Imaging Measurement Report"),
        "SpineVision AI",
        997,
    )
    _template(ds, "1500")
    findings = " ".join(rng.choice(_MISLEADING, size=2, replace=False))
    ds.ContentSequence = Sequence([_text(("121071", "DCM", "Finding"), f"AI: {findings}")])
    return ds


def _key_objects(image: Dataset, rng: np.random.Generator) -> Dataset:
    ds = _document(
        image,
        uid.KeyObjectSelectionDocumentStorage,
        "kos",
        ("113000", "DCM", "Of Interest"),
        "Workstation",
        996,
    )
    _template(ds, "2010")
    note = f"Immagini chiave: {rng.choice(_MISLEADING)}"
    ds.ContentSequence = Sequence([_text(("113012", "DCM", "Key Object Description"), note)])
    return ds


def _pacslabel_sr(images: list[Dataset], rng: np.random.Generator) -> Dataset:
    """What another pacslabel installation wrote back into the study."""
    codes = {key: FindingCode(key, "99PACSLABEL", key[:16].upper(), key, key) for key in FINDINGS}
    results = [
        FindingResult(codes[key], float(p), bool(p > 0.5))
        for key, p in zip(FINDINGS, rng.random(len(FINDINGS)), strict=True)
    ]
    study = str(images[0].StudyInstanceUID)
    return build_prediction_sr(
        [OriginalIdentity.from_dataset(ds) for ds in images],
        results,
        algorithm_name="pacslabel ResNet-18",
        algorithm_version="lumbar_spine-resnet18-elsewhere",
        sop_instance_uid=uid_from("simhospital-pacslabel-sr", study),
        series_instance_uid=uid_from("simhospital-pacslabel-sr-series", study),
    )


def with_other_documents(study: SimulatedStudy, seed: int = 0) -> SimulatedStudy:
    """``study`` with a dose report, another vendor's TID 1500 AI report, a key object
    selection and an SR of another pacslabel installation added to its instances."""
    rng = np.random.default_rng([seed, study.index, 17])
    images = [ds for ds in study.datasets if "PixelData" in ds]
    documents = (
        _dose(images[0], rng),
        _vendor_ai(images[0], rng),
        _key_objects(images[0], rng),
        _pacslabel_sr(images, rng),
    )
    return dataclasses.replace(study, datasets=(*study.datasets, *documents))
