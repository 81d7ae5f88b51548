"""De-identification of Italian report text.

Known identifiers (the patient's name parts, IDs and accession number from
the DICOM header) are removed wherever they appear; names after a title
(Sig., Sig.ra, Dott., Dott.ssa, Prof., Dr.) or a "Paziente:" label, codici
fiscali, e-mail addresses and phone numbers are replaced by a tag; dates
are shifted by the patient's offset (or replaced when no offset is given),
keeping their format, so intervals between exams survive.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

__all__ = ["deidentify_report"]

_NAME = r"[A-ZÀ-Ý][a-zà-ÿ']+(?:\s+[A-ZÀ-Ý][a-zà-ÿ']+)?"
_TITLED = re.compile(
    r"\b(Sig\.ra|Sig\.na|Sig\.|Sig|Signora|Signor|Dott\.ssa|Dott\.|Dr\.|Dr|Prof\.ssa|Prof\.)\s+"
    + _NAME
)
_LABELLED = re.compile(r"\b(Paziente|Pz\.?|Nome|Cognome)\s*:\s*" + _NAME, re.IGNORECASE)
_CODICE_FISCALE = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<!\w)(?:\+39[\s.]?)?(?:0\d{1,3}|3\d{2})[\s./-]?\d{3,4}[\s.-]?\d{3,4}(?!\w)")
_DATE = re.compile(r"\b(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})\b")


def _shift_date(match: re.Match[str], days: int | None) -> str:
    day, sep, month, year = match.group(1), match.group(2), match.group(3), match.group(4)
    if days is None:
        return "[DATA]"
    full_year = int(year) + (
        2000 if len(year) == 2 and int(year) < 50 else 1900 if len(year) == 2 else 0
    )
    try:
        date = dt.date(full_year, int(month), int(day))
    except ValueError:
        return "[DATA]"
    shifted = date - dt.timedelta(days=days)
    year_text = f"{shifted.year:04d}" if len(year) == 4 else f"{shifted.year % 100:02d}"
    return f"{shifted.day:02d}{sep}{shifted.month:02d}{sep}{year_text}"


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
    out = _PHONE.sub("[TEL]", out)
    out = _TITLED.sub(lambda m: f"{m.group(1)} [NOME]", out)
    out = _LABELLED.sub(lambda m: f"{m.group(1)}: [NOME]", out)
    parts = {p for name in names for p in re.split(r"[\^\s]+", name) if len(p) >= 3}
    for part in sorted(parts, key=len, reverse=True):
        out = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", "[NOME]", out, flags=re.IGNORECASE)
    return re.sub(r"\[NOME\](?:\s+\[NOME\])+", "[NOME]", out)
