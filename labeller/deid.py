"""De-identification of Italian report text.

Known identifiers (the patient's name parts, IDs and accession number from
the DICOM header) are removed wherever they appear, in any case; names after
a title (Sig., Sig.ra, Dott., Dott.ssa, Prof., Dr.) or a "Paziente:" label,
codici fiscali, e-mail addresses, phone numbers, street addresses and
record/accession-like codes are replaced by a tag; dates (``12/03/2016``,
``12.03.16``, ``12 marzo 2016``) are shifted by the patient's offset (or
replaced when no offset is given), keeping their format, so intervals
between exams survive.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

__all__ = ["deidentify_report"]

_MONTHS = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
]
_WORD = r"[A-ZÀ-Ý][A-Za-zÀ-ÿ']+"
_NAME = rf"{_WORD}(?:\s+{_WORD})?"
_TITLED = re.compile(
    r"\b(Sig\.ra|Sig\.na|Sig\.|Sig|Signora|Signor|Dott\.ssa|Dott\.|Dr\.|Dr|Prof\.ssa|Prof\.)\s+"
    + _NAME,
    re.IGNORECASE,
)
_LABELLED = re.compile(r"\b(Paziente|Pz\.?|Nome|Cognome)\s*:\s*" + _NAME, re.IGNORECASE)
_CODICE_FISCALE = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<!\w)(?:\+39[\s.]?)?(?:0\d{1,3}|3\d{2})[\s./-]?\d{3,4}[\s.-]?\d{3,4}(?!\w)")
_ADDRESS = re.compile(
    r"\b(?:via|viale|v\.le|piazza|p\.zza|piazzale|corso|c\.so|largo|vicolo|strada|localit[àa])"
    r"\s+(?:[^\W\d_][\w'.]*\s+){0,4}?\d{1,4}[a-z]?\b(?:\s*,?\s*\d{5}(?:\s+[^\W\d_]+)*)?",
    re.IGNORECASE,
)
_CODE = re.compile(r"\b[A-Z]{2,5}\d{5,}\b|\b\d{7,}\b", re.IGNORECASE)
_DATE = re.compile(r"\b(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})\b")
_WRITTEN_DATE = re.compile(rf"\b(\d{{1,2}})\s+({'|'.join(_MONTHS)})\s+(\d{{4}})\b", re.IGNORECASE)


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 50 else 1900
    return year


def _shift_date(match: re.Match[str], days: int | None) -> str:
    day, sep, month, year = match.group(1), match.group(2), match.group(3), match.group(4)
    if days is None:
        return "[DATA]"
    try:
        date = dt.date(_year(year), int(month), int(day))
    except ValueError:
        return "[DATA]"
    shifted = date - dt.timedelta(days=days)
    year_text = f"{shifted.year:04d}" if len(year) == 4 else f"{shifted.year % 100:02d}"
    return f"{shifted.day:02d}{sep}{shifted.month:02d}{sep}{year_text}"


def _shift_written(match: re.Match[str], days: int | None) -> str:
    if days is None:
        return "[DATA]"
    try:
        date = dt.date(
            int(match.group(3)), _MONTHS.index(match.group(2).lower()) + 1, int(match.group(1))
        )
    except ValueError:
        return "[DATA]"
    shifted = date - dt.timedelta(days=days)
    return f"{shifted.day} {_MONTHS[shifted.month - 1]} {shifted.year}"


def deidentify_report(
    text: str,
    *,
    names: Sequence[str] = (),
    identifiers: Sequence[str] = (),
    date_shift_days: int | None = None,
) -> str:
    """Remove identifying information from report text.

    Parameters
    ----------
    text
        The report as written.
    names
        Known person names (DICOM PN values such as ``ROSSI^MARIO``); each
        part of three or more letters is removed wherever it appears.
    identifiers
        Known identifiers (patient ID, accession number) to remove.
    date_shift_days
        Move dates back by this many days; ``None`` replaces them with ``[DATA]``.
    """
    out = _CODICE_FISCALE.sub("[CF]", text)
    out = _EMAIL.sub("[EMAIL]", out)
    for identifier in sorted({i for i in identifiers if len(i) >= 3}, key=len, reverse=True):
        out = re.sub(re.escape(identifier), "[ID]", out, flags=re.IGNORECASE)
    out = _DATE.sub(lambda m: _shift_date(m, date_shift_days), out)
    out = _WRITTEN_DATE.sub(lambda m: _shift_written(m, date_shift_days), out)
    out = _PHONE.sub("[TEL]", out)
    out = _ADDRESS.sub("[INDIRIZZO]", out)
    out = _CODE.sub("[ID]", out)
    out = _TITLED.sub(lambda m: f"{m.group(1)} [NOME]", out)
    out = _LABELLED.sub(lambda m: f"{m.group(1)}: [NOME]", out)
    parts = {p for name in names for p in re.split(r"[\^\s]+", name) if len(p) >= 3}
    for part in sorted(parts, key=len, reverse=True):
        out = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", "[NOME]", out, flags=re.IGNORECASE)
    return re.sub(r"\[NOME\](?:\s+\[NOME\])+", "[NOME]", out)
