"""De-identification of DICOM headers (PS3.15 Annex E, Basic Application Level
Confidentiality Profile, with options).

The profile is a data table shipped with the package (``deid_profile.csv``).
:func:`anonymise` applies it recursively inside sequences, removes private
attributes, overlays and curves, remaps every UID that is not a well-known
DICOM UID through a keyed hash (so references between instances survive),
shifts dates by a per-patient offset, and records what was done in the
dataset (PatientIdentityRemoved, DeidentificationMethod and its code
sequence). The result is checked: an :class:`AnonymisedInstance` cannot be
built while the patient's name, ID or birth date is still in any text value.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID_dictionary

from pacsbridge.errors import InvalidInstance

__all__ = [
    "AnonymisedInstance",
    "DeidOptions",
    "OriginalIdentity",
    "Pseudonymiser",
    "anonymise",
]

_TEXT_VRS = {
    "AE",
    "AS",
    "CS",
    "DA",
    "DS",
    "DT",
    "IS",
    "LO",
    "LT",
    "PN",
    "SH",
    "ST",
    "TM",
    "UC",
    "UT",
    "UR",
}
_DESCRIPTORS = {"StudyDescription", "SeriesDescription", "ProtocolName"}
_CHARACTERISTICS = {"PatientSex", "PatientAge", "PatientSize", "PatientWeight"}


@cache
def _profile() -> dict[BaseTag, str]:
    text = (resources.files("pacsbridge") / "deid_profile.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {Tag(int(row["tag"], 16)): row["action"] for row in rows}


@dataclass(frozen=True, slots=True)
class DeidOptions:
    """The PS3.15 E.3 options in use (each one a setting)."""

    retain_longitudinal_modified_dates: bool = True
    retain_patient_characteristics: bool = True
    clean_descriptors: bool = True


class Pseudonymiser:
    """Deterministic keyed pseudonyms: UIDs, patient IDs and date shifts.

    The same key always gives the same pseudonyms, so a study ingested
    twice maps to the same UIDs and every reference between instances is
    kept. The key never leaves the process.

    Parameters
    ----------
    key
        At least 16 bytes of secret.
    max_date_shift_days
        Dates move back by 1 to this many days, the same for all of a patient's studies.

    Raises
    ------
    ValueError
        When the key is shorter than 16 bytes.
    """

    def __init__(self, key: bytes, max_date_shift_days: int = 365) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonymisation key must be at least 16 bytes")
        self._key = key
        self._max_shift = max_date_shift_days

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """A ``2.25.<int>`` UID (PS3.5 B.2) derived from ``original``."""
        return "2.25." + str(int.from_bytes(self._digest("uid", original)[:16], "big"))

    def patient_id(self, original: str) -> str:
        """A pseudonymous patient identifier (16 hexadecimal digits, prefix ``P``)."""
        return "P" + self._digest("patient", original).hex()[:15].upper()

    def date_shift_days(self, patient_id: str) -> int:
        """How many days this patient's dates move back (1 … max)."""
        return 1 + int.from_bytes(self._digest("date", patient_id)[:4], "big") % self._max_shift


@dataclass(frozen=True, slots=True)
class OriginalIdentity:
    """The clinical identifiers of one instance: only ever stored encrypted (linkage)."""

    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    accession_number: str
    study_id: str
    study_date: str
    study_time: str
    referring_physician_name: str
    modality: str

    @classmethod
    def from_dataset(cls, ds: Dataset) -> OriginalIdentity:
        def text(keyword: str) -> str:
            value = ds.get(keyword, "")
            return "" if value is None else str(value)

        return cls(**{name: text(_keyword(name)) for name in cls.__dataclass_fields__})

    def identifying_values(self) -> list[str]:
        """Values that must not survive anywhere in de-identified data."""
        values = [self.patient_id, self.patient_birth_date, self.accession_number]
        values += [part for part in re.split(r"[\^ ]+", self.patient_name) if len(part) >= 3]
        return [v for v in values if v and len(v) >= 3]


