"""Text burned into the pixels: where it is, what it says, whether it identifies.

Many devices burn the patient's name, birth date, accession or the institution into
the image and say nothing of it (``BurnedInAnnotation`` absent or ``NO``). Every image
is screened before anything of it reaches the research side:

1. *Candidates*, cheaply, on a copy at most :data:`WORKING_SIZE` pixels a side: the
   morphological top-hat and black-hat keep thin strokes brighter or darker than
   their surroundings (text either way; the smooth shapes of anatomy and the edges of
   the collimation go), a threshold relative to the local texture keeps faint text on
   a flat background without taking the trabecular pattern of bone, and a horizontal
   closing joins characters into lines. A line is kept when it holds at least two
   character-sized strokes (a lone lead marker, a pedicle's ring are no text to read).
2. *Reading* of the candidates only, by Tesseract (:class:`TextReader`: its C API
   through ``tesserocr``, the engine loaded once per process, a few milliseconds a
   line; the Italian and English models of Debian's ``tesseract-ocr-ita``).
3. *Judging* what was read (:func:`identifying_kinds`): the identifiers the header held
   (name parts in any order and case, IDs, dates in any common spelling, accession,
   institution, physicians), allowing for the usual OCR confusions (``0``/``O``,
   ``1``/``I``/``l``, ``5``/``S``…) and one wrong character in six; the shapes of
   identifiers whoever they belong to (dates, an Italian *codice fiscale*, runs of six
   digits or more, codes of letters and five digits or more); and any other word of
   four letters or more that is not a harmless marker (:data:`HARMLESS`: laterality,
   projection, posture, technique, units), since text we cannot explain is not text we
   may let through. Single letters, numbers of up to four digits and ruler ticks count
   for nothing.

The result (:class:`Screening`) names the kind of each identifier and the region it is
in, never the text.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import regex

from pacsbridge.deid.identifiers import IdentifierKind, KnownIdentifier
from pacsbridge.deid.text import find_identifiers, fold

__all__ = [
    "HARMLESS",
    "WORKING_SIZE",
    "Box",
    "Described",
    "OCRUnavailable",
    "Screening",
    "TextFinding",
    "TextReader",
    "blank_boxes",
    "candidate_boxes",
    "identifying_kinds",
    "screen_image",
]

#: The candidate search works on a copy of this many pixels on the long side (a small
#: image: twice its own).
WORKING_SIZE = 1280

#: Burned-in words that identify no one (folded): laterality, projection, posture,
#: technique and units, in Italian and English.
_HARMLESS_WORDS = {
    "laterality": "l r sx dx dex sin left right sinistra destra sinistro destro",
    "projection": "ap pa ll lat lateral laterale laterali obl oblique obliqua frontal frontale",
    "posture": "standing erect upright ortostatismo ortostatica ortostatico eretto in piedi "
    "supine supino supina prone prono prona seduto sitting decubito flex flexion flessione "
    "ext extension estensione neutral neutra",
    "technique": "kv kvp mas ma ms mgy ugy dgy cm2 dap ei di s sid sod grid griglia aec",
    "units": "mm cm inch",
}
HARMLESS = frozenset(word for words in _HARMLESS_WORDS.values() for word in words.split())

#: What one read character may have been printed as (OCR confusions), both ways.
_CONFUSABLE = str.maketrans(
    {"0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "5": "s", "8": "b", "2": "z", "6": "g"}
)
_LETTER_LIKE = str.maketrans("0158", "olsb")
_DIGIT_LIKE = str.maketrans({"o": "0", "O": "0", "l": "1", "I": "1", "|": "1", "S": "5"})

_DATE = re.compile(
    r"(?<!\d)(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})|(?:19|20)\d{2}[/.\-]\d{1,2}[/.\-]\d{1,2}"
    r"|\d{1,2}[\s\-/.]*(?:gen|feb|mar|apr|mag|giu|lug|ago|set|ott|nov|dic|jan|may|jun|jul"
    r"|aug|sep|oct|dec)[a-z]*[\s\-/.]*(?:19|20)?\d{2})(?!\d)"
)
_YYYYMMDD = re.compile(r"(?<!\d)(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)")
_CODICE_FISCALE = re.compile(r"[a-z]{6}\d{2}[a-z]\d{2}[a-z]\d{3}[a-z]")
_LONG_NUMBER = re.compile(r"(?<!\d)\d{6,}(?!\d)")
_CODE = re.compile(r"(?<![a-z0-9])[a-z]{1,6}[\-/]?\d{5,}(?![0-9])")
#: A code of letters and digits mixed, eight characters or more, four digits or more
#: (a codice fiscale read in part, a health card number).
_MIXED_CODE = re.compile(
    r"(?=[a-z0-9]*\d[a-z0-9]*\d[a-z0-9]*\d[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{8,}"
)
_WORD = re.compile(r"[a-zà-ÿ]{4,}")
_TECHNIQUE = re.compile(r"^\d+(?:[.,]\d+)?(?:kv|kvp|mas|ma|ms|mm|cm|mgy|s|%)?$")


class OCRUnavailable(RuntimeError):
    """Tesseract or its language data is missing: images cannot be screened."""


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle of the full-size image, in pixels."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    def padded(self, pad: int, shape: tuple[int, int]) -> Box:
        """This box grown by ``pad`` pixels each side, within an image of ``shape``."""
        top, left = max(0, self.top - pad), max(0, self.left - pad)
        bottom, right = min(shape[0], self.bottom + pad), min(shape[1], self.right + pad)
        return Box(left, top, right - left, bottom - top)

    def region(self, shape: tuple[int, int]) -> str:
        """Where the box is, in words (``top-left``, ``bottom``, ``centre``…)."""
        rows, cols = shape
        cy, cx = (self.top + self.height / 2) / rows, (self.left + self.width / 2) / cols
        vertical = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
        horizontal = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
        return "-".join(p for p in (vertical, horizontal) if p) or "centre"

    def describe(self, shape: tuple[int, int]) -> str:
        return f"{self.region(shape)} ({self.left},{self.top} {self.width}x{self.height} px)"


@dataclass(frozen=True, slots=True)
class TextFinding:
    """Identifying text of one kind in one box (the text itself is not kept)."""

    kind: str
    box: Box


@dataclass(frozen=True, slots=True)
class Screening:
    """What the screen of one image found."""

    shape: tuple[int, int]
    findings: tuple[TextFinding, ...] = ()
    candidates: int = 0
    """Regions that looked like text."""
    read: int = 0
    """Of those, how many held characters Tesseract could read."""

    @property
    def identifying(self) -> bool:
        return bool(self.findings)

    @property
    def boxes(self) -> list[Box]:
        return list(dict.fromkeys(f.box for f in self.findings))

    def reason(self) -> str:
        """The kinds of identifier and where they are, for logs, audit and quarantine."""
        by_box: dict[Box, list[str]] = {}
        for finding in self.findings:
            by_box.setdefault(finding.box, []).append(finding.kind)
        parts = [
            f"{', '.join(dict.fromkeys(kinds))} at {box.describe(self.shape)}"
            for box, kinds in by_box.items()
        ]
        return "burned-in text: " + "; ".join(parts)


# --- 1. candidates ---------------------------------------------------------------------


def _as_bytes(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A region that looks like a line of text."""

    box: Box
    bright: bool
    """Brighter than its ground (white text), as the top-hat and black-hat say."""


