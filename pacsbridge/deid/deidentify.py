"""De-identification of DICOM headers (PS3.15 Annex E, Basic Application Level
Confidentiality Profile, with options) — see docs/deidentification.md.

:func:`deidentify` applies every row of Table E.1-1 (:mod:`pacsbridge.deid.profile`)
recursively inside sequences; removes private attributes, curves, overlays and
standard attributes it does not know; removes person names, shifts or removes
dates and remaps UIDs that the table does not list (belt and braces); remaps
every UID that is not a well-known DICOM UID through a keyed hash (so
references between instances survive); quarantines or masks burned-in
annotation; and records what was done (PatientIdentityRemoved,
DeidentificationMethod and its code sequence).

"Clean" (C) means no identifying information remains (PS3.15 E.3.5): every
free-text value the profile cleans, and every text value it keeps, goes
through the text de-identifier (:mod:`pacsbridge.deid.text`) with every
identifier of the header (:func:`~pacsbridge.deid.identifiers.header_identifiers`)
and its pattern families; a cleaned value in which a known identifier can
still be found is removed (fail closed). An :class:`DeidentifiedInstance` cannot
be built while any identifier of its header is still in any text value.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.datadict import dictionary_has_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID_dictionary

from pacsbridge.deid.identifiers import IdentifierKind, KnownIdentifier, header_identifiers
from pacsbridge.deid.profile import DeidOptions, Profile, load_profile
from pacsbridge.deid.text import deidentify_text, find_identifiers
from pacsbridge.errors import InvalidInstance
from pacsbridge.values import first, lenient_date, single_uid

__all__ = [
    "DeidOptions",
    "DeidentifiedInstance",
    "OriginalIdentity",
    "Pseudonymiser",
    "blank_pixel_boxes",
    "deidentify",
    "record_clean_pixel_data",
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
#: Free text: what a person may have typed anything into, names included.
_FREE_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC"}
_DUMMY = {
    "PN": "DEIDENTIFIED",
    "LO": "DEIDENTIFIED",
    "SH": "DEIDENTIFIED",
    "CS": "DEIDENTIFIED",
    "LT": "DEIDENTIFIED",
    "ST": "DEIDENTIFIED",
    "UT": "DEIDENTIFIED",
    "UC": "DEIDENTIFIED",
    "AE": "DEIDENTIFIED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
    "UR": "",
}


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
    identifiers: tuple[KnownIdentifier, ...] = ()
    """Every identifying string of the header (:func:`header_identifiers`)."""

    @classmethod
    def from_dataset(cls, ds: Dataset, options: DeidOptions | None = None) -> OriginalIdentity:
        """The identity of ``ds``; ``identifiers`` leaves out what ``options`` keep."""

        def text(keyword: str) -> str:
            value = first(ds.get(keyword, ""))  # the first of several values
            return "" if value is None else str(value)

        fields = [name for name in cls.__dataclass_fields__ if name != "identifiers"]
        return cls(
            **{name: text(_keyword(name)) for name in fields},
            identifiers=header_identifiers(ds, options),
        )

    @classmethod
    def bare(cls, **fields: str) -> OriginalIdentity:
        """An identity that knows only ``fields`` (the rest empty), e.g. what a C-FIND says."""
        names = [name for name in cls.__dataclass_fields__ if name != "identifiers"]
        values: dict[str, Any] = {name: fields.get(name, "") for name in names}
        return cls(**values)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary (:meth:`from_dict` reads it back)."""
        data: dict[str, object] = {
            name: getattr(self, name) for name in self.__dataclass_fields__ if name != "identifiers"
        }
        data["identifiers"] = [[item.kind.value, item.value] for item in self.identifiers]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OriginalIdentity:
        """An identity from :meth:`as_dict` (older rows have no ``identifiers``)."""
        raw = dict(data)
        pairs = raw.pop("identifiers", None) or []
        known = tuple(KnownIdentifier(IdentifierKind(kind), str(value)) for kind, value in pairs)
        return cls(**{k: str(v) for k, v in raw.items()}, identifiers=known)

    def known(self) -> tuple[KnownIdentifier, ...]:
        """Every identifier that must not survive in de-identified data: the header's,
        and the patient's own name, ID, birth date and accession number."""
        core = [
            KnownIdentifier(IdentifierKind.PATIENT_ID, self.patient_id),
            KnownIdentifier(IdentifierKind.BIRTH_DATE, self.patient_birth_date),
            KnownIdentifier(IdentifierKind.ORDER_ID, self.accession_number),
            *header_identifiers(_named(self.patient_name)),
        ]
        items = [*self.identifiers, *(item for item in core if len(item.value.strip()) >= 3)]
        return tuple(dict.fromkeys(items))

    def described(self) -> list[tuple[KnownIdentifier, str]]:
        """Each of :meth:`known` and the original UIDs with what it is, in the words of an
        audit hit or a quarantine reason (``patient name``, ``birth date``, ``study UID``…),
        never its value."""
        own = {
            self.patient_id: "patient ID",
            self.patient_birth_date: "birth date",
            self.accession_number: "accession number",
        }
        patient = set(re.split(r"[\^=\s]+", self.patient_name.upper()))
        referrer = set(re.split(r"[\^=\s]+", self.referring_physician_name.upper())) - {""}
        found = []
        for item in self.known():
            if item.kind is IdentifierKind.PERSON_NAME and item.value.upper() in patient:
                found.append((item, "patient name"))
            elif item.kind is IdentifierKind.PERSON_NAME and item.value.upper() in referrer:
                found.append((item, "referring physician"))
            else:
                found.append((item, own.get(item.value, item.kind.value)))
        for kind, uid in (
            ("study UID", self.study_instance_uid),
            ("series UID", self.series_instance_uid),
            ("SOP instance UID", self.sop_instance_uid),
        ):
            if uid:
                found.append((KnownIdentifier(IdentifierKind.ORIGINAL_UID, uid), kind))
        return found


