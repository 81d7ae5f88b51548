"""Report text of a study, from the right document.

A study holds many documents besides its radiology report: dose reports,
CAD and measurement reports (TID 1500, ours among them), key object
selections. :func:`classify_document` tells them apart by SOP class, document
title (the root concept name) and template (PS3.16); only a *report* — a
Basic Text, Enhanced or Comprehensive SR whose title is a diagnostic report's
(LOINC 18748-4 "Diagnostic imaging study", 11528-7 "Radiology Report", or a
title the site configures), or an Encapsulated PDF (PS3.3 A.45.1) — gives
report text, and never one pacslabel wrote (Manufacturer ``pacslabel``).
When a study holds several, :func:`choose_report` takes the verified and
final one, then the latest; two that still tie with different text are
:class:`~pacsbridge.errors.AmbiguousReport`. The RIS drop folder
(:class:`ReportDrop`) is the third source.
"""

from __future__ import annotations

import csv
import enum
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from pacsbridge.errors import AmbiguousReport, ReportNotFound
from pacsbridge.values import items

__all__ = [
    "OWN_MANUFACTURER",
    "REPORT_TITLES",
    "DocumentKind",
    "ReportCandidate",
    "ReportDrop",
    "choose_report",
    "classify_document",
    "is_report",
    "report_candidate",
    "report_text",
]

logger = logging.getLogger(__name__)

#: Document titles (coding scheme, code value) of a diagnostic imaging report.
REPORT_TITLES: frozenset[tuple[str, str]] = frozenset(
    (c.scheme_designator, c.value)
    for c in (codes.LN.DiagnosticImagingReport, codes.LN.RadiologyReport)
)
#: The Manufacturer pacslabel writes in its own SRs (any installation's).
OWN_MANUFACTURER = "pacslabel"


class DocumentKind(enum.StrEnum):
    """What a non-image instance of a study is."""

    REPORT_SR = "report SR"
    REPORT_PDF = "report PDF"
    OWN_SR = "pacslabel SR"
    MEASUREMENT_SR = "measurement report (TID 1500)"
    DOSE_SR = "radiation dose report"
    CAD_SR = "CAD report"
    KEY_OBJECTS = "key object selection"
    OTHER_SR = "SR without a report title"
    NOT_A_DOCUMENT = "not a document"


_TEXT_SR = {uid.BasicTextSRStorage, uid.EnhancedSRStorage, uid.ComprehensiveSRStorage}
_DOSE = {
    uid.XRayRadiationDoseSRStorage,
    uid.EnhancedXRayRadiationDoseSRStorage,
    uid.RadiopharmaceuticalRadiationDoseSRStorage,
    uid.PatientRadiationDoseSRStorage,
}
_CAD = {uid.MammographyCADSRStorage, uid.ChestCADSRStorage, uid.ColonCADSRStorage}
_DOSE_TEMPLATES = {"10001", "10011", "10021", "10030"}
_MEASUREMENT_TITLES = {
    (c.scheme_designator, c.value) for c in (codes.DCM.ImagingMeasurementReport,)
}
_DOSE_TITLES = {
    (c.scheme_designator, c.value)
    for c in (codes.DCM.XRayRadiationDoseReport, codes.DCM.RadiopharmaceuticalRadiationDoseReport)
}


def _title(ds: Dataset) -> tuple[str, str] | None:
    names = items(ds.get("ConceptNameCodeSequence"))
    if not names:
        return None
    item = names[0]
    return str(item.get("CodingSchemeDesignator", "")), str(item.get("CodeValue", ""))


def _template(ds: Dataset) -> str:
    templates = items(ds.get("ContentTemplateSequence"))
    return str(templates[0].get("TemplateIdentifier", "")) if templates else ""


def classify_document(
    ds: Dataset, titles: Iterable[tuple[str, str]] = REPORT_TITLES
) -> DocumentKind:
    """What ``ds`` is, of the documents a study may hold (see the module doc)."""
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class == uid.EncapsulatedPDFStorage:
        return DocumentKind.REPORT_PDF
    if sop_class == uid.KeyObjectSelectionDocumentStorage:
        return DocumentKind.KEY_OBJECTS
    if sop_class in _DOSE:
        return DocumentKind.DOSE_SR
    if sop_class in _CAD:
        return DocumentKind.CAD_SR
    if str(ds.get("Modality", "")) != "SR" and "ContentSequence" not in ds:
        return DocumentKind.NOT_A_DOCUMENT
    if str(ds.get("Manufacturer", "")).strip().lower() == OWN_MANUFACTURER:
        return DocumentKind.OWN_SR
    title, template = _title(ds), _template(ds)
    if title in _MEASUREMENT_TITLES or template == "1500":
        return DocumentKind.MEASUREMENT_SR
    if title in _DOSE_TITLES or template in _DOSE_TEMPLATES:
        return DocumentKind.DOSE_SR
    if sop_class in _TEXT_SR and title in set(titles):
        return DocumentKind.REPORT_SR
    return DocumentKind.OTHER_SR


def is_report(ds: Dataset, titles: Iterable[tuple[str, str]] = REPORT_TITLES) -> bool:
    """Whether ``ds`` is a report (a report SR or PDF) by :func:`classify_document`."""
    return classify_document(ds, titles) in (DocumentKind.REPORT_SR, DocumentKind.REPORT_PDF)


