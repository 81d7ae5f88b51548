"""Property-based: identifiers hidden anywhere in a dataset never survive de-identification."""

from __future__ import annotations

import datetime as dt
import re

from hypothesis import event, given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacsbridge import DeidOptions, InvalidInstance, Pseudonymiser, deidentify

PSEUDONYMISER = Pseudonymiser(b"property-test-key-0123")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _own_text() -> str:
    """What the de-identifier writes itself (method, profile names…), upper case: a drawn
    "name" found in it ("PACS" in "PACSLABEL PS3.15…") is no identifier that survived."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2", "1.2.4"
    out = deidentify(ds, PSEUDONYMISER).dataset
    return " ".join(str(e.value) for e in out.iterall() if e.VR not in ("SQ", "OB", "OW")).upper()


_OWN = _own_text()
names = st.text(alphabet=_LETTERS, min_size=4, max_size=10).filter(lambda n: n not in _OWN)
patient_ids = st.text(alphabet="0123456789", min_size=6, max_size=10).map(lambda s: f"PID{s}")
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)).map(
    lambda d: d.strftime("%Y%m%d")
)
_HEADER = {"PatientName", "PatientID", "AccessionNumber", "PatientBirthDate"}

# Where an identifier can hide: (keyword, VR) of listed and unlisted attributes, in any item.
_PLACES = [
    ("PatientName", "PN"),
    ("OtherPatientNames", "PN"),
    ("ReferringPhysicianName", "PN"),
    ("PerformingPhysicianName", "PN"),
    ("OtherPatientIDs", "LO"),
    ("PatientID", "LO"),
    ("ImageComments", "LT"),
    ("StudyDescription", "LO"),
    ("SeriesDescription", "LO"),
    ("ProtocolName", "LO"),
    ("AdditionalPatientHistory", "LT"),
    ("PatientBirthDate", "DA"),
    ("AccessionNumber", "SH"),
    ("BodyPartExamined", "CS"),
    ("DerivationDescription", "ST"),
    ("CodeMeaning", "LO"),
    ("TextValue", "UT"),
    ("PatientComments", "LT"),
]
_SEQUENCES = [
    "ReferencedStudySequence",
    "RequestAttributesSequence",
    "ContentSequence",
    "SourceImageSequence",
    "AnatomicRegionSequence",
    "ProcedureCodeSequence",
]


@st.composite
def datasets(draw: st.DrawFn) -> tuple[Dataset, list[str]]:
    family, given_name = draw(names), draw(names)
    patient_id, birth = draw(patient_ids), draw(birth_dates)
    accession = "ACC" + draw(st.text(alphabet="0123456789", min_size=6, max_size=8))
    secrets = [family, given_name, patient_id, birth, accession]
    ds = Dataset()
    ds.PatientName = f"{family}^{given_name}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth
    ds.AccessionNumber = accession
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.SeriesInstanceUID = "1.2.3.4.5.6"
    ds.SOPInstanceUID = "1.2.3.4.5.6.7"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"

    def hide(target: Dataset, depth: int) -> None:
        for _ in range(draw(st.integers(0, 3))):
            keyword, vr = draw(st.sampled_from(_PLACES))
            if depth == 0 and keyword in _HEADER:
                continue  # the header's own identity: what the other copies are recognised by
            secret = draw(st.sampled_from(secrets if vr != "DA" else [birth]))
            value = secret if vr in ("DA", "PN", "SH", "CS") else f"note {secret} end"
            if vr in ("SH", "CS"):
                value = secret[:16]
            setattr(target, keyword, value)
        for _ in range(draw(st.integers(0, 2))):
            group = draw(st.sampled_from([0x0009, 0x0019, 0x0029, 0x7FE1]))
            block = target.private_block(group, "HIDDEN CREATOR", create=True)
            block.add_new(draw(st.integers(0x10, 0xFF)), "LO", draw(st.sampled_from(secrets)))
        if depth < 3 and draw(st.booleans()):
            item = Dataset()
            hide(item, depth + 1)
            setattr(target, draw(st.sampled_from(_SEQUENCES)), Sequence([item]))

    hide(ds, 0)
    return ds, secrets


@given(datasets())
def test_no_identifier_survives(case: tuple[Dataset, list[str]]) -> None:
    ds, secrets = case
    try:
        out = deidentify(ds, PSEUDONYMISER).dataset
    except InvalidInstance:
        event("refused (quarantined)")
        return  # refused rather than let anything through: acceptable, and counted
    assert not any(elem.tag.is_private for elem in out.iterall())
    for elem in out.iterall():
        if elem.VR in ("SQ", "OB", "OW") or elem.value in (None, ""):
            continue
        text = str(elem.value).upper()
        for secret in secrets:
            assert secret.upper() not in text, f"{secret} survived in {elem.keyword}"


# Identifiers of every kind, each in the attribute a hospital keeps it in; copies are then
# hidden in free text anywhere. The option that would keep each attribute is named: an
# identifier the options keep is not one the de-identification removes.
_KINDS = [
    ("ReferringPhysicianName", "PN", None),
    ("OperatorsName", "PN", None),
    ("PerformingPhysicianName", "PN", None),
    ("InstitutionName", "LO", "retain_institution_identity"),
    ("InstitutionalDepartmentName", "LO", "retain_institution_identity"),
    ("StationName", "SH", "retain_device_identity"),
    ("DeviceSerialNumber", "LO", "retain_device_identity"),
    ("PatientTelephoneNumbers", "SH", None),
    ("PatientAddress", "LO", None),
    ("OtherPatientIDs", "LO", None),
    ("StudyID", "SH", None),
]
_FREE_TEXT = [
    ("ImageComments", "LT"),
    ("PatientComments", "LT"),
    ("AdditionalPatientHistory", "LT"),
    ("StudyDescription", "LO"),
    ("SeriesDescription", "LO"),
    ("ProtocolName", "LO"),
    ("DerivationDescription", "ST"),
    ("TextValue", "UT"),
    ("ReasonForTheRequestedProcedure", "LO"),
    ("RequestedProcedureComments", "LT"),
]
words = st.text(alphabet=_LETTERS, min_size=5, max_size=9)
phones = st.text(alphabet="0123456789", min_size=7, max_size=8).map(lambda s: f"0{s}")
options = st.builds(
    DeidOptions,
    retain_longitudinal_modified_dates=st.booleans(),
    retain_patient_characteristics=st.booleans(),
    retain_device_identity=st.booleans(),
    retain_institution_identity=st.booleans(),
    clean_descriptors=st.booleans(),
)


def _value(keyword: str, draw: st.DrawFn) -> str:
    if keyword == "PatientTelephoneNumbers":
        return draw(phones)
    if keyword in ("ReferringPhysicianName", "OperatorsName", "PerformingPhysicianName"):
        return f"{draw(words)}^{draw(words)}"
    if keyword in ("StudyID", "StationName"):
        return draw(words)[:8] + draw(st.text(alphabet="0123456789", min_size=2, max_size=4))
    return f"{draw(words)} {draw(words)}"


@st.composite
def hospital_headers(
    draw: st.DrawFn,
) -> tuple[Dataset, DeidOptions, list[str]]:
    """A header with identifiers of every kind, copies of them hidden in free text at
    random depths and in private attributes, and the options to de-identify it with."""
    chosen = draw(options)
    ds = Dataset()
    ds.PatientName = f"{draw(words)}^{draw(words)}"
    ds.PatientID = draw(patient_ids)
    ds.AccessionNumber = "ACC" + draw(st.text(alphabet="0123456789", min_size=6, max_size=8))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.4.5", "1.2.3.4.5.6"
    ds.SOPInstanceUID, ds.SOPClassUID = "1.2.3.4.5.6.7", "1.2.840.10008.5.1.4.1.1.1.1"
    secrets = [str(ds.PatientName).split("^")[0], ds.PatientID, ds.AccessionNumber]
    for keyword, _, option in draw(st.lists(st.sampled_from(_KINDS), min_size=1, unique=True)):
        value = _value(keyword, draw)
        setattr(ds, keyword, value)
        if option is None or not getattr(chosen, option):
            secrets.append(value.split("^")[0])

    def hide(target: Dataset, depth: int) -> None:
        for keyword, vr in draw(st.lists(st.sampled_from(_FREE_TEXT), max_size=3, unique=True)):
            secret = draw(st.sampled_from(secrets))
            spelling = draw(st.sampled_from([secret, secret.lower(), secret.title()]))
            value = f"nota {spelling} fine"
            setattr(target, keyword, value[:64] if vr == "LO" else value)
        if draw(st.booleans()):
            block = target.private_block(0x0019, "HIDDEN CREATOR", create=True)
            block.add_new(0x10, "LO", draw(st.sampled_from(secrets))[:64])
        if depth < 3 and draw(st.booleans()):
            item = Dataset()
            hide(item, depth + 1)
            setattr(target, draw(st.sampled_from(_SEQUENCES)), Sequence([item]))

    hide(ds, 0)
    return ds, chosen, secrets


@given(hospital_headers())
def test_no_header_identifier_survives_under_any_options(
    case: tuple[Dataset, DeidOptions, list[str]],
) -> None:
    ds, chosen, secrets = case
    try:
        out = deidentify(ds, PSEUDONYMISER, chosen).dataset
    except InvalidInstance:
        event("refused (quarantined)")
        return
    for elem in out.iterall():
        if elem.VR in ("SQ", "OB", "OW", "UI") or elem.value in (None, ""):
            continue
        text = str(elem.value).upper()
        for secret in secrets:  # as a word: "ROSSI01", a station, does not name Rossi
            word = rf"(?<![A-Z0-9]){re.escape(secret.upper())}(?![A-Z0-9])"
            assert not re.search(word, text), f"{secret} survived in {elem.keyword} ({chosen})"
