"""De-identification of free text: report text, SR content, and the header's free-text
attributes that the profile keeps cleaned.

Two layers, applied in this order:

1. **Known identifiers** (:mod:`pacsbridge.deid.identifiers`: every identifying
   string of the study's headers) are removed wherever they appear, in any case,
   with or without accents, with any separators (``Dell’Orto``, ``DELL ORTO``,
   ``dellorto``; ``0331 449872``, ``+39 0331-449872``; ``PZ-0048213``,
   ``pz0048213``), the birth date in every usual spelling.
2. **Pattern families** catch what no header says: codici fiscali (omocodia
   included), e-mail addresses, Italian and international telephone numbers,
   street addresses, record- and accession-like codes, names after a title
   (Sig., Dott.ssa, Prof., Dr.) or a label ("Paziente:"); dates (``12/03/2016``,
   ``12.03.16``, ``2016-03-12``, ``12 marzo 2016``) are shifted by the patient's
   offset keeping their format (or replaced when no offset is given), so
   intervals between exams survive.

:func:`find_identifiers` is the same matcher used as a check: the de-identifier
removes a value it cannot clean (fail closed), and ``pacslabel audit-phi``
searches the research side with it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from pacsbridge.deid.identifiers import IdentifierKind, KnownIdentifier, name_parts

__all__ = ["deidentify_text", "find_identifiers", "fold", "search_keys"]

_K = IdentifierKind
_TAG = {
    _K.PERSON_NAME: "[NOME]",
    _K.PATIENT_ID: "[ID]",
    _K.ORDER_ID: "[ID]",
    _K.ADDRESS: "[INDIRIZZO]",
    _K.TELECOM: "[TEL]",
    _K.INSTITUTION: "[STRUTTURA]",
    _K.DEVICE: "[ID]",
    _K.BIRTH_DATE: "[DATA]",
    _K.ORIGINAL_UID: "[UID]",
}
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
_ENGLISH_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_SAME = {"’": "'", "‘": "'", "`": "'", "´": "'", "‐": "-", "‑": "-", "–": "-", "—": "-"}


def _fold_char(char: str) -> str:
    char = _SAME.get(char, char)
    if char.isspace():
        return " "
    base = unicodedata.normalize("NFKD", char)[:1] or char
    lowered = base.lower()
    return lowered if len(lowered) == 1 else base


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    points = [*range(0x3000), *range(0xFF00, 0xFFF0)]  # scripts with case and accents; fullwidth
    table = {}
    for point in points:
        folded = _fold_char(chr(point))
        if folded != chr(point):
            table[point] = folded
    return table


def fold(text: str) -> str:
    """``text`` lower-cased, accents and typographic quotes and dashes flattened, one
    character for one, so that positions in the folded text are positions in ``text``."""
    return text.translate(_fold_table())


_SEP = r"[\W_]*"  # between the tokens of an identifier: any punctuation, or none
_BEFORE, _AFTER = r"(?<![^\W_])", r"(?![^\W_])"  # not inside a longer word


def _tokens(value: str) -> list[str]:
    return [t for t in re.split(r"[\W_]+", fold(value)) if t]


def _date_pattern(value: str) -> str | None:
    """Every usual spelling of a DA birth date (``19610812``)."""
    try:
        date = dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None
    day, month, year = date.day, date.month, date.year
    numeric = rf"0?{day}[/.\-\s]0?{month}[/.\-\s](?:{year}|{year % 100:02d})"
    iso = rf"{year}[/.\-]?0?{month}[/.\-]?0?{day}"
    words = rf"0?{day}\s+(?:{_MONTHS[month - 1]}|{_ENGLISH_MONTHS[month - 1]})\s+{year}"
    return rf"(?<!\d)(?:{numeric}|{iso}|{words})(?!\d)"


def _telecom_pattern(value: str) -> str | None:
    if "@" in value:
        return _BEFORE + re.escape(fold(value.strip())) + _AFTER
    digits = re.sub(r"\D", "", value)
    bodies = [digits]
    if value.strip().startswith(("+", "00")):  # a country code: the number may be written without
        national = digits.removeprefix("00") if value.strip().startswith("00") else digits
        bodies = [national] + [national[n:] for n in (1, 2, 3) if len(national) - n >= 6]
    separated = [r"[\s./()\-]*".join(body) for body in bodies if len(body) >= 6]
    if not separated:
        return None
    body = "|".join(sorted(separated, key=len, reverse=True))
    return rf"(?<!\d)(?:(?:\+|00)\d{{1,3}}[\s./\-]*)?\(?(?:{body})(?!\d)"


#: Words an institution's name shares with every other: a part of a name made only of these
#: ("Radiologia Diagnostica") names no one; with a word of its own ("Santa Caterina") it does.
_GENERIC = frozenset(
    [
        "presidio",
        "ospedaliero",
        "ospedaliera",
        "ospedale",
        "ospedali",
        "azienda",
        "aziendale",
        "sanitaria",
        "sanitario",
        "locale",
        "asl",
        "asst",
        "ats",
        "aou",
        "ao",
        "irccs",
        "uoc",
        "uos",
        "unita",
        "operativa",
        "complessa",
        "semplice",
        "servizio",
        "reparto",
        "dipartimento",
        "radiologia",
        "radiologica",
        "radiologico",
        "diagnostica",
        "diagnostico",
        "immagini",
        "clinica",
        "istituto",
        "policlinico",
        "universitaria",
        "universitario",
        "centro",
        "casa",
        "cura",
        "hospital",
        "department",
        "radiology",
        "imaging",
        "university",
        "medical",
        "center",
        "centre",
        "ortopedico",
        "ortopedica",
        "ortopedia",
        "traumatologia",
        "civile",
        "generale",
        "regionale",
        "provinciale",
        "maggiore",
        "nuovo",
        "nuova",
        "san",
        "santa",
        "santo",
        "sant",
        "sala",
        "rx",
        "ps",
        "pronto",
        "soccorso",
        "medicina",
        "interna",
        "chirurgia",
        "sezione",
        "struttura",
    ]
)
_JOINING = frozenset(
    [
        "da",
        "di",
        "del",
        "della",
        "dello",
        "dei",
        "degli",
        "e",
        "ed",
        "and",
        "of",
        "the",
        "de",
        "la",
        "le",
        "per",
    ]
)


#: An institution's name has at most this many words (longer, it is a text, not a name).
_MAX_NAME_WORDS = 16
#: A run of words that names an institution has at most this many.
_MAX_RUN_WORDS = 6


def _sub_phrases(tokens: list[str]) -> list[list[str]]:
    """Runs of words of an institution's name that name it on their own: a word of its
    own of four letters or more ("Niguarda"), or two or more words one of which is not
    common to every institution ("Santa Caterina")."""
    runs = [[t] for t in tokens if len(t) >= 4 and t not in _GENERIC and not t.isdigit()]
    if len(tokens) > _MAX_NAME_WORDS:
        return runs  # not a name but a text: its runs would be a regular expression bomb
    for start in range(len(tokens)):
        for end in range(start + 2, min(start + _MAX_RUN_WORDS, len(tokens)) + 1):
            run = tokens[start:end]
            if run[0] in _JOINING or run[-1] in _JOINING or run == tokens:
                continue
            if any(t not in _GENERIC and t not in _JOINING and not t.isdigit() for t in run):
                runs.append(run)
    return runs


def _segments(known: KnownIdentifier) -> list[list[str]]:
    """The folded token runs that, each alone, spell ``known``: the whole value; for an
    address or institution each part between commas; for an institution each run of
    words that names it (:func:`_sub_phrases`)."""
    texts = [known.value]
    if known.kind in (_K.ADDRESS, _K.INSTITUTION):
        texts += [part for part in re.split(r"[,;\n^]+", known.value) if part.strip()]
    runs = [_tokens(text) for text in texts]
    if known.kind is _K.INSTITUTION:
        runs += _sub_phrases(_tokens(known.value))
    unique = {tuple(run): None for run in runs if run and len("".join(run)) >= 3}
    return [list(run) for run in unique]


def _pattern(known: KnownIdentifier) -> str | None:
    """The regular expression (on folded text) of one known identifier."""
    if known.kind is _K.ORIGINAL_UID:
        return rf"(?<![\d.]){re.escape(known.value.strip())}(?![\d.])"
    if known.kind is _K.BIRTH_DATE:
        return _date_pattern(known.value)
    if known.kind is _K.TELECOM:
        return _telecom_pattern(known.value)
    alternatives = []
    for tokens in _segments(known):
        joined = _SEP.join(re.escape(t) for t in tokens)
        code = "".join(tokens)
        if known.kind in (_K.PATIENT_ID, _K.ORDER_ID, _K.DEVICE) and len(code) >= 6:
            # a code with letters, inside a longer code too; a number, not inside a longer one
            alternatives.append(joined if not code.isdigit() else rf"(?<!\d){joined}(?!\d)")
        else:
            alternatives.append(_BEFORE + joined + _AFTER)
    if not alternatives:
        return None
    return "|".join(sorted(set(alternatives), key=len, reverse=True))


def search_keys(known: KnownIdentifier) -> list[tuple[str, bool]]:
    """Literals of which every spelling :func:`find_identifiers` matches contains one, for a
    fast first pass over much text: ``(key, digits)``. With ``digits`` the key is to be
    looked for in the text's digits alone (a telephone number, whatever its separators);
    otherwise in the folded text. Empty: nothing to look for."""
    if known.kind is _K.ORIGINAL_UID:
        return [(known.value.strip(), False)]
    if known.kind is _K.BIRTH_DATE:
        year = known.value.strip()[2:4]  # in every spelling, the written "61" of 1961 too
        return [(year, False)] if _date_pattern(known.value) else []
    if known.kind is _K.TELECOM and "@" not in known.value:
        digits = re.sub(r"\D", "", known.value)
        return [(digits[-6:], True)] if len(digits) >= 6 else []
    keys = {max(run, key=len) for run in _segments(known)}
    return [(key, False) for key in sorted(keys) if len(key) >= 2]


@lru_cache(maxsize=4096)
def _compiled(known: KnownIdentifier) -> re.Pattern[str] | None:
    pattern = _pattern(known)
    return re.compile(pattern) if pattern else None


def _spans(text: str, known: Iterable[KnownIdentifier]) -> list[tuple[int, int, KnownIdentifier]]:
    folded = fold(text)
    found = []
    for item in known:
        compiled = _compiled(item)
        if compiled is not None:
            found += [(m.start(), m.end(), item) for m in compiled.finditer(folded) if m.group()]
    return found


def find_identifiers(text: str, known: Iterable[KnownIdentifier]) -> list[KnownIdentifier]:
    """The known identifiers present in ``text`` (each once)."""
    return list(dict.fromkeys(item for _, _, item in _spans(text, known)))


def _remove_known(text: str, known: Sequence[KnownIdentifier]) -> str:
    spans = sorted(_spans(text, known), key=lambda s: (s[0], -(s[1] - s[0])))
    out, position = [], 0
    for start, end, item in spans:
        if start < position:
            continue  # inside a longer match already replaced
        out += [text[position:start], _TAG[item.kind]]
        position = end
    return "".join([*out, text[position:]])


_WORD = r"(?:\[NOME\]|[A-ZÀ-Ý][A-Za-zÀ-ÿ'’]+)"  # a name already replaced counts as a word
_NAME = rf"{_WORD}(?:\s+{_WORD}){{0,2}}"  # "Anna Maria Rossi"
_TITLED = re.compile(
    r"\b(Sig\.ra|Sig\.na|Sig\.|Sig|Signora|Signor|Dott\.ssa|Dott\.|Dott|Dr\.ssa|Dr\.|Dr|"
    r"Prof\.ssa|Prof\.|Prof|Ing\.|Avv\.)\s+" + _NAME,
    re.IGNORECASE,
)
_LABELLED = re.compile(
    r"\b(Paziente|Pz\.?|Nome|Cognome|Richiedente|Medico|Refertante|Tecnico)\s*:\s*" + _NAME,
    re.IGNORECASE,
)
_OMOCODIA = "0-9LMNP-V"  # a digit of a codice fiscale may be replaced by one of these letters
_CODICE_FISCALE = re.compile(
    rf"\b[A-Z]{{6}}[{_OMOCODIA}]{{2}}[A-EHLMPR-T][{_OMOCODIA}]{{2}}[A-Z][{_OMOCODIA}]{{3}}[A-Z]\b",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(
    # Italian: 0 + area code or 3xx mobile, then 6-8 digits in groups (not a date's tail)
    r"(?<![\w+])(?<!\d[/.-])(?:(?:\+|00)\d{1,3}[\s./-]?)?\(?(?:0\d{1,3}|3\d{2})\)?[\s./-]?"
    r"(?:\d{3,4}[\s.-]?\d{3,4}|\d{2}(?:[\s.-]?\d{2}){2,3})(?!\w)"
    # international: a country code, then at least three groups
    r"|(?<![\w+])(?:\+|00)\d{1,3}[\s./-]?\(?\d{1,4}\)?(?:[\s./-]?\d{2,4}){2,4}(?!\w)"
)
_ADDRESS = re.compile(
    r"\b(?:via|viale|v\.le|piazza|p\.zza|piazzale|corso|c\.so|largo|vicolo|strada|localit[àa])"
    r"\s+(?:[^\W\d_][\w'.]*\s+){0,4}?\d{1,4}[a-z]?\b(?:\s*,?\s*\d{5}(?:\s+[^\W\d_]+)*)?",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"\b[A-Z]{1,5}[-/.]?\d{5,}[A-Z]?\b|\b\d{7,}\b"
    r"|\b[A-Z]{1,5}[-/.]?\d{2,}(?:[-/.]\d{2,})+[A-Z]?\b"  # A2021-009931, RIC-2023-00917
    r"|(?<!\d[/.-])\b\d{2,4}/\d{4,}(?:-[A-Z0-9]+)?\b",  # 2019/4471-B, not a date's tail
    re.IGNORECASE,
)
_DATE = re.compile(r"\b(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_WRITTEN_DATE = re.compile(rf"\b(\d{{1,2}})\s+({'|'.join(_MONTHS)})\s+(\d{{4}})\b", re.IGNORECASE)


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 50 else 1900
    return year


def _shifted(date_parts: tuple[int, int, int], days: int | None) -> dt.date | None:
    if days is None:
        return None
    try:
        return dt.date(*date_parts) - dt.timedelta(days=days)
    except ValueError:
        return None


def _shift_date(match: re.Match[str], days: int | None) -> str:
    day, sep, month, year = match.group(1), match.group(2), match.group(3), match.group(4)
    shifted = _shifted((_year(year), int(month), int(day)), days)
    if shifted is None:
        return "[DATA]"
    year_text = f"{shifted.year:04d}" if len(year) == 4 else f"{shifted.year % 100:02d}"
    return f"{shifted.day:02d}{sep}{shifted.month:02d}{sep}{year_text}"


def _shift_iso(match: re.Match[str], days: int | None) -> str:
    shifted = _shifted((int(match.group(1)), int(match.group(2)), int(match.group(3))), days)
    return "[DATA]" if shifted is None else shifted.isoformat()


def _shift_written(match: re.Match[str], days: int | None) -> str:
    month = _MONTHS.index(match.group(2).lower()) + 1
    shifted = _shifted((int(match.group(3)), month, int(match.group(1))), days)
    if shifted is None:
        return "[DATA]"
    return f"{shifted.day} {_MONTHS[shifted.month - 1]} {shifted.year}"


def _names_as_known(names: Iterable[str]) -> list[KnownIdentifier]:
    return [KnownIdentifier(_K.PERSON_NAME, part) for name in names for part in name_parts(name)]


def deidentify_text(
    text: str,
    known: Iterable[KnownIdentifier] = (),
    *,
    date_shift_days: int | None = None,
    names: Iterable[str] = (),
) -> str:
    """Remove identifying information from free text (see the module doc).

    Parameters
    ----------
    text
        The text as written.
    known
        Identifiers known from the study's headers (:func:`header_identifiers`).
    date_shift_days
        Move dates back by this many days; ``None`` replaces them with ``[DATA]``.
    names
        Further person names (``ROSSI^MARIO`` or ``Mario Rossi``) to remove.
    """
    identifiers = [*known, *_names_as_known(names)]
    out = _CODICE_FISCALE.sub("[CF]", text)  # whole codes first: they contain name letters
    out = _EMAIL.sub("[EMAIL]", out)
    out = _remove_known(out, identifiers)
    out = _DATE.sub(lambda m: _shift_date(m, date_shift_days), out)
    out = _ISO_DATE.sub(lambda m: _shift_iso(m, date_shift_days), out)
    out = _WRITTEN_DATE.sub(lambda m: _shift_written(m, date_shift_days), out)
    out = _PHONE.sub("[TEL]", out)
    out = _ADDRESS.sub("[INDIRIZZO]", out)
    out = _CODE.sub("[ID]", out)
    out = _TITLED.sub(lambda m: f"{m.group(1)} [NOME]", out)
    out = _LABELLED.sub(lambda m: f"{m.group(1)}: [NOME]", out)
    return re.sub(r"\[(NOME|ID)\](?:\s+\[\1\])+", r"[\1]", out)
