"""Header values as they come, read leniently: normalised when their meaning is clear,
``None`` when it is not — never an exception, never a value that is not what it claims.

Twenty years of modalities write dates as ``2023.03.14`` (ACR-NEMA) or ``2023-03-14``,
times as ``10:15:30``, numbers with spaces, several values where one is allowed, and
sometimes nonsense (``2024-13-45``, ``ieri``, ``25:61:99``, ``x1``). Everything that
stores or compares a header value reads it through these functions first.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

__all__ = [
    "clean_string",
    "first",
    "items",
    "lenient_age",
    "lenient_date",
    "lenient_int",
    "lenient_sex",
    "lenient_time",
    "single_uid",
]

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DATE = re.compile(r"^(\d{4})[.\-/]?(\d{2})[.\-/]?(\d{2})$")
_TIME = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(\.\d{1,6})?)?)?$")
_AGE = re.compile(r"^(\d{1,3})\s*([DWMY])$", re.IGNORECASE)


def first(value: object) -> object:
    """The first of a multi-valued value (``None`` for none), else the value itself."""
    if isinstance(value, MultiValue | list | tuple):
        return value[0] if len(value) else None
    return value


def items(value: object) -> list[Dataset]:
    """The items of a sequence value; none when the value is missing or not a sequence
    (an element whose VR was damaged reads as bytes or text)."""
    if not isinstance(value, Sequence | list):
        return []
    return [item for item in value if isinstance(item, Dataset)]


def _text(value: object) -> str:
    value = first(value)
    return "" if value is None else str(value).strip().strip("\0").strip()


def lenient_date(value: object) -> str | None:
    """A DA value as ``YYYYMMDD`` (from ``YYYYMMDD``, ``YYYY.MM.DD``, ``YYYY-MM-DD``,
    ``YYYY/MM/DD``; the first of several), or ``None`` when it is not a calendar date."""
    match = _DATE.match(_text(value))
    if match is None:
        return None
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def lenient_time(value: object) -> str | None:
    """A TM value as ``HHMMSS[.ffffff]`` (also from ``HH:MM:SS``; hours, minutes and
    seconds may be left out from the right), or ``None`` when it is not a time of day."""
    match = _TIME.match(_text(value))
    if match is None:
        return None
    hour, minute, second = int(match[1]), int(match[2] or 0), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second, as PS3.5 allows
        return None
    return f"{hour:02d}{minute:02d}{second:02d}{match[4] or ''}"


def lenient_int(value: object) -> int | None:
    """An IS (or US) value as an integer (the first of several; ``" 12 "`` and ``"+3"``
    read), or ``None``."""
    if isinstance(first(value), int):
        return int(first(value))  # type: ignore[call-overload]
    try:
        return int(_text(value))
    except ValueError:
        return None


def lenient_age(value: object) -> str | None:
    """An AS value as ``nnnX`` (X one of D, W, M, Y), or ``None`` when it is not an age
    or not a plausible one (over 130 years)."""
    match = _AGE.match(_text(value))
    if match is None:
        return None
    number, unit = int(match[1]), match[2].upper()
    limit = {"D": 999, "W": 999, "M": 999, "Y": 130}[unit]
    return f"{number:03d}{unit}" if number <= limit else None


def lenient_sex(value: object) -> str | None:
    """PatientSex as ``M``, ``F`` or ``O``, or ``None``."""
    text = _text(value).upper()
    return text if text in ("M", "F", "O") else None


def single_uid(value: object) -> str | None:
    """A UI value when it is one valid UID (digits and dots, at most 64 characters, one
    value); ``None`` otherwise — a UID is never guessed."""
    if isinstance(value, MultiValue | list | tuple):
        return None
    text = "" if value is None else str(value).strip("\0 ")
    return text if 0 < len(text) <= 64 and _UID.match(text) else None


def clean_string(value: object, limit: int | None = None) -> str:
    """Text fit for any database: control characters (NUL included) out, whitespace runs
    made one space, cut to ``limit`` characters."""
    text = "" if value is None else str(value)
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    kept = " ".join(kept.split())
    return kept[:limit] if limit is not None else kept