def _keyword(name: str) -> str:
    """The DICOM keyword of a snake-case field (``sop_class_uid`` → ``SOPClassUID``)."""
    special = {"uid": "UID", "id": "ID", "sop": "SOP"}
    return "".join(special.get(part, part.capitalize()) for part in name.split("_"))


@dataclass(frozen=True)
class AnonymisedInstance:
    """A de-identified dataset and the clinical identity it came from.

    Raises
    ------
    InvalidInstance
        On construction, when an identifying value of ``original`` is still
        present in any text attribute of ``dataset`` (at any depth).
    """

    dataset: Dataset
    original: OriginalIdentity
    date_shift_days: int

    def __post_init__(self) -> None:
        leaks = _find_values(self.dataset, self.original.identifying_values())
        if leaks:
            raise InvalidInstance(
                self.dataset.get("SOPInstanceUID", "instance"),
                f"identifying data left in {', '.join(sorted(leaks))} after de-identification",
            )

    @property
    def study_instance_uid(self) -> str:
        return str(self.dataset.StudyInstanceUID)

    @property
    def series_instance_uid(self) -> str:
        return str(self.dataset.SeriesInstanceUID)

    @property
    def sop_instance_uid(self) -> str:
        return str(self.dataset.SOPInstanceUID)


def _find_values(ds: Dataset, values: list[str]) -> set[str]:
    found: set[str] = set()
    needles = [v.upper() for v in values]
    for elem in ds.iterall():
        if elem.VR in _TEXT_VRS and elem.value not in (None, ""):
            text = str(elem.value).upper()
            if any(n in text for n in needles):
                found.add(elem.keyword or str(elem.tag))
    return found


def _shift(value: str, vr: str, days: int) -> str:
    if not value:
        return value
    try:
        day = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return ""  # an unparseable date is removed, never kept
    shifted = (day - dt.timedelta(days=days)).strftime("%Y%m%d")
    return shifted + (value[8:] if vr == "DT" else "")


def _clean_text(value: str, identity: OriginalIdentity) -> str:
    for needle in identity.identifying_values():
        value = re.sub(re.escape(needle), "", value, flags=re.IGNORECASE)
    return re.sub(r"\s{2,}", " ", value).strip()


def _is_well_known(uid: str) -> bool:
    return uid in UID_dictionary


class _Walker:
    def __init__(
        self,
        pseudonymiser: Pseudonymiser,
        options: DeidOptions,
        identity: OriginalIdentity,
        shift_days: int,
    ) -> None:
        self.pseudonymiser = pseudonymiser
        self.options = options
        self.identity = identity
        self.shift_days = shift_days
        self.profile = _profile()

    def walk(self, ds: Dataset) -> None:
        ds.remove_private_tags()
        for elem in list(ds):
            group = elem.tag.group
            if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF):
                del ds[elem.tag]  # curves and overlays (E.1-1 "Curve Data", "Overlay Data")
                continue
            self._apply(ds, elem)

    def _apply(self, ds: Dataset, elem: DataElement) -> None:
        action = self.profile.get(elem.tag)
        keyword = elem.keyword
        if keyword in _CHARACTERISTICS and self.options.retain_patient_characteristics:
            action = "K"
        if keyword in _DESCRIPTORS and self.options.clean_descriptors:
            action = "C"
        if elem.VR == "SQ":
            if action in ("X", "Z", "D"):
                del ds[elem.tag]
                return
            for item in elem.value:
                self.walk(item)
            return
        if elem.VR in ("DA", "DT") and action != "K" and keyword != "PatientBirthDate":
            if self.options.retain_longitudinal_modified_dates:
                elem.value = _shift_value(elem, self.shift_days)
            else:
                del ds[elem.tag]
            return
        if elem.VR == "TM" and self.options.retain_longitudinal_modified_dates:
            return  # times of day stay with their (shifted) dates
        if action == "X":
            del ds[elem.tag]
        elif action in ("Z", "D"):
            elem.value = "" if elem.VR != "SQ" else Sequence()
        elif action == "C":
            elem.value = _clean_text(str(elem.value or ""), self.identity)
        elif action == "U" or elem.VR == "UI":
            elem.value = self._remap(elem)
        elif action is None and elem.VR == "PN":
            del ds[elem.tag]

    def _remap(self, elem: DataElement) -> object:
        if elem.value in (None, ""):
            return elem.value
        if elem.VM > 1:
            return [self._remap_one(str(v)) for v in elem.value]
        return self._remap_one(str(elem.value))

    def _remap_one(self, uid: str) -> str:
        return uid if _is_well_known(uid) else self.pseudonymiser.uid(uid)


