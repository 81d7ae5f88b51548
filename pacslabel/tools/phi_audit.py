"""``pacslabel audit-phi``: look for patient identifiers wherever pacslabel writes.

What to look for: every identifier the linkage table knows (the patient's
name, IDs, birth date, accession number and original UIDs, and every other
identifying string of the study's headers: physicians, operators,
institution, addresses, telephones…), plus any given in a file. A linkage row
no configured key can read is an identifier the audit cannot know: the audit
counts it as something it could not read.

Where (the research side): every text and JSON column of every table (the
encrypted linkage payload excepted); every file under the data folder's
``dicom/``, ``cache/``, ``models/``, ``reports/``, ``exports/`` and ``logs/``,
each read as what it is — DICOM (every value at any depth, private ones too),
NumPy arrays (the strings of a text array; a pixel array holds none), PyTorch
checkpoints and safetensors (everything but the tensors' numbers), text (UTF-8,
Latin-1, UTF-16, JSON escapes), other binary files (their printable runs, as
``strings`` finds them); and the log files given. The clinical side
(``incoming/``, ``quarantine/``, ``secrets/``, a demo's ``simulated-pacs/``) is
not searched, and the report says so.

Matching is the de-identifier's own (:func:`pacsbridge.find_identifiers`: any
case, accents, separators), after a first pass with an Aho–Corasick automaton
over one literal key per identifier, so a large corpus is searched once. A hit
names the place and the kind of identifier, never the identifier.

The printable runs of binary files are searched only for identifiers that
cannot turn up by chance in binary data: six letters or digits at least, and
numbers of eight digits or more. Shorter ones are looked for everywhere else.

Pixels too (:func:`pixel_hits`): every image of ``dicom/`` and every pair of ``cache/``
(or a random sample of them) and the PNGs of ``exports/`` go through the burned-in text
screen the cache stage uses (:func:`pacsbridge.screen_image`), matched against the
linkage identity of that image or study (an export's PNG, whose study the audit cannot
tell, against the shapes of identifiers only). A hit names the file, the kind and the
region.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick
import numpy as np
from PIL import Image as PILImage
from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Base, Linkage
from pacsbridge import (
    IdentifierKind,
    InvalidInstance,
    KnownIdentifier,
    decode_pixels,
    find_identifiers,
    screen_image,
)
from pacsbridge.deid.text import fold, search_keys
from pacslabel.context import Context
from pacslabel.errors import LinkageError

__all__ = [
    "AuditResult",
    "Hit",
    "IdentifierIndex",
    "audit_phi",
    "known_identifiers",
    "pixel_hits",
]

#: Folders of the data folder on the research side, searched file by file.
RESEARCH_FOLDERS = ("dicom", "cache", "models", "reports", "exports", "logs")
#: Folders of the data folder that hold clinical data by design: not searched.
CLINICAL_FOLDERS = ("incoming", "quarantine", "secrets", "simulated-pacs")


@dataclass(frozen=True, slots=True)
class Hit:
    """An identifier found: where, and what kind (never the identifier itself)."""

    where: str
    kind: str


@dataclass
class AuditResult:
    """What :func:`audit_phi` looked for, found, and could not read."""

    identifiers: int
    hits: list[Hit] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """What could not be read, each with the reason: the audit is incomplete."""
    not_searched: list[str] = field(default_factory=list)
    """Folders of the clinical side, named so the reader knows they were left out."""
    images_screened: int = 0
    """Images whose pixels were screened for burned-in text."""
    images_on_research_side: int = 0
    """Images there are (``images_screened`` is fewer with a sample)."""


def _distinctive(identifier: KnownIdentifier) -> bool:
    """Long enough not to be found by chance in binary data."""
    code = re.sub(r"[\W_]", "", identifier.value)
    return len(code) >= 6 and (not code.isdigit() or len(code) >= 8)


class IdentifierIndex:
    """Known identifiers, searchable in much text at once."""

    def __init__(self, known: Iterable[tuple[KnownIdentifier, str]]) -> None:
        self._known = dict(known)
        self._text = ahocorasick.Automaton()
        self._digits = ahocorasick.Automaton()
        self.size = 0
        for identifier, description in self._known.items():
            keys = search_keys(identifier)
            for key, digits in keys:
                automaton = self._digits if digits else self._text
                entries = automaton.get(key, [])
                entries.append((identifier, description))
                automaton.add_word(key, entries)
            self.size += bool(keys)
        for automaton in (self._text, self._digits):
            if len(automaton):
                automaton.make_automaton()

    def distinctive(self) -> IdentifierIndex:
        """The index of the identifiers fit for searching binary data (see the module doc)."""
        return IdentifierIndex((k, d) for k, d in self._known.items() if _distinctive(k))

    def find(self, text: str) -> list[tuple[KnownIdentifier, str]]:
        """The known identifiers in ``text``, with their descriptions."""
        folded = fold(text)
        candidates: dict[KnownIdentifier, str] = {}
        for automaton, haystack in ((self._text, folded), (self._digits, re.sub(r"\D", "", text))):
            if automaton.kind != ahocorasick.AHOCORASICK or not haystack:
                continue
            for _, entries in automaton.iter(haystack):
                candidates.update(entries)
        return [(item, candidates[item]) for item in find_identifiers(text, candidates)]


def known_identifiers(
    ctx: Context, extra_file: Path | None = None
) -> tuple[dict[KnownIdentifier, str], int]:
    """Identifier → its description, from every readable linkage row and ``extra_file``
    (one identifier a line); and how many linkage rows no configured key could read."""
    found: dict[KnownIdentifier, str] = {}
    unreadable = 0
    with Session(ctx.engine) as session:
        for uid in session.scalars(select(Linkage.pseudonymous_uid)):
            try:
                identity = ctx.vault.get(session, uid)
            except LinkageError:
                unreadable += 1
                continue
            for item, description in identity.described():
                found.setdefault(item, description)
    if extra_file is not None:
        for line in extra_file.read_text(encoding="utf-8").splitlines():
            if len(line.strip()) >= 3:
                item = KnownIdentifier(IdentifierKind.PATIENT_ID, line.strip())
                found.setdefault(item, "given identifier")
    return found, unreadable


def _hits(index: IdentifierIndex, text: str, where: str) -> list[Hit]:
    return [Hit(where, description) for _, description in index.find(text)]


def _database_hits(ctx: Context, index: IdentifierIndex) -> Iterator[Hit]:
    with ctx.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            key = next(iter(table.primary_key.columns))
            for row in connection.execute(table.select()):
                mapping = row._mapping
                for column in table.columns:
                    if table.name == "linkage" and column.name == "ciphertext":
                        continue
                    value = mapping[column]
                    if value is None or isinstance(value, bytes | int | float | dt.date):
                        continue  # numbers and timestamps name no one
                    if not isinstance(value, str):
                        value = json.dumps(value, default=str, ensure_ascii=False)
                    text = value
                    where = f"db {table.name}.{column.name} ({key.name}={mapping[key]})"
                    yield from _hits(index, text, where)


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_ASCII_RUN = re.compile(rb"[\x20-\x7e\t\r\n]{8,}")
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e]\x00){8,}")


def _decoded(data: bytes) -> Iterator[str]:
    """Text bytes as text (UTF-8, else Latin-1; UTF-16 with its mark), and again with the
    JSON escapes of what is not ASCII (``Cant\\u00f9``) read back."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="ignore")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    yield text
    if "\\u" in text:
        yield _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _strings(data: bytes) -> Iterator[str]:
    """The runs of printable text in binary data, ASCII and UTF-16 (as ``strings`` finds)."""
    for match in _ASCII_RUN.finditer(data):
        yield match.group().decode("ascii")
    for match in _UTF16_RUN.finditer(data):
        yield match.group().decode("utf-16-le")