@dataclass(frozen=True)
class _Strokes:
    """The thin strokes of an image on the working copy (the candidates' first step)."""

    scale: float
    """Working pixels per full-size pixel."""
    strokes: np.ndarray
    bright: np.ndarray
    """Top-hat: strokes brighter than their ground."""
    dark: np.ndarray
    """Black-hat: strokes darker than their ground."""

    def turned(self) -> _Strokes:
        """The same, for the image turned a quarter (``np.rot90``)."""

        def turn(array: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(np.rot90(array))

        return _Strokes(self.scale, turn(self.strokes), turn(self.bright), turn(self.dark))


def _strokes(full: np.ndarray) -> _Strokes:
    import cv2

    rows, cols = full.shape
    # about one scale for every image (a small one enlarged, at most twice): the kernels
    # below are in its pixels
    scale = min(WORKING_SIZE / max(rows, cols), 2.0)
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    small = cv2.resize(
        full, (round(cols * scale), round(rows * scale)), interpolation=interpolation
    )
    small = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(16, 16)).apply(small)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    bright = cv2.morphologyEx(small, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, kernel)
    hat = np.maximum(bright, dark)
    # the texture around: a median (the text itself is a minority of its surroundings), of
    # a copy a quarter the size (the texture varies slowly; fifteen times faster)
    coarse = cv2.resize(hat, (hat.shape[1] // 4, hat.shape[0] // 4), interpolation=cv2.INTER_AREA)
    coarse = cv2.medianBlur(coarse, TEXTURE // 4 | 1)
    texture = cv2.resize(coarse, (hat.shape[1], hat.shape[0]), interpolation=cv2.INTER_LINEAR)
    texture = texture.astype(np.float32)
    strokes = (hat.astype(np.float32) > np.maximum(5.0, 3.0 * texture + 3.0)).astype(np.uint8)
    return _Strokes(scale, strokes, bright, dark)


def candidate_boxes(image: np.ndarray, *, turned: bool = False) -> list[Candidate]:
    """Regions of ``image`` (uint8, or float in [0, 1]; bright as displayed) that look
    like lines of text, in full-size pixels, most text-like first; with ``turned``, the
    regions of ``np.rot90(image)`` (lines standing on their side in ``image``)."""
    found = _strokes(_as_bytes(image))
    return _lines(found.turned() if turned else found)


def _lines(found: _Strokes) -> list[Candidate]:
    """The lines of text the strokes make (characters joined sideways)."""
    import cv2

    strokes, scale = found.strokes, found.scale
    hat = np.maximum(found.bright, found.dark)
    lines = cv2.morphologyEx(
        strokes, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (21, 3))
    )
    count, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    if count <= 1:
        return []
    # how many stroke components of a character's size each line holds
    _, _, part_stats, centroids = cv2.connectedComponentsWithStats(strokes, connectivity=8)
    sized = (part_stats[1:, cv2.CC_STAT_HEIGHT] >= 3) & (part_stats[1:, cv2.CC_STAT_AREA] >= 4)
    cx = np.clip(centroids[1:, 0].round().astype(int), 0, strokes.shape[1] - 1)
    cy = np.clip(centroids[1:, 1].round().astype(int), 0, strokes.shape[0] - 1)
    owner = labels[cy, cx]
    characters = np.bincount(owner[sized], minlength=count)
    candidates: list[tuple[float, Candidate]] = []
    area_limit = 0.05 * strokes.shape[0] * strokes.shape[1]
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if not (5 <= h <= 120 and w >= 1.2 * h and area <= area_limit):
            continue
        # two character-sized strokes at least, or a run long enough to be a word
        if (characters[label] < 2 and w < 2.5 * h) or area / (w * h) < 0.25:
            continue
        inside = strokes[y : y + h, x : x + w].mean()
        if not 0.08 <= inside <= 0.9:
            continue
        box = Box(int(x / scale), int(y / scale), int(np.ceil(w / scale)), int(np.ceil(h / scale)))
        if box.height < MIN_TEXT_HEIGHT:  # an enlarged small image's speck
            continue
        region = np.s_[y : y + h, x : x + w]
        on = strokes[region] > 0
        bright = int(found.bright[region][on].sum()) >= int(found.dark[region][on].sum())
        score = float(hat[region].mean()) * min(int(characters[label]), 12)
        candidates.append((score, Candidate(box, bright)))
    candidates.sort(key=lambda item: -item[0])
    joined = _joined_lines([candidate for _, candidate in candidates[: 2 * MAX_CANDIDATES]])
    return joined[:MAX_CANDIDATES]


def _joined_lines(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates on one line of text (overlapping rows, a gap of at most twice their
    height) joined into one, in the order of the first of each (whose polarity it keeps)."""
    lines: list[Candidate] = []
    for candidate in candidates:
        box = candidate.box
        for index, joined in enumerate(lines):
            line = joined.box
            overlap = min(line.bottom, box.bottom) - max(line.top, box.top)
            gap = max(line.left, box.left) - min(line.right, box.right)
            if overlap >= 0.5 * min(line.height, box.height) and gap <= 2 * max(
                line.height, box.height
            ):
                top, left = min(line.top, box.top), min(line.left, box.left)
                bottom, right = max(line.bottom, box.bottom), max(line.right, box.right)
                lines[index] = Candidate(Box(left, top, right - left, bottom - top), joined.bright)
                break
        else:
            lines.append(candidate)
    return lines


#: Text lower than this many pixels (full size) is legible to no one, reader or OCR.
MIN_TEXT_HEIGHT = 7
TEXTURE = 61
#: At most this many regions of one image are read (the most text-like).
MAX_CANDIDATES = 40


# --- 2. reading ------------------------------------------------------------------------


_TESSDATA = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


def tessdata_dir(configured: Path | None = None) -> Path:
    """The folder of Tesseract's language data (``configured``, ``TESSDATA_PREFIX``, or
    Debian's), holding ``eng`` and ``ita``.

    Raises
    ------
    OCRUnavailable
        No such folder.
    """
    options = [str(configured)] if configured else []
    if os.environ.get("TESSDATA_PREFIX"):
        options.append(os.environ["TESSDATA_PREFIX"])
    options += _TESSDATA
    for option in options:
        folder = Path(option)
        if (folder / "eng.traineddata").is_file() and (folder / "ita.traineddata").is_file():
            return folder
    raise OCRUnavailable(
        "burned-in text cannot be read: Tesseract's eng and ita language data are not in "
        f"{', '.join(options)} (Debian: apt-get install tesseract-ocr-ita; or set "
        "deid.tessdata)"
    )


@dataclass(slots=True)
class TextReader:
    """Tesseract, loaded once per process and thread (``tesserocr``'s C API: no process
    per call, the model stays in memory)."""

    tessdata: Path | None = None
    _local: threading.local = field(default_factory=threading.local)

    def _api(self) -> object:
        api = getattr(self._local, "api", None)
        if api is None:
            try:
                import tesserocr
            except ImportError as exc:
                raise OCRUnavailable(f"burned-in text cannot be read: {exc}") from None
            folder = tessdata_dir(self.tessdata)
            api = tesserocr.PyTessBaseAPI(
                path=str(folder), lang="ita+eng", psm=tesserocr.PSM.SINGLE_BLOCK,
                oem=tesserocr.OEM.LSTM_ONLY,
            )  # fmt: skip
            self._local.api = api
        return api

    def check(self) -> None:
        """Load the engine now (raises :class:`OCRUnavailable` when it cannot be)."""
        self._api()

    def read(self, crop: np.ndarray) -> list[tuple[str, float]]:
        """The words of ``crop`` (uint8, dark text on a light ground) with Tesseract's
        confidence (0–100)."""
        from PIL import Image as PILImage

        api = self._api()
        api.SetImage(PILImage.fromarray(crop))  # type: ignore[attr-defined]
        api.Recognize()  # type: ignore[attr-defined]
        words = []
        iterator = api.GetIterator()  # type: ignore[attr-defined]
        import tesserocr

        level = tesserocr.RIL.WORD
        for word in tesserocr.iterate_level(iterator, level):
            try:
                text = word.GetUTF8Text(level)
            except RuntimeError:  # an empty word
                continue
            if text and text.strip():
                words.append((text.strip(), float(word.Confidence(level))))
        return words


def _crop_for_reading(full: np.ndarray, candidate: Candidate, *, local: bool = False) -> np.ndarray:
    """The candidate's pixels with room around (a line's start or end may have been
    missed), text dark on light, scaled so that a line is about 40 pixels high: contrast
    stretched (Tesseract's own threshold does the rest), or with ``local`` thresholded
    against the mean around each pixel (text across a field edge, brighter than the dark
    ground and barely brighter than the light one). In trials on the simulator's images
    these two read more than a top-hat of the region, a mask of its extreme values or
    CLAHE."""
    import cv2

    box, bright = candidate.box, candidate.bright
    rows, cols = full.shape
    side, above = max(8, round(1.5 * box.height)), max(6, round(0.35 * box.height))
    top, left = max(0, box.top - above), max(0, box.left - side)
    crop = full[top : min(rows, box.bottom + above), left : min(cols, box.right + side)]
    if local:
        block = max(3, int(1.5 * box.height) | 1)
        kind = cv2.THRESH_BINARY_INV if bright else cv2.THRESH_BINARY
        offset = -4 if bright else 4  # a stroke is this much off the mean around it
        out = cv2.adaptiveThreshold(crop, 255, cv2.ADAPTIVE_THRESH_MEAN_C, kind, block, offset)
    else:
        low, high = (float(v) for v in np.percentile(crop, [1, 99.5]))
        stretched = np.clip((crop.astype(np.float32) - low) / max(1.0, high - low), 0, 1)
        out = ((1.0 - stretched if bright else stretched) * 255).astype(np.uint8)
    factor = min(4.0, max(0.25, 40 / max(1, box.height)))
    if abs(factor - 1.0) > 0.1:
        interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
        out = cv2.resize(out, None, fx=factor, fy=factor, interpolation=interpolation)
    return out


# --- 3. judging ------------------------------------------------------------------------


Described = tuple[KnownIdentifier, str]
"""A known identifier and what it is, in the words of a reason (``patient name``)."""


def _confusable(text: str) -> str:
    return fold(text).translate(_CONFUSABLE)


@lru_cache(maxsize=4096)
def _fuzzy(value: str, errors: int) -> regex.Pattern[str]:
    return regex.compile(f"(?:{regex.escape(value)}){{e<={errors}}}")


def _within(needle: str, haystack: str, errors: int) -> bool:
    """Whether ``needle`` occurs in ``haystack`` with at most ``errors`` edits."""
    if not needle:
        return False
    if errors == 0:
        return needle in haystack
    return _fuzzy(needle, errors).search(haystack) is not None


def _known_hits(text: str, known: Sequence[Described]) -> list[str]:
    """The kinds of the known identifiers ``text`` spells, allowing OCR's errors."""
    digits = text.translate(_DIGIT_LIKE)
    items = [item for item, _ in known]
    exact = set(find_identifiers(text, items)) | set(find_identifiers(digits, items))
    kinds = [kind for item, kind in known if item in exact]
    squeezed = re.sub(r"[\W_]+", "", _confusable(text))
    for item, kind in known:
        if kind in kinds or item.kind in (
            IdentifierKind.BIRTH_DATE,
            IdentifierKind.ORIGINAL_UID,
        ):
            continue
        value = re.sub(r"[\W_]+", "", _confusable(item.value))
        if len(value) < 4:
            continue
        if _within(value, squeezed, len(value) // 6):
            kinds.append(kind)
    return kinds


def _shapes(text: str) -> list[str]:
    folded = fold(text)
    digits = folded.translate(_DIGIT_LIKE)
    found = []
    if _DATE.search(digits) or _YYYYMMDD.search(digits):
        found.append("date")
    squeezed = re.sub(r"[\s_\-]+", "", folded)
    letters = squeezed.translate(_LETTER_LIKE)
    if _CODICE_FISCALE.search(squeezed) or _CODICE_FISCALE.search(
        _fiscal_reading(letters, squeezed)
    ):
        found.append("codice fiscale")
    undated = _YYYYMMDD.sub(" ", _DATE.sub(" ", digits))
    if _LONG_NUMBER.search(re.sub(r"(?<=\d)[\s.]+(?=\d)", "", undated)):
        found.append("long number")
    if _CODE.search(folded) or _MIXED_CODE.search(folded):
        found.append("identifier code")
    return found


def _fiscal_reading(letters: str, original: str) -> str:
    """A codice fiscale read with digits and letters confused: each place of its pattern
    (six letters, two digits, a letter, two digits, a letter, three digits, a letter)
    taken from the reading that fits it."""
    pattern = "LLLLLLDDLDDLDDDL"
    for start in range(0, max(0, len(original) - 15)):
        window, letter_window = original[start : start + 16], letters[start : start + 16]
        if len(window) < 16:
            break
        out = []
        for place, kind in enumerate(pattern):
            char = letter_window[place] if kind == "L" else window[place].translate(_DIGIT_LIKE)
            out.append(char)
        candidate = "".join(out)
        if _CODICE_FISCALE.fullmatch(candidate):
            return candidate
    return ""


def _unexplained(words: Iterable[tuple[str, float]], harmless: frozenset[str]) -> bool:
    """Whether the words hold one of four letters or more, read with confidence, that is
    not a harmless marker."""
    for word, confidence in words:
        folded = fold(word).strip(".,:;()[]{}'\"-_/\\|")
        if confidence < 60 or folded in harmless or _TECHNIQUE.match(folded):
            continue
        for letters in _WORD.findall(folded):
            if letters in harmless or len(set(letters)) < 3:
                continue
            if re.search(r"[aeiouy]", letters) and re.search(r"[^aeiouy]", letters):
                return True
    return False


def identifying_kinds(
    words: Sequence[tuple[str, float]],
    known: Sequence[Described],
    harmless: frozenset[str] = HARMLESS,
) -> list[str]:
    """What the words read in one region identify: kinds of known identifiers, shapes of
    identifiers, or ``unexplained text`` (empty: nothing)."""
    kept = [
        (word, confidence)
        for word, confidence in words
        if fold(word).strip(".,:;()") not in harmless and confidence >= 20
    ]
    if not kept:
        return []
    text = " ".join(word for word, _ in kept)
    kinds = _known_hits(text, known) + _shapes(text)
    if not kinds and _unexplained(kept, harmless):
        kinds.append("unexplained text")
    return list(dict.fromkeys(kinds))


#: A line is read when it holds this many character-shaped marks (an identifier has three
#: characters at least; a bone edge or a pedicle's ring holds one or two).
MIN_GLYPHS = 3


def _glyphs(full: np.ndarray, candidate: Candidate) -> int:
    """How many character-shaped marks the candidate's line holds at full size (Otsu's
    threshold of the region, marks a quarter to the whole of the line's height high and
    no wider than one and a half times it): a line of text has one per character, a
    bone edge or a ring one or two."""
    import cv2

    box = candidate.box
    core = full[box.top : box.bottom, box.left : box.right]
    if core.size == 0:
        return 0
    if box.height > 48:
        factor = 40 / box.height
        core = cv2.resize(core, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    kind = cv2.THRESH_BINARY if candidate.bright else cv2.THRESH_BINARY_INV
    _, marks = cv2.threshold(core, 0, 255, kind | cv2.THRESH_OTSU)
    _, _, stats, _ = cv2.connectedComponentsWithStats(marks, connectivity=8)
    height = core.shape[0]
    h, w = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH]
    area = stats[1:, cv2.CC_STAT_AREA]
    shaped = (h >= 0.25 * height) & (h <= 1.05 * height) & (w <= 1.5 * height) & (area >= 6)
    return int(shaped.sum())


def _confident(words: Sequence[tuple[str, float]]) -> bool:
    """Whether Tesseract read these words with confidence (then no second reading)."""
    letters = [(len(w), c) for w, c in words if len(w) >= 2]
    if not letters:
        return False
    return sum(n * c for n, c in letters) / sum(n for n, _ in letters) >= 70


def _read(
    view: np.ndarray,
    candidate: Candidate,
    known: Sequence[Described],
    reader: TextReader,
    harmless: frozenset[str],
    *,
    either_way_up: bool = False,
) -> tuple[list[tuple[str, float]], list[str]]:
    """Read one candidate and judge it: the words and the kinds they identify. Contrast
    stretched first; when that is not read with confidence, against its local ground (text
    across a field edge); with ``either_way_up`` (a line found on its side), both again
    upside down."""
    words: list[tuple[str, float]] = []
    for turn in (0, 2) if either_way_up else (0,):
        for local in (False, True):
            crop = np.ascontiguousarray(
                np.rot90(_crop_for_reading(view, candidate, local=local), turn)
            )
            words = reader.read(crop)
            kinds = identifying_kinds(words, known, harmless)
            if kinds or _confident(words):
                return words, kinds
    return words, []


def _upright_box(box: Box, shape: tuple[int, int]) -> Box:
    """Where a box of ``np.rot90(image)`` lies in ``image`` (of ``shape``)."""
    return Box(shape[1] - box.bottom, box.left, box.height, box.width)


def screen_image(
    image: np.ndarray,
    known: Sequence[Described],
    reader: TextReader,
    harmless: frozenset[str] = HARMLESS,
) -> Screening:
    """Find, read and judge the text of one image (bright as displayed): the lines as they
    stand, then the lines standing on their side (found in the image turned a quarter, read
    either way up)."""
    full = _as_bytes(image)
    shape = (int(full.shape[0]), int(full.shape[1]))
    findings: list[TextFinding] = []
    candidates = read = 0
    strokes = _strokes(full)
    for turned in (False, True):
        view = full
        for candidate in _lines(strokes.turned() if turned else strokes):
            if turned and view is full:  # the image turned, once a line on its side is found
                view = np.ascontiguousarray(np.rot90(full))
            if turned and candidate.box.width < 3 * candidate.box.height:
                continue  # on its side, only a line of some length (edges of bone stand)
            if _glyphs(view, candidate) < MIN_GLYPHS:
                continue  # not worth Tesseract's time
            candidates += 1
            words, kinds = _read(view, candidate, known, reader, harmless, either_way_up=turned)
            read += bool(words)
            box = _upright_box(candidate.box, shape) if turned else candidate.box
            findings += [TextFinding(kind, box) for kind in kinds]
    return Screening(shape, tuple(findings), candidates, read)


def blank_boxes(pixels: np.ndarray, boxes: Iterable[Box], fill: float | int, pad: int = 0) -> None:
    """Set the pixels of each box (grown by ``pad``) of ``pixels`` (rows, columns), in
    place, to ``fill``."""
    shape = (int(pixels.shape[0]), int(pixels.shape[1]))
    for box in boxes:
        grown = box.padded(pad, shape)
        pixels[grown.top : grown.bottom, grown.left : grown.right] = fill
