"""Report text of a study: from a report SR (PS3.3 C.17.3 content tree), an
Encapsulated PDF (PS3.3 A.45.1), or a folder where the RIS drops reports."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from pacsbridge.errors import ReportNotFound

__all__ = ["ReportDrop", "is_report", "report_text"]

logger = logging.getLogger(__name__)

_SR_MODALITY = "SR"


def is_report(ds: Dataset) -> bool:
    """Whether the instance may hold report text (an SR with content, or an encapsulated PDF)."""
    if str(ds.get("SOPClassUID", "")) == EncapsulatedPDFStorage:
        return True
    return str(ds.get("Modality", "")) == _SR_MODALITY and "ContentSequence" in ds


def _walk(items: list[Dataset], out: list[str]) -> None:
    for item in items:
        value_type = str(item.get("ValueType", ""))
        if value_type == "TEXT" and item.get("TextValue"):
            out.append(str(item.TextValue))
        elif value_type == "CONTAINER" and "ContentSequence" in item and out:
            out.append("")  # a paragraph break between sections
        if "ContentSequence" in item:
            _walk(list(item.ContentSequence), out)


def _pdf_text(ds: Dataset) -> str:
    data = bytes(ds.get("EncapsulatedDocument", b""))
    if not data:
        raise ReportNotFound("the encapsulated PDF is empty")
    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n".join(page.extract_text() or "" for page in reader.pages).strip()
    except (PdfReadError, ValueError, KeyError) as exc:
        raise ReportNotFound(f"the encapsulated PDF cannot be read: {exc}") from None


def report_text(ds: Dataset) -> str:
    """The free text of a report instance.

    Basic Text, Enhanced and Comprehensive SR share the content tree: one walk
    reads all three (every TEXT item, in document order). An Encapsulated PDF
    gives the text of its pages.

    Raises
    ------
    ReportNotFound
        ``ds`` is not a report, or holds no text.
    """
    if not is_report(ds):
        raise ReportNotFound("the instance is not a structured report or a PDF report")
    if str(ds.get("SOPClassUID", "")) == EncapsulatedPDFStorage:
        text = _pdf_text(ds)
    else:
        parts: list[str] = []
        _walk(list(ds.ContentSequence), parts)
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