def _archive_texts(path: Path) -> Iterator[str]:
    """A PyTorch checkpoint (a zip): every member but the tensors' storage."""
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if "/data/" in member and not member.endswith(".pkl"):
                continue  # raw tensor bytes: numbers, not text
            yield from _strings(archive.read(member))


def _array_texts(path: Path) -> Iterator[str]:
    """A NumPy array: the strings of a text array; nothing of a numeric one (pixels)."""
    array = np.load(path, allow_pickle=False)
    if array.dtype.kind in "US":
        yield " ".join(str(value) for value in array.ravel())


def _safetensors_texts(data: bytes) -> Iterator[str]:
    """A safetensors file: its JSON header (names and metadata), not the tensors."""
    size = int.from_bytes(data[:8], "little")
    yield data[8 : 8 + size].decode("utf-8", errors="replace")


def _dicom_hits(path: Path, index: IdentifierIndex, where: str) -> list[Hit]:
    """Every value of a DICOM file, at any depth, private ones included."""
    ds = dcmread(path, force=True)
    hits = []
    for elem in ds.iterall():
        if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ") or elem.value is None:
            continue
        values = elem.value if elem.VM > 1 else [elem.value]
        text = " ".join(str(value) for value in values)
        hits += _hits(index, text, f"{where} {elem.tag} {elem.keyword or 'private'}")
    return hits


def _file_texts(path: Path, data: bytes) -> tuple[Iterator[str], bool]:
    """What a file says, read as what it is; and whether that is binary data, searched for
    distinctive identifiers only (see the module doc)."""
    if path.suffix == ".npy":
        return _array_texts(path), False
    if path.suffix == ".safetensors":
        return _safetensors_texts(data), False
    if zipfile.is_zipfile(path):
        return _archive_texts(path), True
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strings(data), True
    return _decoded(data), False


