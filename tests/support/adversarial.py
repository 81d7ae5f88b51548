"""A lumbar spine study written by hand, attribute by attribute, to break de-identification.

Written for issue 11 outside the simulated hospital (none of its code is used):
an AP and a lateral DX image and a Basic Text SR report of a fictitious patient
of a fictitious Italian hospital, with identifiers where hospital systems really
put them — every module of the header, nested sequences (Other Patient IDs,
Request Attributes, Verifying Observer), private attributes, the report's
content items — and where people type them: free-text comments, descriptions,
the report, in capitals, with accents (``NICOLÒ``, ``CANTÙ``) written as an
Italian keyboard does without them (``Nicolo'``, ``Cantu'``), with typographic
apostrophes (``Dell’Orto``, in the report the RIS writes in UTF-8; the modality
writes Latin-1), phone numbers spelt three ways.

:data:`PLANTED` lists every identifying string, as a search would look for it.
All names, numbers and addresses are invented.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    BasicTextSRStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
)

ROOT = "1.2.826.0.1.3680043.10.1137"  # a private root for this file's UIDs
STUDY_UID = f"{ROOT}.1.20230314.1"
ACCESSION = "A2023-118842"

#: Every identifying string planted, spelt as it was written somewhere in the study.
PLANTED = [
    "DELL'ORTO",
    "Dell’Orto",
    "ROSALBA",
    "GHIRARDELLI",
    "ZANCHETTA",
    "LUIGIA",
    "PZ-0048213",
    "ASST-NORDMI",
    "DLLRSL61M52F205Z",
    "19610812",
    "12/08/1961",
    "Via dei Mille 27",
    "20129 Milano",
    "02 5541 2297",
    "0255412297",
    "r.dellorto@fastwebnet.it",
    "347 882 1934",
    "FERRACUTI",
    "NICOLÒ",
    "Nicolo'",
    "SCOGNAMIGLIO",
    "PASQUALE",
    "OTTAVIANI",
    "CANTÙ",
    "Cantu'",
    "A2023-118842",
    "LS77120",
    "RIC-2023-00917",
    "RP-55821",
    "SPS-55821-1",
    "PPS-998877",
    "Presidio Ospedaliero Santa Caterina da Siena",
    "Santa Caterina",
    "UOC Radiologia Diagnostica",
    "Largo Pietro Castellino 4",
    "80131 Napoli",
    "RXSALA3",
    "SN7741920A",
    "0331 449872",
    "0331-449872",
    "Viale Monza 140",
    "A2021-009931",
    "2019/4471-B",
]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _patient(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "DELL'ORTO^ROSALBA^MARIA"
    ds.PatientID = "PZ-0048213"
    ds.IssuerOfPatientID = "ASST-NORDMI"
    ds.PatientBirthDate = "19610812"
    ds.PatientSex = "F"
    ds.PatientAge = "062Y"
    other = Dataset()
    other.PatientID = "DLLRSL61M52F205Z"
    other.IssuerOfPatientID = "MEF codice fiscale"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.OtherPatientNames = "GHIRARDELLI^ROSALBA"
    ds.PatientBirthName = "GHIRARDELLI^ROSALBA"
    ds.PatientMotherBirthName = "ZANCHETTA^LUIGIA"
    ds.PatientAddress = "Via dei Mille 27, 20129 Milano"
    ds.PatientTelephoneNumbers = "+39 02 5541 2297"
    ds.PatientTelecomInformation = "r.dellorto@fastwebnet.it"
    ds.PatientComments = (
        "Paziente collaborante. Contatto figlia: 347 882 1934. CF DLLRSL61M52F205Z. "
        "Tel. casa 0255412297"
    )
    ds.AdditionalPatientHistory = (
        "Inviata dal dott. Ferracuti per lombalgia. Cartella n. 2019/4471-B. "
        "Abita in Via dei Mille 27."
    )
    ds.MedicalAlerts = "allergia al mezzo di contrasto, segnalata da SCOGNAMIGLIO"


def _study(ds: Dataset) -> None:
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyDate = "20230314"
    ds.StudyTime = "101530"
    ds.AccessionNumber = ACCESSION
    ds.StudyID = "LS77120"
    ds.ReferringPhysicianName = "FERRACUTI^NICOLÒ^^Dott."
    ds.ReferringPhysicianAddress = "Viale Monza 140, Milano"
    ds.ReferringPhysicianTelephoneNumbers = "0331 449872"
    ds.StudyDescription = "RX RACHIDE LOMBOSACRALE 2P (Dott. Ferracuti)"
    ds.PhysiciansOfRecord = "FERRACUTI^NICOLÒ"
    ds.NameOfPhysiciansReadingStudy = "SCOGNAMIGLIO^PASQUALE"
    ds.RequestingPhysician = "FERRACUTI^NICOLÒ"
    ds.AdmissionID = "RIC-2023-00917"
    ds.ProcedureCodeSequence = Sequence([_code("RX0412", "99ORD", "RX colonna lombosacrale")])
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    referenced.ReferencedSOPInstanceUID = f"{ROOT}.9.1"
    ds.ReferencedStudySequence = Sequence([referenced])


def _equipment(ds: Dataset) -> None:
    ds.Manufacturer = "Fujifilm"
    ds.ManufacturerModelName = "FDR D-EVO II"
    ds.InstitutionName = "Presidio Ospedaliero Santa Caterina da Siena"
    ds.InstitutionAddress = "Largo Pietro Castellino 4, 80131 Napoli"
    ds.InstitutionalDepartmentName = "UOC Radiologia Diagnostica"
    ds.StationName = "RXSALA3"
    ds.DeviceSerialNumber = "SN7741920A"


def _request(ds: Dataset) -> None:
    request = Dataset()
    request.RequestedProcedureID = "RP-55821"
    request.ScheduledProcedureStepID = "SPS-55821-1"
    request.RequestedProcedureDescription = "RX rachide lombare 2 proiezioni"
    request.ReasonForTheRequestedProcedure = (
        "lombalgia cronica; richiedente Ferracuti, tel. 0331-449872"
    )
    request.AccessionNumber = ACCESSION
    ds.RequestAttributesSequence = Sequence([request])
    ds.PerformedProcedureStepID = "PPS-998877"
    ds.PerformedProcedureStepDescription = "lombare 2 proiezioni - sala 3 Santa Caterina"


def _private(ds: Dataset) -> None:
    block = ds.private_block(0x0029, "ACME RIS 1.0", create=True)
    block.add_new(0x10, "LO", "DELL'ORTO ROSALBA")
    block.add_new(0x11, "LO", "PZ-0048213")
    block.add_new(0x12, "UT", "nota: Rosalba Dell'Orto, tel 02 5541 2297")
    block.add_new(0x13, "PN", "CANTÙ^ELENA")


def _image(view: str, number: int) -> Dataset:
    sop_uid = f"{ROOT}.3.{number}"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _patient(ds)
    _study(ds)
    _equipment(ds)
    _request(ds)
    _private(ds)
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "DX"
    ds.SeriesInstanceUID = f"{ROOT}.2.{number}"
    ds.SeriesNumber = number
    ds.InstanceNumber = 1
    ds.SeriesDescription = f"{view} ortostasi - TSRM Cantu'"
    ds.ProtocolName = f"LOMBARE {view} (Cantù)"
    ds.PerformingPhysicianName = "OTTAVIANI^CARLA"
    ds.OperatorsName = "CANTÙ^ELENA"
    ds.BodyPartExamined = "LSPINE"
    ds.ViewPosition = "AP" if view == "AP" else "LL"
    ds.PatientOrientation = ["L", "F"] if view == "AP" else ["A", "F"]
    ds.ImageComments = "ricontrollo pz. dell'orto, chiamare Dott.ssa Ottaviani"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ContentDate = "20230314"
    ds.ContentTime = "102000"
    ds.AcquisitionDateTime = "20230314102000"
    ds.BurnedInAnnotation = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = 96, 64
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [0.5, 0.5]
    ds.ImagerPixelSpacing = [0.5, 0.5]
    ds.KVP = 80
    rows = np.linspace(400, 3600, 96, dtype=np.uint16)[:, None]
    spine = (np.abs(np.arange(64) - 32) < (10 if view == "AP" else 14)) * 300
    ds.PixelData = (rows + spine.astype(np.uint16)).astype(np.uint16).tobytes()
    return ds


_REPORT = [
    "Paziente: Rosalba Maria Dell'Orto, nata il 12/08/1961 (CF DLLRSL61M52F205Z), ID PZ-0048213.",
    "Esame eseguito presso il Presidio Ospedaliero Santa Caterina da Siena, UOC Radiologia "
    "Diagnostica, su richiesta del Dott. Nicolo' Ferracuti (tel. 0331 449872).",
    "RX RACHIDE LOMBOSACRALE IN DUE PROIEZIONI ORTOSTATICHE (sig.ra Dell’Orto).",
    "Lieve scoliosi sinistro convessa. Riduzione dello spazio intersomatico L4-L5. "
    "Osteofitosi marginale anteriore dei somi lombari. Non evidenti fratture.",
    "Confronto con esame del 03/02/2021 (acc. A2021-009931): quadro invariato.",
    "PAZIENTE DELL'ORTO ROSALBA - TSRM Cantu' - reperibile al 347 882 1934.",
    "Refertato da Pasquale Scognamiglio.",
]


def _report() -> Dataset:
    sop_uid = f"{ROOT}.3.900"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = BasicTextSRStorage
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    _patient(ds)
    ds.SpecificCharacterSet = "ISO_IR 192"  # the RIS writes UTF-8, the modality Latin-1
    _study(ds)
    _equipment(ds)
    ds.SOPClassUID = BasicTextSRStorage
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "SR"
    ds.SeriesInstanceUID = f"{ROOT}.2.900"
    ds.SeriesNumber = 900
    ds.InstanceNumber = 1
    ds.SeriesDescription = "REFERTO Scognamiglio"
    ds.ContentDate = "20230314"
    ds.ContentTime = "113000"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = "SCOGNAMIGLIO^PASQUALE"
    observer.VerifyingOrganization = "Presidio Ospedaliero Santa Caterina da Siena"
    observer.VerificationDateTime = "20230314113000"
    observer.VerifyingObserverIdentificationCodeSequence = Sequence()
    ds.VerifyingObserverSequence = Sequence([observer])
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    ds.PerformedProcedureCodeSequence = Sequence()
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    items = []
    for paragraph in _REPORT:
        item = Dataset()
        item.RelationshipType = "CONTAINS"
        item.ValueType = "TEXT"
        item.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
        item.TextValue = paragraph
        items.append(item)
    ds.ContentSequence = Sequence(items)
    return ds


def study() -> list[Dataset]:
    """The study's three instances: AP, lateral, report."""
    return [_image("AP", 1), _image("LAT", 2), _report()]