def _named(name: str) -> Dataset:
    ds = Dataset()
    ds.PatientName = name
    return ds


def _keyword(name: str) -> str:
    """The DICOM keyword of a snake-case field (``sop_class_uid`` → ``SOPClassUID``)."""
    special = {"uid": "UID", "id": "ID", "sop": "SOP"}
    return "".join(special.get(part, part.capitalize()) for part in name.split("_"))


@dataclass(frozen=True)
class DeidentifiedInstance:
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
        leaks = _find_values(self.dataset, self.original.known())
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


#: Value representations whose values are searched for identifiers left behind (numbers,
#: times and UIDs aside: UIDs are remapped, the others cannot name anyone).
_SEARCHED_VRS = _TEXT_VRS - {"AS", "DS", "IS", "TM"}


def _find_values(ds: Dataset, known: tuple[KnownIdentifier, ...]) -> set[str]:
    """Keywords of the text attributes (at any depth) in which a known identifier is found."""
    found: set[str] = set()
    for elem in ds.iterall():
        if elem.VR in _SEARCHED_VRS and elem.value not in (None, ""):
            values = elem.value if elem.VM > 1 else [elem.value]
            if any(find_identifiers(str(v), known) for v in values):
                found.add(elem.keyword or str(elem.tag))
    return found


def _shift(value: str, vr: str, days: int) -> str:
    if not value:
        return value
    normal = lenient_date(value[:8] if vr == "DT" else value)
    if normal is None:
        return ""  # an unparseable date is removed, never kept
    day = dt.date(int(normal[:4]), int(normal[4:6]), int(normal[6:]))
    try:
        shifted = day - dt.timedelta(days=days)
    except OverflowError:
        return ""  # before the year 1: not a date anyone recorded
    text = f"{shifted.year:04d}{shifted.month:02d}{shifted.day:02d}"
    return text + (value[8:] if vr == "DT" else "")


#: Longest value of each text VR (PS3.5 6.2): a cleaned value may not grow past it.
_MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "ST": 1024, "LT": 10240}


def _clean_text(value: str, vr: str, known: tuple[KnownIdentifier, ...], shift: int) -> str:
    """``value`` de-identified as free text; removed ("") when a known identifier is still
    found in what is left (fail closed). Unchanged when nothing in it identifies."""
    cleaned = deidentify_text(value, known, date_shift_days=shift)
    if cleaned == value:
        return value
    if vr in ("AE", "CS"):
        return ""  # a code with a name in it: no tag fits the value representation
    cleaned = re.sub(r"\s{2,}", " ", cleaned).strip()[: _MAX_LENGTH.get(vr, len(cleaned))]
    return "" if find_identifiers(cleaned, known) else cleaned


