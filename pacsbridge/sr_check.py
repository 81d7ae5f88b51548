"""What goes back into the PACS is checked first: every value of an SR we are about to
send, against the rules of its value representation (PS3.5 6.2) that dciodvfy reports
as errors, and the attributes an SR must have. An SR that fails is not sent; the
problems say why.

The rules of each VR are pydicom's (:func:`pydicom.valuerep.validate_value`: lengths,
character repertoire, UID, date, time and number syntax; ``MAX_VALUE_LEN``); what is
checked here besides is only what dciodvfy reports and pydicom lets through: control
characters in a string, a person name of more than five components, characters
beyond ASCII without a Specific Character Set, and the Type 1 attributes.
"""

from __future__ import annotations

import re

from pydicom import config
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import MAX_VALUE_LEN, VALIDATORS, validate_value

from pacsbridge.errors import InvalidSR

__all__ = ["CONTROL_CHARACTERS", "InvalidSR", "sr_problems", "value_problems"]

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
"""What no DICOM string may hold (ESC, CR, LF, FF and TAB have uses in some VRs)."""
#: VRs whose values are not text (nothing of them is checked as a string).
_NOT_TEXT = {"OB", "OD", "OF", "OL", "OV", "OW", "UN", "FD", "FL", "SL", "SS", "SV", "UL",
             "US", "UV", "AT", "SQ"}  # fmt: skip
#: Type 1 attributes of the SR modules we write (PS3.3 A.35.13), never empty.
REQUIRED = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "ValueType",
    "ConceptNameCodeSequence",
    "ContentSequence",
    "CompletionFlag",
    "VerificationFlag",
    "InstanceNumber",
    "SeriesNumber",
)


def _values(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _value_problem(vr: str, text: str) -> str | None:
    if vr == "PN":
        groups = text.split("=")
        if len(groups) > 3 or any(len(g) > 64 for g in groups):
            return f"a person name of {len(text)} characters (at most 64 per component group)"
        if any(g.count("^") > 4 for g in groups):
            return "a person name of more than five components"
    elif vr in MAX_VALUE_LEN and len(text) > MAX_VALUE_LEN[vr]:
        return f"{len(text)} characters (at most {MAX_VALUE_LEN[vr]})"
    if CONTROL_CHARACTERS.search(text):
        return "control characters"
    if vr in VALIDATORS and text.strip():
        try:
            validate_value(vr, text.strip(), config.RAISE)
        except ValueError:
            return f"{text[:40]!r} is not a valid {vr}"
    return None


def value_problems(values: dict[str, tuple[str, str]], required: tuple[str, ...] = ()) -> list[str]:
    """The problems of ``keyword → (VR, value)`` pairs before they go into a data set
    (``required``: the keywords that must not be empty)."""
    problems = [f"{keyword} is empty" for keyword in required if not values[keyword][1]]
    for keyword, (vr, text) in values.items():
        problem = _value_problem(vr, text)
        if problem is not None:
            problems.append(f"{keyword} ({vr}): {problem}")
    return problems


def sr_problems(ds: Dataset, *, required: bool = True) -> list[str]:
    """Every rule ``ds`` breaks that dciodvfy would report as an error (see the module);
    ``required``: also the SR's Type 1 attributes."""
    problems = [
        f"{keyword} is missing or empty" for keyword in REQUIRED if required and not ds.get(keyword)
    ]
    ascii_only = not ds.get("SpecificCharacterSet")
    for element in ds.iterall():  # nested items' elements too
        if element.VR in _NOT_TEXT or element.VR in ("UT", "UC", "UR"):
            continue
        for text in _values(element.value):
            problem = _value_problem(element.VR, text)
            if problem is None and ascii_only and not text.isascii():
                problem = "characters beyond ASCII and no SpecificCharacterSet"
            if problem is not None:
                problems.append(f"{element.keyword or element.tag} ({element.VR}): {problem}")
    return problems