def _file_hits(
    paths: Iterable[tuple[Path, str]], index: IdentifierIndex, result: AuditResult
) -> None:
    distinctive = index.distinctive()
    for path, where in paths:
        try:
            data = path.read_bytes()
            if path.suffix == ".dcm":
                result.hits += _dicom_hits(path, index, where)
                continue
            texts, binary = _file_texts(path, data)
            kinds = {
                hit.kind
                for text in texts
                for hit in _hits(distinctive if binary else index, text, where)
            }
        except (InvalidDicomError, OSError, ValueError, TypeError, zipfile.BadZipFile) as exc:
            result.unreadable.append(f"{where}: not readable ({exc})")
            continue
        result.hits += [Hit(where, kind) for kind in sorted(kinds)]


def _research_files(root: Path) -> Iterator[tuple[Path, str]]:
    for name in RESEARCH_FOLDERS:
        folder = root / name
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    yield path, f"file {path.relative_to(root)}"


def _images(root: Path) -> list[Path]:
    """The images of the research side: de-identified files, cached pairs, exported PNGs."""
    found = sorted((root / "dicom").rglob("*.dcm")) + sorted((root / "cache").rglob("*.npy"))
    return found + sorted((root / "exports").rglob("*.png"))


def _pixels_of(path: Path) -> tuple[list[np.ndarray], str | None]:
    """The images in ``path`` (uint8, bright as displayed) and the pseudonymous UID whose
    linkage identity they are matched against (``None``: unknown)."""
    if path.suffix == ".dcm":
        ds = dcmread(path)
        if "PixelData" not in ds:
            return [], None
        return [decode_pixels(ds, path.name).full_range], str(ds.SOPInstanceUID)
    if path.suffix == ".npy":  # a cached pair (2, size, size), or a shard of them (n, 2, …)
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        if array.ndim < 2 or not np.issubdtype(array.dtype, np.number):
            return [], None  # not pixels (a text array is searched as text)
        views = np.asarray(array).reshape(-1, *array.shape[-2:])
        return [view.astype(np.uint8) for view in views], path.stem if array.ndim == 3 else None
    with PILImage.open(path) as image:
        return [np.asarray(image.convert("L"))], None


def pixel_hits(ctx: Context, result: AuditResult, sample: int | None = None) -> None:
    """Screen the research side's images for burned-in identifiers (all, or ``sample`` of
    them drawn at random), adding hits and unreadable files to ``result``."""
    images = _images(ctx.paths.root)
    result.images_on_research_side = len(images)
    if sample is not None and sample < len(images):
        images = sorted(random.sample(images, sample))
    ctx.text_reader.check()
    with Session(ctx.engine) as session:
        for path in images:
            where = f"pixels of {path.relative_to(ctx.paths.root)}"
            try:
                views, uid = _pixels_of(path)
            except (InvalidDicomError, InvalidInstance, OSError, ValueError) as exc:
                # the kind of fault only: a message may quote the data
                result.unreadable.append(f"{where}: not readable ({type(exc).__name__})")
                continue
            known: list[tuple[KnownIdentifier, str]] = []
            # no linkage row (a study of the cache linked by another key, say): shapes only
            with contextlib.suppress(LinkageError):
                if uid is not None:
                    known = ctx.vault.get(session, uid).described()
            for view in views:
                screening = screen_image(view, known, ctx.text_reader, ctx.harmless_text)
                result.images_screened += 1
                result.hits += [
                    Hit(f"{where} ({finding.box.describe(screening.shape)})", finding.kind)
                    for finding in screening.findings
                ]


def audit_phi(
    ctx: Context,
    *,
    identifiers_file: Path | None = None,
    logs: Iterable[Path] = (),
    pixels: bool = True,
    sample: int | None = None,
) -> AuditResult:
    """Search the research side for every known identifier (see the module doc)."""
    known, unreadable_rows = known_identifiers(ctx, identifiers_file)
    index = IdentifierIndex(known.items())
    result = AuditResult(identifiers=index.size)
    if unreadable_rows:
        result.unreadable.append(
            f"{unreadable_rows} linkage rows are encrypted with a key that is not configured: "
            "their identifiers are unknown to this audit"
        )
    root = ctx.paths.root
    result.not_searched = [name for name in CLINICAL_FOLDERS if (root / name).is_dir()]
    if index.size:
        result.hits += _database_hits(ctx, index)
        _file_hits(_research_files(root), index, result)
        _file_hits(((path, f"file {path}") for path in logs), index, result)
    if pixels:
        pixel_hits(ctx, result, sample)
    return result