def _dummy(elem: DataElement) -> object:
    text = _DUMMY.get(elem.VR, "")
    if elem.VR in ("SH", "CS", "AE"):
        text = text[:16]
    return text


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
        self.known = identity.known()
        self.shift_days = shift_days
        self.profile: Profile = load_profile()

    def walk(self, ds: Dataset) -> None:
        ds.remove_private_tags()  # Table E.1-1: private attributes X
        for elem in list(ds):
            group = elem.tag.group
            if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
                del ds[elem.tag]  # curves and overlays: X (Clean Graphics is not offered)
                continue
            self._apply(ds, elem)

    def _apply(self, ds: Dataset, elem: DataElement) -> None:
        action = self.profile.action(int(elem.tag), self.options)
        if action is None:
            action = self._unlisted(elem)
        if elem.VR == "SQ":
            self._sequence(ds, elem, action)
            return
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = ""
        elif action == "D":
            elem.value = self._remap(elem) if elem.VR == "UI" else _dummy(elem)
        elif action in ("U", "U*"):
            elem.value = self._remap(elem)
        elif action == "C":
            elem.value = self._clean(elem)
        elif elem.VR == "UI":  # K: a kept UID still may not be a clinical one
            elem.value = self._remap(elem)
        elif elem.VR in _FREE_TEXT_VRS:  # K: kept text still may not name anyone
            elem.value = self._clean(elem)

    def _unlisted(self, elem: DataElement) -> str:
        """Attributes Table E.1-1 does not list. For safety beyond the profile: attributes
        missing from the data dictionary and person names go; dates are shifted (or go);
        UIDs are remapped; text is cleaned of the patient's known identifiers."""
        if elem.tag.group % 2 == 0 and elem.tag.element and not dictionary_has_tag(elem.tag):
            return "X"
        if elem.VR == "PN":
            return "X"
        if elem.VR in ("DA", "DT"):
            return "C" if self.options.retain_longitudinal_modified_dates else "X"
        if elem.VR == "UI":
            return "U"
        if elem.VR in _TEXT_VRS and elem.VR not in ("TM", "AS", "DS", "IS"):
            return "C"
        return "K"

    def _sequence(self, ds: Dataset, elem: DataElement, action: str) -> None:
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = Sequence()
        else:  # K, C, D, U*: keep the items, de-identified like the top level
            for item in elem.value:
                self.walk(item)

    def _clean(self, elem: DataElement) -> object:
        if elem.VR in ("DA", "DT"):
            return _shift_value(elem, self.shift_days)
        if elem.VR == "TM":
            return elem.value  # a shift of whole days leaves times of day as they are
        if elem.VR == "UI":
            return self._remap(elem)
        if elem.VR in _TEXT_VRS:
            values = elem.value if elem.VM > 1 else [elem.value]
            shift = self.shift_days
            cleaned = [_clean_text(str(v or ""), elem.VR, self.known, shift) for v in values]
            return cleaned if elem.VM > 1 else cleaned[0]
        return elem.value

    def _remap(self, elem: DataElement) -> object:
        if elem.value in (None, ""):
            return elem.value
        if elem.VM > 1:
            return [self._remap_one(str(v)) for v in elem.value]
        return self._remap_one(str(elem.value))

    def _remap_one(self, uid: str) -> str:
        return uid if uid in UID_dictionary else self.pseudonymiser.uid(uid)


def _shift_value(elem: DataElement, days: int) -> object:
    if elem.VM > 1:
        return [_shift(str(v), elem.VR, days) for v in elem.value]
    return _shift(str(elem.value or ""), elem.VR, days)


def _mask(ds: Dataset, regions: tuple[tuple[float, float, float, float], ...], where: str) -> None:
    """Blank rectangles (fractions of the image) of a greyscale image's pixel data."""
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    boxes = [
        (int(top * rows), int(left * cols), int(np.ceil(bottom * rows)), int(np.ceil(right * cols)))
        for top, left, bottom, right in regions
    ]
    blank_pixel_boxes(ds, boxes, where)


