"""Simulated studies: standing AP and lateral radiographs (sometimes flexion,
extension or supine views too) and the report as an SR, with their ground truth.

Everything is deterministic by ``(seed, index)``. Headers carry what a
hospital's do (patient name, ID, birth date, accession number, institution,
operators, vendor private attributes) so de-identification has something to
remove; the equipment varies (:mod:`simhospital.imaging.vendors`): CR or DX,
MONOCHROME1 or 2, 12 to 16 bits, JPEG-LS or JPEG 2000 compression, views told
by ViewPosition or only by an Italian or English series description.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from pacsbridge import uid_from
from simhospital.imaging.anatomy import Spine, build_spine
from simhospital.imaging.burn import burn_annotation
from simhospital.imaging.phantom import Exposure, Posture, View, render_view
from simhospital.imaging.vendors import VENDORS, Vendor
from simhospital.pdf import text_pdf
from simhospital.reports import DEFAULT_NOISE, NoiseRates, write_report
from simhospital.truth.findings import Truth, draw_findings

__all__ = [
    "BURNED_IN_RATE",
    "INSTITUTION",
    "SimulatedPatient",
    "SimulatedStudy",
    "generate_study",
    "simulated_study_uid",
    "write_study",
]


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
_GIVEN = {
    "F": [
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
    ],
    "M": [
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
    ],
}
INSTITUTION = "Ospedale Simulato di Milano"
#: The share of studies whose device burns the patient's identity into the pixels, in
#: the archives of ``pacslabel demo`` and ``pacslabel simulate`` (a study drawn alone
#: has none unless asked).
BURNED_IN_RATE = 0.1

_RADIOLOGISTS = ["VERDI^PAOLO^^DOTT.", "NERI^LAURA^^DOTT.SSA", "BASSI^ENRICO^^DOTT."]
_STUDY_DESCRIPTIONS = [
    "RX RACHIDE LOMBARE",
    "RX COLONNA LOMBO-SACRALE",
    "RX RACHIDE LOMBOSACRALE 2P",
    "L-SPINE 2 VIEWS",
    "RX RACHIDE LOMBARE IN ORTOSTASI",
    "LUMBAR SPINE",
]
_DESCRIPTIONS = {
    "it": {
        ("ap", "standing"): [
            "RACHIDE LOMBARE AP",
            "LOMBARE AP ORTOSTASI",
            "COLONNA LOMBARE FRONTALE",
        ],
        ("lateral", "standing"): [
            "RACHIDE LOMBARE LL",
            "LOMBARE LATERALE ORTOSTASI",
            "COLONNA LOMBARE LATERALE",
        ],
        ("lateral", "flexion"): ["LL IN FLESSIONE", "LATERALE FLESSIONE"],
        ("lateral", "extension"): ["LL IN ESTENSIONE", "LATERALE ESTENSIONE"],
        ("ap", "supine"): ["AP CLINOSTATISMO", "AP SUPINO"],
    },
    "en": {
        ("ap", "standing"): ["L-SPINE AP", "LUMBAR SPINE AP STANDING"],
        ("lateral", "standing"): ["L-SPINE LAT", "LUMBAR SPINE LATERAL STANDING"],
        ("lateral", "flexion"): ["L-SPINE LAT FLEXION"],
        ("lateral", "extension"): ["L-SPINE LAT EXTENSION"],
        ("ap", "supine"): ["L-SPINE AP SUPINE"],
    },
}


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
    image_truth: dict[str, int]
    """Severity of each finding as the standing AP + lateral pair shows it."""
    report_text: str
    report_states: dict[str, str]
    planted_identifiers: tuple[tuple[str, str], ...]
    datasets: tuple[Dataset, ...]
    ap_sop_instance_uid: str
    lateral_sop_instance_uid: str
    vendor: str
    views: tuple[str, ...]
    """``view/posture`` of each image, e.g. ``lateral/flexion``."""
    burned_in: str = ""
    """Text burned into the images' pixels: ``""`` (none), ``unflagged`` (BurnedInAnnotation
    absent or NO, as most devices write it) or ``flagged`` (YES)."""
    burned_in_layout: str = ""
    """What was burned (:class:`simhospital.imaging.burn.BurnIn`), e.g. ``corner/white``."""
    report_source: str = "sr"
    """Where the report is: ``sr`` (an SR in the study), ``pdf`` (an Encapsulated PDF in
    the study) or ``drop`` (outside the PACS: the RIS drops ``<accession>.txt``)."""


def _uid(seed: int, index: int, what: str) -> str:
    return uid_from("pacslabel-simulator", str(seed), str(index), what)


def simulated_study_uid(seed: int, index: int) -> str:
    """The Study Instance UID that study ``index`` of archive ``seed`` gets."""
    return _uid(seed, index, "study")


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    return code


def _common(ds: Dataset, patient: SimulatedPatient, study: dict[str, str], vendor: Vendor) -> None:
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
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = "Via Simulata 1, 20100 Milano"
    ds.Manufacturer = vendor.manufacturer
    ds.ManufacturerModelName = vendor.model
    ds.StationName = "RX-SALA-2"


def _file_meta(sop_class: str, sop_uid: str, syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = UID(syntax)
    return meta


@dataclass(frozen=True, slots=True)
class _Shot:
    view: View
    posture: Posture
    sop_uid: str
    series_uid: str
    series_number: int
    series_description: str
    protocol: str
    time: str
    number: int


def _image(
    pixels: np.ndarray,
    shot: _Shot,
    vendor: Vendor,
    spacing: float,
    patient: SimulatedPatient,
    study: dict[str, str],
    age: int,
    rng: np.random.Generator,
    force_syntax: str | None,
) -> Dataset:
    ds = Dataset()
    syntaxes, weights = zip(*vendor.transfer_syntaxes, strict=True)
    syntax = str(rng.choice(syntaxes, p=np.array(weights) / sum(weights)))
    syntax = force_syntax or syntax
    ds.file_meta = _file_meta(vendor.sop_class_uid, shot.sop_uid, uid.ExplicitVRLittleEndian)
    _common(ds, patient, study, vendor)
    ds.SOPClassUID = vendor.sop_class_uid
    ds.SOPInstanceUID = shot.sop_uid
    ds.PatientAge = f"{age:03d}Y"
    ds.Modality = vendor.modality
    ds.SeriesInstanceUID = shot.series_uid
    ds.SeriesNumber = shot.series_number
    ds.SeriesDescription = shot.series_description
    ds.SeriesDate = study["date"]
    ds.SeriesTime = shot.time
    ds.AcquisitionDate = study["date"]
    ds.AcquisitionTime = shot.time
    ds.ContentDate = study["date"]
    ds.ContentTime = shot.time
    ds.InstanceNumber = shot.number
    ds.BodyPartExamined = "LSPINE"
    if vendor.writes_view_position:
        ds.ViewPosition = "AP" if shot.view == "ap" else "LL"
    elif vendor.modality == "CR":
        ds.ViewPosition = ""  # type 2 in the CR Series module: present, empty
    ds.PatientOrientation = ["L", "F"] if shot.view == "ap" else ["P", "F"]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.OperatorsName = "TECNICO^SIMULATO"
    ds.ProtocolName = shot.protocol
    ds.KVP = "85" if shot.view == "ap" else "95"
    ds.SoftwareVersions = "5.1.2"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if vendor.monochrome1 else "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = vendor.bits
    ds.HighBit = vendor.bits - 1
    ds.PixelRepresentation = 0
    spacing_text = f"{spacing:.4f}"
    ds.ImagerPixelSpacing = [spacing_text, spacing_text]
    peak = (1 << vendor.bits) - 1
    ds.WindowCenter = peak // 2
    ds.WindowWidth = peak
    ds.BurnedInAnnotation = "NO"
    if vendor.modality == "DX":
        ds.PixelSpacing = [spacing_text, spacing_text]
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImageLaterality = "U"
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "US"
        ds.PresentationLUTShape = "INVERSE" if vendor.monochrome1 else "IDENTITY"
        ds.LossyImageCompression = "00"
        ds.DetectorType = "SCINTILLATOR"
        ds.AnatomicRegionSequence = Sequence([_code("122496007", "SCT", "Lumbar spine")])
        ds.AcquisitionContextSequence = Sequence()
        ds.PositionerType = "COLUMN"
        if vendor.writes_view_position:
            ds.ViewCodeSequence = Sequence(
                [
                    _code("399348003", "SCT", "antero-posterior")
                    if shot.view == "ap"
                    else _code("399173006", "SCT", "left lateral")
                ]
            )
    block = ds.private_block(0x0019, vendor.private_creator, create=True)
    block.add_new(0x10, "LO", f"{vendor.model} {vendor.bits}bit")
    block.add_new(0x11, "DS", f"{rng.uniform(150, 450):.1f}")  # a dose index
    ds.PixelData = pixels.astype("<u2").tobytes()
    if syntax in (uid.JPEGLSLossless, uid.JPEG2000Lossless, uid.RLELossless):
        ds.compress(syntax, generate_instance_uid=False)
    elif syntax == uid.ImplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = uid.ImplicitVRLittleEndian
    return ds


def _report_instance(
    sop_class: str,
    sop_uid: str,
    modality: str,
    series_uid: str,
    series_number: int,
    patient: SimulatedPatient,
    study: dict[str, str],
    vendor: Vendor,
) -> Dataset:
    """The header every report instance (SR or PDF) starts with: the RIS wrote it."""
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, sop_uid, uid.ExplicitVRLittleEndian)
    _common(ds, patient, study, vendor)
    ds.Manufacturer = "RIS Simulato"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1
    ds.ContentDate = study["date"]
    ds.ContentTime = study["time"]
    return ds


def _report_sr(
    text: str,
    sop_uid: str,
    series_uid: str,
    patient: SimulatedPatient,
    study: dict[str, str],
    radiologist: str,
    enhanced: bool,
    vendor: Vendor,
) -> Dataset:
    sop_class = uid.EnhancedSRStorage if enhanced else uid.BasicTextSRStorage
    ds = _report_instance(sop_class, sop_uid, "SR", series_uid, 900, patient, study, vendor)
    ds.SeriesDescription = "REFERTO"
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
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    item.TextValue = text
    findings = Dataset()
    findings.RelationshipType = "CONTAINS"
    findings.ValueType = "CONTAINER"
    findings.ContinuityOfContent = "SEPARATE"
    findings.ConceptNameCodeSequence = Sequence([_code("121070", "DCM", "Findings")])
    findings.ContentSequence = Sequence([item])
    ds.ContentSequence = Sequence([findings])
    return ds


def _report_pdf(
    text: str,
    sop_uid: str,
    series_uid: str,
    patient: SimulatedPatient,
    study: dict[str, str],
    radiologist: str,
    vendor: Vendor,
) -> Dataset:
    """The report as an Encapsulated PDF (PS3.3 A.45.1), letterhead and patient data included."""
    ds = _report_instance(
        uid.EncapsulatedPDFStorage, sop_uid, "DOC", series_uid, 901, patient, study, vendor
    )
    ds.AcquisitionDateTime = study["date"] + study["time"]
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"  # the letterhead names the patient
    ds.DocumentTitle = "Referto radiologico"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic Imaging Report")])
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    family, _, given = patient.patient_name.partition("^")
    born = patient.patient_birth_date
    family_name, _, given_name = radiologist.partition("^")
    lines = [
        "OSPEDALE SIMULATO DI MILANO - U.O. di Radiologia",
        f"Paziente: {family} {given}   Nato/a il {born[6:]}/{born[4:6]}/{born[:4]}",
        f"Esame: {study['description']}   Accesso: {study['accession']}",
        "",
        *text.splitlines(),
        "",
        f"Il medico radiologo: Dott. {given_name.split('^')[0].title()} {family_name.title()}",
    ]
    document = text_pdf(lines)
    ds.EncapsulatedDocument = document + (b"\0" if len(document) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(document)
    return ds


def _shots(
    seed: int, index: int, vendor: Vendor, rng: np.random.Generator, hour: int, minute: int
) -> list[_Shot]:
    plan: list[tuple[View, Posture]] = [("ap", "standing"), ("lateral", "standing")]
    if rng.random() < 0.3:
        plan.reverse()
    if rng.random() < 0.15:
        plan += [("lateral", "flexion"), ("lateral", "extension")]
    if rng.random() < 0.05:
        plan.append(("ap", "supine"))
    descriptions = _DESCRIPTIONS[vendor.language]
    one_series = _uid(seed, index, "series")
    shots = []
    for number, (view, posture) in enumerate(plan, start=1):
        words = descriptions[(view, posture)]
        description = words[int(rng.integers(len(words)))]
        shots.append(
            _Shot(
                view=view,
                posture=posture,
                sop_uid=_uid(seed, index, f"{view}-{posture}"),
                series_uid=one_series
                if vendor.one_series
                else _uid(seed, index, f"series-{number}"),
                series_number=1 if vendor.one_series else number,
                series_description="RACHIDE LOMBARE" if vendor.one_series else description,
                protocol=description,
                time=f"{hour:02d}{minute:02d}{5 + 9 * number:02d}",
                number=number if vendor.one_series else 1,
            )
        )
    return shots


def generate_study(
    index: int,
    seed: int = 0,
    *,
    scale: float = 1.0,
    noise: NoiseRates = DEFAULT_NOISE,
    vendor_name: str | None = None,
    transfer_syntax: str | None = None,
    report_mix: tuple[float, float, float] = (0.85, 0.10, 0.05),
    burned_in_rate: float = 0.0,
) -> SimulatedStudy:
    """Generate study number ``index`` of the archive with ``seed``.

    ``scale`` shrinks the detectors (0.25: a quarter of the pixels per side,
    the same anatomy and field of view) for tests and demos. ``vendor_name``
    and ``transfer_syntax`` force the equipment (tests of every variant);
    ``report_mix`` gives the shares of SR, PDF and RIS-drop reports;
    ``burned_in_rate`` the share of studies whose device burns the patient's identity into
    the pixels (a fifth of those say so in BurnedInAnnotation).
    """
    rng = np.random.default_rng([seed, index])
    truth = draw_findings(rng)
    vendor = VENDORS[int(rng.choice(len(VENDORS), p=[v.weight for v in VENDORS]))]
    if vendor_name is not None:
        vendor = next(v for v in VENDORS if v.manufacturer == vendor_name)
    geometry = vendor.geometry if scale == 1.0 else vendor.geometry.scaled(scale)
    given = str(rng.choice(_GIVEN[truth.sex]))
    family = str(rng.choice(_FAMILY))
    day = dt.date(2016, 1, 4) + dt.timedelta(days=int(rng.integers(0, 730)))
    birth = day - dt.timedelta(days=int(truth.age * 365.25 + rng.integers(0, 365)))
    patient = SimulatedPatient(
        f"{family}^{given}", f"MRN{rng.integers(10**7, 10**8)}", birth.strftime("%Y%m%d"), truth.sex
    )
    hour, minute = int(rng.integers(8, 19)), int(rng.integers(0, 50))
    study = {
        "uid": simulated_study_uid(seed, index),
        "date": day.strftime("%Y%m%d"),
        "time": f"{hour:02d}{minute:02d}00",
        "id": f"{index + 1:06d}",
        "accession": f"ACC{seed % 1000:03d}{index:07d}",
        "description": str(rng.choice(_STUDY_DESCRIPTIONS)),
        "referrer": "MEDICO^CURANTE",
    }
    spine = build_spine(truth, rng, (geometry.height_mm, geometry.width_mm))
    shots = _shots(seed, index, vendor, rng, hour, minute)
    # drawn apart, so that the rest of the study is the same at any burned_in_rate
    burn_rng = np.random.default_rng([seed, index, 0xB0])
    burned = burn_rng.random() < burned_in_rate
    flagged = burned and burn_rng.random() < 0.2
    layouts = []
    datasets = []
    for shot in shots:
        marker = str(rng.choice(["L", "R", "SX", "DX", ""])) if shot.view == "ap" else ""
        pixels = render_view(
            spine,
            shot.view,
            geometry,
            rng,
            posture=shot.posture,
            exposure=Exposure(vendor.bits, vendor.monochrome1, marker),
        )
        if burned:
            burn = burn_annotation(
                pixels,
                name=patient.patient_name,
                birth_date=patient.patient_birth_date,
                accession=study["accession"],
                patient_id=patient.patient_id,
                institution=INSTITUTION,
                bits=vendor.bits,
                monochrome1=vendor.monochrome1,
                rng=np.random.default_rng([seed, index, 0xB1]),  # one device: one style
            )
            layouts.append(f"{burn.layout}/{burn.level}/{burn.font}/{burn.text_height}px")
        ds = _image(
            pixels, shot, vendor, geometry.spacing, patient, study, truth.age, rng, transfer_syntax
        )
        if flagged:
            ds.BurnedInAnnotation = "YES"
        elif burned and burn_rng.random() < 0.5:
            del ds.BurnedInAnnotation  # most devices say nothing of it
        datasets.append(ds)
    image_truth = spine.pair_truth()
    dynamic = any(shot.posture in ("flexion", "extension") for shot in shots)
    report = write_report(
        image_truth,
        _report_levels(truth, spine),
        rng,
        family=family,
        given=given,
        birth=birth,
        sex=truth.sex,
        study_date=day,
        noise=noise,
        dynamic_only=_dynamic_only(truth, image_truth) if dynamic else None,
        patient_id=patient.patient_id,
        accession_number=study["accession"],
    )
    radiologist = str(rng.choice(_RADIOLOGISTS))
    source = str(rng.choice(["sr", "pdf", "drop"], p=list(report_mix)))
    report_uids = (_uid(seed, index, "report"), _uid(seed, index, "series-report"))
    if source == "sr":
        extra: tuple[Dataset, ...] = (
            _report_sr(
                report.text,
                *report_uids,
                patient,
                study,
                radiologist,
                rng.random() < 0.2,
                vendor,
            ),
        )
    elif source == "pdf":
        extra = (_report_pdf(report.text, *report_uids, patient, study, radiologist, vendor),)
    else:
        extra = ()  # the RIS keeps it: see SimulatedStudy.report_source
    standing = {shot.view: shot.sop_uid for shot in shots if shot.posture == "standing"}
    return SimulatedStudy(
        index=index,
        study_instance_uid=study["uid"],
        accession_number=study["accession"],
        study_date=study["date"],
        patient=patient,
        truth=truth,
        image_truth=image_truth,
        report_text=report.text,
        report_states=report.states,
        planted_identifiers=report.planted,
        datasets=(*datasets, *extra),
        report_source=source,
        ap_sop_instance_uid=standing["ap"],
        lateral_sop_instance_uid=standing["lateral"],
        vendor=vendor.manufacturer,
        views=tuple(f"{s.view}/{s.posture}" for s in shots),
        burned_in="" if not burned else "flagged" if flagged else "unflagged",
        burned_in_layout=";".join(dict.fromkeys(layouts)),
    )


def _report_levels(truth: Truth, spine: Spine) -> dict[str, int]:
    levels = {key: value + 1 for key, value in truth.level.items()}
    if spine.wedge:
        levels["fractures"] = min(spine.wedge)
    return levels


def _dynamic_only(truth: Truth, shown: dict[str, int]) -> dict[str, int]:
    return {
        key: truth.severity[key]
        for key in ("anterolisthesis", "retrolisthesis")
        if truth.severity[key] and not shown[key]
    }


def write_study(study: SimulatedStudy, folder: Path, ris_dir: Path | None = None) -> list[Path]:
    """Write a study's instances as PS3.10 files under ``folder``; returns their paths.

    A report the RIS keeps (``report_source == "drop"``) is written to
    ``ris_dir/<AccessionNumber>.txt`` when ``ris_dir`` is given.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in study.datasets:
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    if study.report_source == "drop" and ris_dir is not None:
        ris_dir.mkdir(parents=True, exist_ok=True)
        (ris_dir / f"{study.accession_number}.txt").write_text(study.report_text, encoding="utf-8")
    return paths
