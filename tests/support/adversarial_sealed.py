"""The sealed hand-written study of issue 11: scored once, at the end of the work.

Written at the same time as :mod:`adversarial` but in another hand and another
house style, and not looked at while the de-identifier was being built: a
hospital whose RIS writes UTF-8 and mixes English and Italian, names with
particles (``DE LUCA``, ``DI MAIO``), a birth date spelt out in words, phone
numbers with an international prefix and brackets, an e-mail in capitals, an ID
written with spaces, identifiers three sequences deep and in the context items
of the images, a report whose findings sit in a nested container.

:data:`PLANTED` lists every identifying string. All of it is invented.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    EnhancedSRStorage,
    ExplicitVRLittleEndian,
)

ROOT = "1.2.826.0.1.3680043.10.1138"
STUDY_UID = f"{ROOT}.1.7"
ACCESSION = "RX-24-00731"

PLANTED = [
    "DE LUCA",
    "GIAN MARCO",
    "Gianmarco",
    "DI MAIO",
    "Assunta",
    "ESPOSITO",
    "Raffaele",
    "IACCARINO",
    "Teresa",
    "PAZ 774 210",
    "PAZ774210",
    "DLCGMR57M12F839Q",
    "19570812",
    "12 agosto 1957",
    "081 555 0192",
    "0815550192",
    "G.DELUCA@LIBERO.IT",
    "Corso Vittorio Emanuele 311",
    "80122 Napoli",
    "RX-24-00731",
    "ST-2024-5521",
    "AOU Federico II",
    "Federico II",
    "Ortopedia e Traumatologia",
    "CR-PS-02",
    "K47P7731",
    "Via Sergio Pansini 5",
]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _header(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "DE LUCA^GIAN MARCO"
    ds.PatientID = "PAZ 774 210"
    ds.PatientBirthDate = "19570812"
    ds.PatientSex = "M"
    ds.OtherPatientIDs = "DLCGMR57M12F839Q"
    ds.PatientAddress = "Corso Vittorio Emanuele 311 - 80122 Napoli"
    ds.PatientTelephoneNumbers = "+39 081 5550192"  # SH: 16 characters at most
    ds.PatientTelecomInformation = "G.DELUCA@LIBERO.IT"
    ds.PatientComments = "Accompagnato dalla moglie, sig.ra Assunta Di Maio"
    ds.ResponsiblePerson = "DI MAIO^ASSUNTA"
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyDate = "20240607"
    ds.StudyTime = "083000"
    ds.AccessionNumber = ACCESSION
    ds.StudyID = "ST-2024-5521"
    ds.ReferringPhysicianName = "Esposito^Raffaele"
    ds.StudyDescription = "L-SPINE 2 VIEWS - req. Dr Esposito (Ortopedia)"
    ds.InstitutionName = "AOU Federico II"
    ds.InstitutionAddress = "Via Sergio Pansini 5, 80131 Napoli"
    ds.InstitutionalDepartmentName = "Ortopedia e Traumatologia"
    ds.StationName = "CR-PS-02"
    ds.DeviceSerialNumber = "K47P7731"
    ds.Manufacturer = "Carestream"
    step = Dataset()
    step.ScheduledProcedureStepDescription = "lumbar spine, patient Gianmarco De Luca"
    step.ScheduledPerformingPhysicianName = "IACCARINO^TERESA"
    inner = Dataset()
    inner.ReasonForTheRequestedProcedure = "back pain, call 081 555 0192 (wife)"
    inner.RequestedProcedureID = "ST-2024-5521"
    step.RequestAttributesSequence = Sequence([inner])
    ds.ScheduledProcedureStepSequence = Sequence([step])


def _image(view: str, number: int) -> Dataset:
    sop_uid = f"{ROOT}.3.{number}"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ComputedRadiographyImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _header(ds)
    ds.SOPClassUID = ComputedRadiographyImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "CR"
    ds.SeriesInstanceUID = f"{ROOT}.2.{number}"
    ds.SeriesNumber = number
    ds.InstanceNumber = 1
    ds.SeriesDescription = f"{view} standing, rad. tech. Iaccarino"
    ds.OperatorsName = "IACCARINO^TERESA"
    ds.BodyPartExamined = "LSPINE"
    ds.ViewPosition = "AP" if view == "AP" else "LL"
    context = Dataset()
    context.ValueType = "TEXT"
    context.ConceptNameCodeSequence = Sequence([_code("121106", "DCM", "Comment")])
    context.TextValue = "Pt De Luca Gian Marco, PAZ774210, operator Iaccarino"
    ds.AcquisitionContextSequence = Sequence([context])
    block = ds.private_block(0x0011, "CARESTREAM RIS", create=True)
    block.add_new(0x01, "LO", "De Luca, Gian Marco - 12 agosto 1957")
    block.add_new(0x02, "SH", "PAZ774210")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.Rows, ds.Columns = 80, 60
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 10, 9
    ds.PixelRepresentation = 0
    ds.ImagerPixelSpacing = [0.6, 0.6]
    values = np.linspace(100, 900, 80 * 60, dtype=np.uint16).reshape(80, 60)
    ds.PixelData = values.tobytes()
    return ds


_FINDINGS = (
    "Mild degenerative changes. Riduzione in altezza del disco L5-S1. "
    "Lieve anterolistesi di L4 su L5. No fractures."
)
_HISTORY = (
    "Patient GIANMARCO DE LUCA (b. 12 agosto 1957), ID PAZ 774 210, "
    "referred by Dr. Raffaele Esposito, Ortopedia e Traumatologia, AOU Federico II. "
    "Contact: g.deluca@libero.it / +39 (081) 555 0192. Address Corso Vittorio Emanuele 311."
)


def _report() -> Dataset:
    sop_uid = f"{ROOT}.3.900"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = EnhancedSRStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _header(ds)
    ds.SOPClassUID = EnhancedSRStorage
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "SR"
    ds.SeriesInstanceUID = f"{ROOT}.2.900"
    ds.SeriesNumber = 900
    ds.InstanceNumber = 1
    ds.ContentDate = "20240607"
    ds.ContentTime = "120000"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    author = Dataset()
    author.ObserverType = "PSN"
    author.PersonName = "ESPOSITO^RAFFAELE"
    author.InstitutionName = "AOU Federico II"
    ds.AuthorObserverSequence = Sequence([author])
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    history = Dataset()
    history.RelationshipType = "CONTAINS"
    history.ValueType = "TEXT"
    history.ConceptNameCodeSequence = Sequence([_code("121060", "DCM", "History")])
    history.TextValue = _HISTORY
    finding = Dataset()
    finding.RelationshipType = "CONTAINS"
    finding.ValueType = "TEXT"
    finding.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    finding.TextValue = _FINDINGS
    container = Dataset()
    container.RelationshipType = "CONTAINS"
    container.ValueType = "CONTAINER"
    container.ContinuityOfContent = "SEPARATE"
    container.ConceptNameCodeSequence = Sequence([_code("121070", "DCM", "Findings")])
    container.ContentSequence = Sequence([finding])
    ds.ContentSequence = Sequence([history, container])
    return ds


def study() -> list[Dataset]:
    """The study's three instances: AP, lateral, report."""
    return [_image("AP", 1), _image("LAT", 2), _report()]