def blank_pixel_boxes(ds: Dataset, boxes: Iterable[tuple[int, int, int, int]], where: str) -> None:
    """Blank rectangles (top, left, bottom, right, in pixels) of a greyscale image's pixel
    data, every frame, to black as displayed; compressed pixel data is written back
    uncompressed (Explicit VR Little Endian).

    Raises
    ------
    InvalidInstance
        A colour image, or pixel data that cannot be decoded.
    """
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise InvalidInstance(
            where, "burned-in annotation on a colour image: masking covers greyscale images only"
        )
    try:
        pixels = ds.pixel_array.copy()
    except (ValueError, RuntimeError, NotImplementedError, AttributeError) as exc:
        raise InvalidInstance(
            where, f"burned-in annotation, and pixels cannot be masked: {exc}"
        ) from None
    frames = pixels if pixels.ndim == 3 else pixels[None]
    fill = (
        frames.max() if str(ds.get("PhotometricInterpretation")) == "MONOCHROME1" else frames.min()
    )
    for top, left, bottom, right in boxes:
        frames[:, max(0, top) : bottom, max(0, left) : right] = fill
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress()
    ds.PixelData = pixels.tobytes()
    ds.BurnedInAnnotation = "NO"


def record_clean_pixel_data(ds: Dataset, options: DeidOptions) -> None:
    """Say in ``ds``'s De-identification Method (text and codes) that burned-in text was
    blanked: the Clean Pixel Data Option (PS3.15 E.3.1)."""
    ds.DeidentificationMethod = _method_text(options, True)
    ds.DeidentificationMethodCodeSequence = _method_codes(options, True)


DEFAULT_OPTIONS = DeidOptions()


def deidentify(
    ds: Dataset, pseudonymiser: Pseudonymiser, options: DeidOptions = DEFAULT_OPTIONS
) -> DeidentifiedInstance:
    """De-identify one instance; ``ds`` is not modified.

    Raises
    ------
    InvalidInstance
        The instance lacks a Study/Series/SOP Instance UID; it carries burned-in
        annotation and the policy is ``quarantine`` (or masking failed); or
        identifying data survived (see :class:`DeidentifiedInstance`).
    """
    where = "instance without a valid SOPInstanceUID"
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if keyword not in ds or not ds[keyword].value:
            raise InvalidInstance(where, f"missing {keyword}")
        if single_uid(ds[keyword].value) is None:
            raise InvalidInstance(where, f"{keyword} is not one valid UID")
    identity = OriginalIdentity.from_dataset(ds, options)
    where = pseudonymiser.uid(identity.sop_instance_uid)
    burned_in = str(ds.get("BurnedInAnnotation", "")).upper() == "YES" or (
        identity.sop_class_uid in options.burned_in_sop_classes
    )
    if burned_in and options.burned_in != "mask":
        raise InvalidInstance(
            where,
            "burned-in annotation (BurnedInAnnotation YES or an image "
            "type that carries it): pixel data may identify the patient",
        )
    shift = pseudonymiser.date_shift_days(identity.patient_id)
    out = copy.deepcopy(ds)
    if burned_in and "PixelData" in out:
        _mask(out, options.mask_regions, where)
    _Walker(pseudonymiser, options, identity, shift).walk(out)
    pseudonym = pseudonymiser.patient_id(identity.patient_id)
    out.PatientName = pseudonym
    out.PatientID = pseudonym
    out.PatientBirthDate = ""
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = _method_text(options, burned_in)
    out.DeidentificationMethodCodeSequence = _method_codes(options, burned_in)
    if options.retain_longitudinal_modified_dates:
        out.LongitudinalTemporalInformationModified = "MODIFIED"
    meta = getattr(out, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    return DeidentifiedInstance(out, identity, shift)


_OPTION_CODES = (
    (
        "retain_longitudinal_modified_dates",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    ("retain_patient_characteristics", "113108", "Retain Patient Characteristics Option"),
    ("retain_device_identity", "113109", "Retain Device Identity Option"),
    ("retain_institution_identity", "113112", "Retain Institution Identity Option"),
    ("clean_descriptors", "113105", "Clean Descriptors Option"),
)


def _method_text(options: DeidOptions, masked: bool) -> str:
    used = [name for name, _, _ in _OPTION_CODES if getattr(options, name)]
    if masked:
        used.append("clean_pixel_data")
    return ("pacslabel PS3.15 E.1-1" + (" + " + ", ".join(used) if used else ""))[:64]


def _method_codes(options: DeidOptions, masked: bool) -> Sequence:
    items = [("113100", "Basic Application Confidentiality Profile")]
    items += [(code, meaning) for name, code, meaning in _OPTION_CODES if getattr(options, name)]
    if masked:
        items.append(("113101", "Clean Pixel Data Option"))
    sequence = Sequence()
    for value, meaning in items:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        sequence.append(item)
    return sequence