def _shift_value(elem: DataElement, days: int) -> object:
    if elem.VM > 1:
        return [_shift(str(v), elem.VR, days) for v in elem.value]
    return _shift(str(elem.value or ""), elem.VR, days)


def anonymise(
    ds: Dataset, pseudonymiser: Pseudonymiser, options: DeidOptions = DeidOptions()
) -> AnonymisedInstance:
    """De-identify one instance; ``ds`` is not modified.

    Parameters
    ----------
    ds
        A complete instance as received from the PACS.
    pseudonymiser
        Gives the UIDs, the patient pseudonym and the date shift.
    options
        The PS3.15 E.3 options in use.

    Returns
    -------
    AnonymisedInstance
        The de-identified copy and the original identity (for the linkage table).

    Raises
    ------
    InvalidInstance
        The instance lacks a Study/Series/SOP Instance UID, says it has burned-in
        annotation, or identifying data survived (see :class:`AnonymisedInstance`).
    """
    where = "instance without SOPInstanceUID"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not ds.get(keyword):
            raise InvalidInstance(where, f"missing {keyword}")
    identity = OriginalIdentity.from_dataset(ds)
    where = pseudonymiser.uid(identity.sop_instance_uid)
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        raise InvalidInstance(
            where, "BurnedInAnnotation is YES: pixel data may identify the patient"
        )
    shift = pseudonymiser.date_shift_days(identity.patient_id)
    out = copy.deepcopy(ds)
    _Walker(pseudonymiser, options, identity, shift).walk(out)
    pseudonym = pseudonymiser.patient_id(identity.patient_id)
    out.PatientName = pseudonym
    out.PatientID = pseudonym
    out.PatientBirthDate = ""
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = _method_text(options)
    out.DeidentificationMethodCodeSequence = _method_codes(options)
    if (
        "LongitudinalTemporalInformationModified" in out
        or options.retain_longitudinal_modified_dates
    ):
        out.LongitudinalTemporalInformationModified = (
            "MODIFIED" if options.retain_longitudinal_modified_dates else "REMOVED"
        )
    if (
        getattr(out, "file_meta", None) is not None
        and "MediaStorageSOPInstanceUID" in out.file_meta
    ):
        out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    return AnonymisedInstance(out, identity, shift)


_OPTION_CODES = (
    (
        "retain_longitudinal_modified_dates",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    ("retain_patient_characteristics", "113108", "Retain Patient Characteristics Option"),
    ("clean_descriptors", "113105", "Clean Descriptors Option"),
)


def _method_text(options: DeidOptions) -> str:
    used = [name for name, _, _ in _OPTION_CODES if getattr(options, name)]
    return ("pacslabel PS3.15 E.1-1 basic profile" + (" + " + ", ".join(used) if used else ""))[:64]


def _method_codes(options: DeidOptions) -> Sequence:
    items = [("113100", "Basic Application Confidentiality Profile")]
    items += [(code, meaning) for name, code, meaning in _OPTION_CODES if getattr(options, name)]
    sequence = Sequence()
    for value, meaning in items:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        sequence.append(item)
    return sequence
