"""C-FIND SCU: studies, series and images of the Study Root model (PS3.4 C.6.2)."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from pacsbridge.association import associate, check_alive
from pacsbridge.errors import AssociationAborted, QueryFailed
from pacsbridge.node import LocalAE, Node
from pacsbridge.status import Service, describe, is_pending, is_success
from pacsbridge.values import first, lenient_date

__all__ = [
    "ImageRecord",
    "SeriesRecord",
    "StudyFilter",
    "StudyRecord",
    "find_images",
    "find_series",
    "find_studies",
    "find_study",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StudyFilter:
    """Which studies a task wants (from the task definition).

    ``study_description_patterns`` use C-FIND wildcards (``*``, ``?``),
    compared without regard to case; a study matches when any pattern does.
    An empty tuple accepts every description.
    """

    modalities: tuple[str, ...]
    body_parts: tuple[str, ...] = ()
    study_description_patterns: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, query: Mapping[str, Any]) -> StudyFilter:
        """From a task file's ``[query]`` table (``modalities``, ``body_parts``,
        ``study_description_patterns``)."""
        return cls(
            modalities=tuple(query["modalities"]),
            body_parts=tuple(query.get("body_parts", ())),
            study_description_patterns=tuple(query.get("study_description_patterns", ())),
        )

    def accepts_description(self, description: str) -> bool:
        if not self.study_description_patterns:
            return True
        text = description.upper()
        return any(fnmatch.fnmatchcase(text, p.upper()) for p in self.study_description_patterns)


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """What a study-level C-FIND tells about a study (clinical identifiers: keep private)."""

    study_instance_uid: str
    """As the PACS gave it: may not be a valid UID (:func:`~pacsbridge.single_uid`)."""
    study_date: str
    """``YYYYMMDD``, or empty when the PACS gave none that is a date."""
    study_description: str
    accession_number: str
    modalities_in_study: tuple[str, ...]
    number_of_study_related_instances: int | None
    date_problem: str = ""
    """Why the StudyDate the PACS gave is no date to trust (several values, not a date,
    none); empty when it is one."""


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    series_instance_uid: str
    modality: str
    series_description: str
    body_part_examined: str
    number_of_series_related_instances: int | None


@dataclass(frozen=True, slots=True)
class ImageRecord:
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None


def _find(local: LocalAE, node: Node, query: Dataset) -> list[Dataset]:
    model = StudyRootQueryRetrieveInformationModelFind
    answers: list[Dataset] = []
    with associate(local, node, [build_context(model)]) as assoc:
        for status, identifier in assoc.send_c_find(query, model):
            check_alive(assoc, node, "C-FIND")
            if "Status" not in status:
                raise AssociationAborted(
                    f"no C-FIND response from {node} (timeout or abort: does it allow "
                    f"queries from AE {local.ae_title}?)"
                )
            code = int(status.Status)
            if is_pending(code, Service.C_FIND) and identifier is not None:
                answers.append(identifier)
            elif is_success(code):
                break
            else:
                raise QueryFailed(
                    f"C-FIND at {query.QueryRetrieveLevel} level on {node} failed: "
                    f"{describe(code, Service.C_FIND)}",
                    code,
                )
    return answers


def _int_or_none(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def find_studies(
    local: LocalAE,
    node: Node,
    study_filter: StudyFilter,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
) -> list[StudyRecord]:
    """Studies on ``node`` that the task wants, oldest first.

    The modality and date range go to the PACS as matching keys; the
    description patterns are applied to the answers (a C-FIND key takes only
    one pattern).

    Raises
    ------
    QueryFailed, AssociationRejected, AssociationAborted
    """
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    query.StudyDate = f"{date_from or ''}-{date_to or ''}" if (date_from or date_to) else ""
    query.StudyDescription = ""
    query.AccessionNumber = ""
    query.ModalitiesInStudy = list(study_filter.modalities)
    query.NumberOfStudyRelatedInstances = ""
    records = [
        _record(answer)
        for answer in _find(local, node, query)
        if answer.get("StudyInstanceUID")
        and study_filter.accepts_description(str(answer.get("StudyDescription", "")))
    ]
    records.sort(key=lambda r: (r.study_date, r.study_instance_uid))
    logger.info("C-FIND on %s: %d studies match the task", node, len(records))
    return records


def _date_problem(value: object) -> str:
    if isinstance(value, MultiValue | list | tuple) and len(value) > 1:
        return f"its StudyDate has {len(value)} values"
    if lenient_date(value) is None:
        shown = str(first(value) or "")[:20]
        return f"its StudyDate {shown!r} is not a date" if shown else "it has no StudyDate"
    return ""


def _record(answer: Dataset) -> StudyRecord:
    modalities = answer.get("ModalitiesInStudy", [])
    if isinstance(modalities, str):
        modalities = [modalities]
    problem = _date_problem(answer.get("StudyDate"))
    return StudyRecord(
        study_instance_uid=str(answer.get("StudyInstanceUID", "")),  # checked by the caller
        study_date="" if problem else lenient_date(answer.get("StudyDate")) or "",
        study_description=str(first(answer.get("StudyDescription", "")) or ""),
        accession_number=str(answer.get("AccessionNumber", "")),
        modalities_in_study=tuple(str(m) for m in modalities),
        number_of_study_related_instances=_int_or_none(answer, "NumberOfStudyRelatedInstances"),
        date_problem=problem,
    )


def find_study(local: LocalAE, node: Node, study_instance_uid: str) -> StudyRecord | None:
    """One study by its UID (how many instances the PACS holds now, say); ``None`` when the
    PACS does not know it.

    Raises
    ------
    QueryFailed, AssociationRejected, AssociationAborted
    """
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_instance_uid
    query.StudyDate = ""
    query.StudyDescription = ""
    query.AccessionNumber = ""
    query.ModalitiesInStudy = ""
    query.NumberOfStudyRelatedInstances = ""
    answers = [a for a in _find(local, node, query) if a.get("StudyInstanceUID")]
    return _record(answers[0]) if answers else None


def find_series(local: LocalAE, node: Node, study_instance_uid: str) -> list[SeriesRecord]:
    """The series of one study.

    Raises
    ------
    QueryFailed, AssociationRejected, AssociationAborted
    """
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study_instance_uid
    query.SeriesInstanceUID = ""
    query.Modality = ""
    query.SeriesDescription = ""
    query.BodyPartExamined = ""
    query.NumberOfSeriesRelatedInstances = ""
    return [
        SeriesRecord(
            series_instance_uid=str(answer.SeriesInstanceUID),
            modality=str(answer.get("Modality", "")),
            series_description=str(answer.get("SeriesDescription", "")),
            body_part_examined=str(answer.get("BodyPartExamined", "")),
            number_of_series_related_instances=_int_or_none(
                answer, "NumberOfSeriesRelatedInstances"
            ),
        )
        for answer in _find(local, node, query)
        if answer.get("SeriesInstanceUID")
    ]


def find_images(
    local: LocalAE, node: Node, study_instance_uid: str, series_instance_uid: str
) -> list[ImageRecord]:
    """The instances of one series.

    Raises
    ------
    QueryFailed, AssociationRejected, AssociationAborted
    """
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study_instance_uid
    query.SeriesInstanceUID = series_instance_uid
    query.SOPInstanceUID = ""
    query.SOPClassUID = ""
    query.InstanceNumber = ""
    return [
        ImageRecord(
            sop_instance_uid=str(answer.SOPInstanceUID),
            sop_class_uid=str(answer.get("SOPClassUID", "")),
            instance_number=_int_or_none(answer, "InstanceNumber"),
        )
        for answer in _find(local, node, query)
        if answer.get("SOPInstanceUID")
    ]
