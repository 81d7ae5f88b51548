"""Report text from the instances of a study (SR content tree, PS3.3 C.17.3)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from pacsbridge.errors import ReportNotFound

__all__ = ["is_report", "report_text"]

_SR_MODALITY = "SR"


def is_report(ds: Dataset) -> bool:
    """Whether the instance is a structured report (it may hold report text)."""
    return str(ds.get("Modality", "")) == _SR_MODALITY and "ContentSequence" in ds


def _walk(items: list[Dataset], out: list[str]) -> None:
    for item in items:
        value_type = str(item.get("ValueType", ""))
        if value_type == "TEXT" and item.get("TextValue"):
            out.append(str(item.TextValue))
        elif value_type == "CONTAINER" and "ConceptNameCodeSequence" in item:
            heading = str(item.ConceptNameCodeSequence[0].get("CodeMeaning", ""))
            if heading and "ContentSequence" in item and out:
                out.append("")  # a paragraph break between sections
        if "ContentSequence" in item:
            _walk(list(item.ContentSequence), out)


def report_text(ds: Dataset) -> str:
    """The free text of a report SR: every TEXT content item, in document order.

    Basic Text, Enhanced and Comprehensive SR share the content tree, so
    one walk reads all three.

    Raises
    ------
    ReportNotFound
        ``ds`` is not an SR or holds no text.
    """
    if not is_report(ds):
        raise ReportNotFound("the instance is not a structured report with content")
    parts: list[str] = []
    _walk(list(ds.ContentSequence), parts)
    text = "\n".join(parts).strip()
    if not text:
        raise ReportNotFound("the structured report holds no text")
    return text
