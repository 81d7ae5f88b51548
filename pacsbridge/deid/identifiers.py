"""Every identifying string a DICOM header carries, by kind.

A header says who the patient is in many places besides Patient's Name and
ID: other names and IDs (and their issuers), birth and mother's birth names,
addresses, telephone numbers and e-mail, every physician, operator, observer
and content creator (any PN attribute, at any depth), accession, study and
order numbers, the institution, its department and address, station names and
device serial numbers. :func:`header_identifiers` collects them; the text
de-identifier (:mod:`pacsbridge.deid.text`) removes them wherever they are
written again — in free-text attributes, in report text, in SR content — and
the linkage vault keeps them (encrypted) so that an audit knows what to look for.

Which attributes are identifying is decided here, by keyword: the Basic
Profile's table (PS3.15 E.1-1) lists what to *do* with each attribute, not
whether its value names someone (a Requested Procedure Description is removed
too, but "RX COLONNA" is no identifier).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from pacsbridge.deid.profile import DeidOptions, load_profile

__all__ = ["IdentifierKind", "KnownIdentifier", "header_identifiers", "name_parts"]


class IdentifierKind(enum.StrEnum):
    """What a known identifier is (its replacement tag in text follows from it)."""

    PERSON_NAME = "person name"
    PATIENT_ID = "patient ID"
    ORDER_ID = "accession or order number"
    ADDRESS = "address"
    TELECOM = "telephone or e-mail"
    INSTITUTION = "institution"
    DEVICE = "station or device"
    BIRTH_DATE = "birth date"
    ORIGINAL_UID = "original UID"
    """A clinical Study/Series/SOP Instance UID (remapped in headers; looked for by audits)."""


@dataclass(frozen=True, slots=True, order=True)
class KnownIdentifier:
    """One identifying string known from a header."""

    kind: IdentifierKind
    value: str


_K = IdentifierKind
#: Identifying attributes other than person names (every PN is one), by keyword.
SOURCES: dict[str, IdentifierKind] = {
    **dict.fromkeys(
        (
            "PatientID",
            "IssuerOfPatientID",
            "OtherPatientIDs",
            "MedicalRecordLocator",
            "InsurancePlanIdentification",
            "AdmissionID",
            "IssuerOfAdmissionID",
            "ServiceEpisodeID",
            "IssuerOfServiceEpisodeID",
            "ClinicalTrialSubjectID",
            "ClinicalTrialSubjectReadingID",
            "MilitaryRank",
            "BranchOfService",
        ),
        _K.PATIENT_ID,
    ),
    **dict.fromkeys(
        (
            "AccessionNumber",
            "StudyID",
            "StudyIDIssuer",
            "RequestedProcedureID",
            "ScheduledProcedureStepID",
            "PerformedProcedureStepID",
            "PlacerOrderNumberImagingServiceRequest",
            "FillerOrderNumberImagingServiceRequest",
            "SpecimenAccessionNumber",
        ),
        _K.ORDER_ID,
    ),
    **dict.fromkeys(
        (
            "PatientAddress",
            "InstitutionAddress",
            "ReferringPhysicianAddress",
            "PersonAddress",
            "RegionOfResidence",
            "PatientInstitutionResidence",
            "ScheduledPatientInstitutionResidence",
            "CurrentPatientLocation",
            "DistributionAddress",
            "AddressTrial",
        ),
        _K.ADDRESS,
    ),
    **dict.fromkeys(
        (
            "PatientTelephoneNumbers",
            "ReferringPhysicianTelephoneNumbers",
            "PersonTelephoneNumbers",
            "OrderCallbackPhoneNumber",
            "TelephoneNumberTrial",
            "PatientTelecomInformation",
            "PersonTelecomInformation",
            "OrderCallbackTelecomInformation",
        ),
        _K.TELECOM,
    ),
    **dict.fromkeys(
        (
            "InstitutionName",
            "InstitutionalDepartmentName",
            "ResponsibleOrganization",
            "VerifyingOrganization",
            "HumanPerformerOrganization",
        ),
        _K.INSTITUTION,
    ),
    **dict.fromkeys(
        (
            "StationName",
            "DeviceSerialNumber",
            "DetectorID",
            "PlateID",
            "CassetteID",
            "GantryID",
            "GeneratorID",
            "SourceSerialNumber",
            "LensSerialNumber",
            "ScheduledStationName",
            "PerformedStationName",
            "PerformedLocation",
            "ScheduledStudyLocation",
            "ScheduledProcedureStepLocation",
            "RequestedProcedureLocation",
            "OrderEntererLocation",
            "ScheduledStationAETitle",
            "PerformedStationAETitle",
            "ScheduledStudyLocationAETitle",
        ),
        _K.DEVICE,
    ),
    "PatientBirthDate": _K.BIRTH_DATE,
}

_MIN_LENGTH = 3
#: Words of a name that are not the name: particles and titles, searched for only as
#: part of the whole component ("DELLA VALLE"), never alone.
_NAME_PARTICLES = frozenset(
    [
        "de",
        "di",
        "da",
        "del",
        "dei",
        "della",
        "dello",
        "delle",
        "degli",
        "dal",
        "dalla",
        "dall",
        "van",
        "von",
        "der",
        "den",
        "ten",
        "la",
        "le",
        "lo",
        "dott",
        "dott.ssa",
        "dr",
        "prof",
        "ing",
        "avv",
        "sig",
        "sig.ra",
        "sig.na",
        "tsrm",
    ]
)


def name_parts(name: str) -> list[str]:
    """The parts of a person name worth looking for: the family, given and middle name
    of each group (``FAMILY^GIVEN^MIDDLE^PREFIX^SUFFIX``; alphabetic ``=`` ideographic
    ``=`` phonetic), and each word of a part of several words, particles and titles
    aside ("DELLA VALLE" is looked for whole, "VALLE" alone, "DELLA" never). A name
    written without carets (``Dott. Mario Rossi``) is split into its words."""
    parts: list[str] = []
    for group in str(name).split("="):
        components = group.split("^")[:3] if "^" in group else [group]
        for component in components:
            component = component.strip()
            if not component:
                continue
            words = [w for w in re.split(r"[\s,]+", component) if w]
            kept = [w for w in words if w.lower().strip(".") not in _NAME_PARTICLES]
            if "^" in group or len(words) == 1:
                parts.append(component)
            parts += kept if len(words) > 1 else []
    return [p for p in dict.fromkeys(parts) if _long_enough(p.strip(".'’ "))]


def _long_enough(text: str) -> bool:
    """Three characters, or two of a script written without spaces (山田)."""
    return len(text) >= _MIN_LENGTH or (len(text) == 2 and all(ord(c) >= 0x2E80 for c in text))


def _values(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str | PersonName):
        return [str(value)]
    if isinstance(value, Iterable):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def header_identifiers(
    ds: Dataset, options: DeidOptions | None = None
) -> tuple[KnownIdentifier, ...]:
    """Every identifying string of ``ds``, at any depth of any sequence.

    Values that ``options`` keep in the de-identified header (Retain Device
    Identity keeps the station name, Retain Institution Identity the
    institution) are not identifiers the de-identification removes, so they
    are left out; without ``options`` every one is returned. Person names of
    private attributes count too.
    """
    profile = load_profile()
    found: dict[KnownIdentifier, None] = {}
    for elem in ds.iterall():
        kind = _K.PERSON_NAME if elem.VR == "PN" else SOURCES.get(elem.keyword or "")
        if kind is None:
            continue
        if options is not None and profile.action(int(elem.tag), options) == "K":
            continue
        for value in _values(elem.value):
            pieces = name_parts(value) if kind is _K.PERSON_NAME else [value.strip()]
            for piece in pieces:
                if _long_enough(piece):
                    found[KnownIdentifier(kind, piece)] = None
    return tuple(found)
