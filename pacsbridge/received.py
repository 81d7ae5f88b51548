"""What a received file is, de-identified (in this process or in a worker of
:mod:`pacsbridge.workers`).

:func:`deidentify_file` reads one received instance within the limits and files
it as an image (its pixel data checked without decoding, its header
de-identified, the file written de-identified), a report document (its text and
the identity of its header, for the report to be chosen and cleaned later) or
another document (left aside). A file that cannot be taken is an outcome with
the reason, never an exception: the outcome crosses a process boundary.

The de-identified file is written without re-encoding the pixel data: the
header is encoded by pydicom and the pixel data element copied from the
received file byte for byte (:func:`write_deidentified`), which is exactly what
pydicom would write for the whole data set (a test compares them); when it
would not be (pixel data masked, a trailing element, a big-endian or deflated
file), pydicom writes the whole data set.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pacsbridge.deid import DeidentifiedInstance, DeidOptions, OriginalIdentity, Pseudonymiser
from pacsbridge.deid import deidentify as deidentify_header
from pacsbridge.errors import InvalidInstance
from pacsbridge.files import WRITING_SUFFIX, write_atomically
from pacsbridge.limits import DEFAULT_LIMITS, Limits, check_pixels, read_instance
from pacsbridge.report import (
    REPORT_TITLES,
    DocumentKind,
    ReportCandidate,
    ReportNotFound,
    classify_document,
    report_candidate,
)

logger = logging.getLogger(__name__)

__all__ = ["DeidJob", "FileOutcome", "deidentify_file", "job_pseudonymiser", "write_deidentified"]

#: Where :func:`deidentify_file` writes, inside the study's folder of received files.
STAGING = ".deidentified"
_PIXEL_DATA = Tag(0x7FE0, 0x0010)
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class DeidJob:
    """Everything a worker needs to de-identify any received file (sent to it once)."""

    pseudonym_key: bytes
    max_date_shift_days: int
    options: DeidOptions
    limits: Limits = DEFAULT_LIMITS
    titles: frozenset[tuple[str, str]] = frozenset(REPORT_TITLES)
    max_report_chars: int = 200_000

    def __repr__(self) -> str:  # the key never reaches a log
        return f"DeidJob(options={self.options!r}, limits={self.limits!r})"


@dataclass(frozen=True)
class FileOutcome:
    """What one received file turned out to be. Exactly one of ``image`` (with ``written``),
    ``report``, ``left_aside`` and ``refused`` is set."""

    path: Path
    """The received file."""
    image: DeidentifiedInstance | None = None
    """The de-identified header (without its pixel data) and the identity it came from."""
    written: Path | None = None
    """The de-identified file, in the study's staging folder, named by its pseudonymous
    SOP Instance UID; the caller moves it where it belongs, or deletes it."""
    report: tuple[ReportCandidate, OriginalIdentity] | None = None
    left_aside: DocumentKind | None = None
    """A document that is not a report (dose, CAD, measurement, KOS, our own SRs)."""
    refused: str | None = None
    """Why the file cannot be taken (it goes to quarantine with this reason)."""


def deidentify_file(path: Path, job: DeidJob) -> FileOutcome:
    """File one received instance under what it is (see the module doc); an image is
    written de-identified to ``<its folder>/.deidentified/<pseudonymous SOP UID>.dcm``.

    Raises
    ------
    OSError
        Our disk failed (the file could not be read back or the output written): no
        fault of the file's.
    """
    try:
        ds = read_instance(path, job.limits)
        kind = classify_document(ds, job.titles)
        if kind is not DocumentKind.NOT_A_DOCUMENT:
            return _document(path, ds, kind, job)
        check_pixels(ds, job.limits, ds.get("SOPInstanceUID", "instance"))
        anon = deidentify_header(ds, job_pseudonymiser(job), job.options)
    except InvalidInstance as exc:
        return FileOutcome(path, refused=exc.reason)
    except ReportNotFound as exc:
        return FileOutcome(path, refused=str(exc))
    out = path.parent / STAGING / f"{anon.sop_instance_uid}.dcm"
    out.parent.mkdir(exist_ok=True)
    # whole, even when a retried transfer de-identifies it twice
    write_atomically(out, lambda part: write_deidentified(anon.dataset, path, part), WRITING_SUFFIX)
    if _PIXEL_DATA in anon.dataset:
        del anon.dataset[_PIXEL_DATA]  # what pairing and the database need is the header
    return FileOutcome(path, image=anon, written=out)


def _document(path: Path, ds: Dataset, kind: DocumentKind, job: DeidJob) -> FileOutcome:
    candidate = report_candidate(ds, job.titles)
    if candidate is None:
        return FileOutcome(path, left_aside=kind)
    if len(candidate.text) > job.max_report_chars:
        raise ReportNotFound(
            f"report of {len(candidate.text)} characters, over limits.max_report_chars "
            f"({job.max_report_chars})"
        )
    return FileOutcome(path, report=(candidate, OriginalIdentity.from_dataset(ds, job.options)))


_PSEUDONYMISERS: dict[tuple[bytes, int], Pseudonymiser] = {}


def job_pseudonymiser(job: DeidJob) -> Pseudonymiser:
    """The job's pseudonymiser, made once per process (a worker's first task makes it)."""
    key = (job.pseudonym_key, job.max_date_shift_days)
    if key not in _PSEUDONYMISERS:
        _PSEUDONYMISERS[key] = Pseudonymiser(job.pseudonym_key, job.max_date_shift_days)
    return _PSEUDONYMISERS[key]


def write_deidentified(ds: Dataset, source: Path, out: Path) -> None:
    """Write ``ds`` (read from ``source``, header de-identified, pixel data untouched) to
    ``out`` in the DICOM file format: the header by pydicom, the pixel data element copied
    from ``source`` when those bytes are what pydicom would write; else all by pydicom."""
    tail = _pixel_data_tail(ds, source)
    if tail is None:
        ds.save_as(out, enforce_file_format=True)
        return
    start, length = tail
    pixels = ds[_PIXEL_DATA]
    del ds[_PIXEL_DATA]
    try:
        with out.open("wb") as fh:
            ds.save_as(fh, enforce_file_format=True)
            fh.flush()
            with source.open("rb") as src:
                _copy_range(src.fileno(), fh.fileno(), start, length)
    finally:
        ds[_PIXEL_DATA] = pixels


def _copy_range(src: int, dst: int, start: int, length: int) -> None:
    """Copy ``length`` bytes of ``src`` from ``start`` to the end of ``dst``, in the kernel."""
    while length > 0:
        sent = os.sendfile(dst, src, start, length)
        if sent == 0:
            raise OSError(f"the received file ended {length} bytes early")
        start, length = start + sent, length - sent


def _pixel_data_tail(ds: Dataset, source: Path) -> tuple[int, int] | None:
    """(offset, length) of the pixel data element at the end of ``source`` when its bytes
    are exactly what pydicom writes for ``ds``'s pixel data (the same header, the same
    value: pixels masked since are not); ``None`` otherwise."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None or _PIXEL_DATA not in ds or max(ds.keys()) != _PIXEL_DATA:
        return None
    explicit = syntax != ImplicitVRLittleEndian
    if syntax.is_deflated or not syntax.is_little_endian:
        return None
    if syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian) and not syntax.is_compressed:
        return None
    elem = ds[_PIXEL_DATA]
    value = elem.value
    if elem.file_tell is None or not isinstance(value, bytes) or len(value) % 2:
        return None
    undefined = elem.is_undefined_length
    length_field = 0xFFFFFFFF if undefined else len(value)
    if explicit:
        if elem.VR not in ("OB", "OW"):
            return None
        header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, elem.VR.encode(), 0, length_field)
    else:
        header = struct.pack("<HHI", 0x7FE0, 0x0010, length_field)
    start = elem.file_tell - len(header)
    trailer = _SEQUENCE_DELIMITER if undefined else b""
    total = len(header) + len(value) + len(trailer)
    with source.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if len(data) != start + total or data[start : elem.file_tell] != header:
            return None
        if trailer and data[start + total - len(trailer) : start + total] != trailer:
            return None
        with memoryview(data) as view:  # the pixels as read, not masked since
            if view[elem.file_tell : elem.file_tell + len(value)] != value:
                return None
    return start, total