@dataclass(frozen=True, slots=True)
class ReportCandidate:
    """One report document of a study, and what decides between several."""

    sop_instance_uid: str
    sop_class_uid: str
    kind: DocumentKind
    title: str
    """The document title as ``SCHEME:CODE`` (empty for a PDF without one)."""
    text: str
    verified: bool
    """VerificationFlag VERIFIED (an SR), or a PDF (the RIS signs before it exports)."""
    final: bool
    """CompletionFlag COMPLETE and PreliminaryFlag not PRELIMINARY."""
    written: str
    """Content date and time (``YYYYMMDDHHMMSS``), else the instance's creation."""


def _written(ds: Dataset) -> str:
    for date, time in (
        ("ContentDate", "ContentTime"),
        ("InstanceCreationDate", "InstanceCreationTime"),
    ):
        if ds.get(date):
            return f"{ds.get(date)}{str(ds.get(time, '') or '').split('.')[0]:0<6}"
    return ""


def report_candidate(
    ds: Dataset, titles: Iterable[tuple[str, str]] = REPORT_TITLES
) -> ReportCandidate | None:
    """``ds`` as a report candidate; ``None`` when it is not a report.

    Raises
    ------
    ReportNotFound
        ``ds`` is a report document that holds no text one can read.
    """
    kind = classify_document(ds, titles)
    if kind not in (DocumentKind.REPORT_SR, DocumentKind.REPORT_PDF):
        return None
    title = _title(ds)
    pdf = kind is DocumentKind.REPORT_PDF
    return ReportCandidate(
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        kind=kind,
        title=f"{title[0]}:{title[1]}" if title else "",
        text=report_text(ds, titles),
        verified=pdf or str(ds.get("VerificationFlag", "")).upper() == "VERIFIED",
        final=(pdf or str(ds.get("CompletionFlag", "")).upper() == "COMPLETE")
        and str(ds.get("PreliminaryFlag", "")).upper() != "PRELIMINARY",
        written=_written(ds),
    )


def choose_report(candidates: Sequence[ReportCandidate]) -> ReportCandidate:
    """The study's report: a verified and final one before others, then the latest.

    Raises
    ------
    ReportNotFound
        No candidate.
    AmbiguousReport
        The best two differ in text and nothing above tells them apart.
    """
    if not candidates:
        raise ReportNotFound("no report document in the study")
    ranked = sorted(candidates, key=lambda c: (c.verified and c.final, c.written), reverse=True)
    best = ranked[0]
    for other in ranked[1:]:
        tie = (other.verified and other.final, other.written) == (
            best.verified and best.final,
            best.written,
        )
        if tie and " ".join(other.text.split()) != " ".join(best.text.split()):
            raise AmbiguousReport(
                f"{len(candidates)} report documents, two of them equally final and recent "
                f"({best.written or 'no date'}) with different text: which one is the report "
                "needs a person"
            )
    return best


def _content(ds: Dataset) -> list[Dataset]:
    """The items of a content sequence; none when it is missing or not a sequence."""
    return items(ds.get("ContentSequence"))


def _walk(items: list[Dataset], out: list[str]) -> None:
    for item in items:
        value_type = str(item.get("ValueType", ""))
        children = _content(item)
        if value_type == "TEXT" and item.get("TextValue"):
            out.append(str(item.TextValue))
        elif value_type == "CONTAINER" and children and out:
            out.append("")  # a paragraph break between sections
        _walk(children, out)


def _pdf_text(ds: Dataset) -> str:
    data = bytes(ds.get("EncapsulatedDocument", b""))
    if not data:
        raise ReportNotFound("the encapsulated PDF is empty")
    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n".join(page.extract_text() or "" for page in reader.pages).strip()
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ReportNotFound(f"the encapsulated PDF cannot be read: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a PDF parser fed anything raises anything
        raise ReportNotFound(
            f"the encapsulated PDF cannot be read: {type(exc).__name__}: {exc}"
        ) from None


def report_text(ds: Dataset, titles: Iterable[tuple[str, str]] = REPORT_TITLES) -> str:
    """The free text of a report instance.

    Basic Text, Enhanced and Comprehensive SR share the content tree: one walk
    reads all three (every TEXT item, in document order). An Encapsulated PDF
    gives the text of its pages.

    Raises
    ------
    ReportNotFound
        ``ds`` is not a report, or holds no text.
    """
    if not is_report(ds, titles):
        kind = classify_document(ds, titles)
        raise ReportNotFound(f"the instance is not a report but a {kind}")
    if str(ds.get("SOPClassUID", "")) == uid.EncapsulatedPDFStorage:
        text = _pdf_text(ds)
    else:
        parts: list[str] = []
        _walk(_content(ds), parts)
        text = "\n".join(parts).strip()
    if not text:
        raise ReportNotFound("the report holds no text")
    return text


class ReportDrop:
    """Reports the RIS keeps outside the PACS, dropped in a folder keyed by accession number.

    The folder holds ``<AccessionNumber>.txt`` files (UTF-8) and/or a
    ``reports.csv`` with columns ``accession_number`` and ``text``; a file
    wins over a CSV row.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._csv: dict[str, str] | None = None

    def _rows(self) -> dict[str, str]:
        if self._csv is None:
            self._csv = {}
            path = self.folder / "reports.csv"
            if path.is_file():
                with path.open(encoding="utf-8", newline="") as handle:
                    for row in csv.DictReader(handle):
                        accession = (row.get("accession_number") or "").strip()
                        if accession and row.get("text"):
                            self._csv[accession] = row["text"]
        return self._csv

    def text_for(self, accession_number: str) -> str | None:
        """The report of ``accession_number``, or ``None`` when the RIS dropped none."""
        name = accession_number.strip()
        if not name or "/" in name or name.startswith("."):
            return None
        path = self.folder / f"{name}.txt"
        if path.is_file():
            return path.read_text(encoding="utf-8").strip() or None
        return self._rows().get(name)
