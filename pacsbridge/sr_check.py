"""What goes back into the PACS is checked first: every value of an SR we are about to
send, against the rules of its value representation (PS3.5 6.2) that dciodvfy reports
as errors — lengths, character repertoire, UID syntax, date and time syntax — and the
attributes an SR must have. An SR that fails is not sent; the problems say why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

__all__ = ["CONTROL_CHARACTERS", "InvalidSR", "sr_problems", "value_problems"]

#: Maximum characters per value (PS3.5 Table 6.2-1); PN: per component group.
_MAX = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 64,
    "SH": 16,
    "ST": 1024,
    "TM": 14,
    "UI": 64,
}
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_CS = re.compile(r"^[A-Z0-9 _]*$")
_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_DS = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_IS = re.compile(r"^[+-]?\d+$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
"""What no DICOM string may hold (ESC, CR, LF, FF and TAB have uses in some VRs)."""
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


class InvalidSR(ValueError):
    """An SR that would break DICOM rules in the PACS; :attr:`problems` says where."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        shown = "; ".join(problems[:5]) + more
        super().__init__(f"the SR would be invalid: {shown}")


def _values(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _value_problem(vr: str, text: str) -> str | None:
    limit = _MAX.get(vr)
    if vr == "PN":
        groups = text.split("=")
        if len(groups) > 3 or any(len(g) > 64 for g in groups):
            return f"a person name of {len(text)} characters (at most 64 per component group)"
        if any(g.count("^") > 4 for g in groups):
            return "a person name of more than five components"
    elif limit is not None and len(text) > limit:
        return f"{len(text)} characters (at most {limit})"
    if CONTROL_CHARACTERS.search(text):
        return "control characters"
    checks = {"UI": _UID, "CS": _CS, "DA": _DA, "TM": _TM, "DS": _DS, "IS": _IS}
    if vr in checks and text and not checks[vr].match(text.strip()):
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


def _elements(ds: Dataset, path: str = "") -> Iterator[tuple[str, str, object]]:
    for element in ds:
        where = f"{path}{element.keyword or element.tag}"
        if element.VR == "SQ" and isinstance(element.value, DicomSequence):
            for index, item in enumerate(element.value):
                yield from _elements(item, f"{where}[{index}].")
        else:
            yield where, element.VR, element.value


def sr_problems(ds: Dataset, *, required: bool = True) -> list[str]:
    """Every rule ``ds`` breaks that dciodvfy would report as an error (see the module);
    ``required``: also the SR's Type 1 attributes."""
    problems = [
        f"{keyword} is missing or empty" for keyword in REQUIRED if required and not ds.get(keyword)
    ]
    ascii_only = not ds.get("SpecificCharacterSet")
    for where, vr, value in _elements(ds):
        if vr in ("OB", "OW", "UN", "UT", "UC", "UR", "FD", "FL", "SL", "SS", "UL", "US", "AT"):
            continue
        for text in _values(value):
            problem = _value_problem(vr, text)
            if problem is None and ascii_only and not text.isascii():
                problem = "characters beyond ASCII and no SpecificCharacterSet"
            if problem is not None:
                problems.append(f"{where} ({vr}): {problem}")
    return problems
