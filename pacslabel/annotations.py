"""Human annotations: what annotators said of reports and of images.

*Report annotations* come as a CSV: one row per report, a column per finding
(``positive``, ``negative``, ``uncertain``, ``not_mentioned``), and either a
``study_instance_uid`` (the original or the pseudonymous UID of a study in the
database, whose de-identified report is used) or a ``text`` column (a report
outside the database, de-identified here before use). An optional
``annotator`` column names who labelled it, an optional ``id`` the report (in
the misses an evaluation writes). Annotations of studies in the
database are stored as finding labels of source ``human`` and version
``report:<annotator>``.

*Image annotations* (:func:`read_image_labels`) come as a CSV of
``study_instance_uid`` and one column per finding: ``1``, ``0``, or empty
when not annotated. Stored (:func:`store_image_labels`, ``pacslabel labels
import --kind image``) they are finding labels of source ``human``, target
``image`` and version ``image:<annotator>``; marked ``test_set`` they are the
frozen human test set, whose studies no model trains on.

Human labels are the first training targets where they exist
(:func:`human_targets`): an image label first, then a report label, then the
configured labeller's.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import FindingLabel, LabelSource, LabelState, LabelTarget, Report, Study
from db.queries import audit, study_by_uid
from labeller import State
from pacsbridge import deidentify_text
from pacslabel.errors import InvalidAnnotations
from pacslabel.vocabulary import db_state, labeller_state

__all__ = [
    "HUMAN_IMAGE_PREFIX",
    "HUMAN_REPORT_PREFIX",
    "Annotation",
    "Resolved",
    "human_labels_in_db",
    "human_targets",
    "read_annotations",
    "read_image_labels",
    "resolve_annotations",
    "set_human_label",
    "store_human_labels",
    "store_image_labels",
    "stored_image_labels",
]

logger = logging.getLogger(__name__)

HUMAN_REPORT_PREFIX = "report:"
"""Source version prefix of human labels of what a report says."""
HUMAN_IMAGE_PREFIX = "image:"
"""Source version prefix of human labels of what the images show."""


@dataclass(frozen=True, slots=True)
class Annotation:
    """One human-annotated report."""

    row: int
    states: dict[str, State]
    annotator: str
    study_uid: str | None = None
    text: str | None = None
    report_id: str = ""
    """What the file calls the report: its ``id`` column, else the study UID, else the line."""


def read_annotations(path: Path, findings: Sequence[str]) -> list[Annotation]:
    """Read a report annotation CSV (see the module doc).

    Raises
    ------
    InvalidAnnotations
        The file is missing, lacks a finding column or both key columns, or
        holds a state that is not one of the four.
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidAnnotations(f"{path}: cannot read ({exc.strerror})") from exc
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = [key for key in findings if key not in columns]
        if missing:
            raise InvalidAnnotations(f"{path}: no column for {', '.join(missing)}")
        if not columns & {"study_instance_uid", "text"}:
            raise InvalidAnnotations(f"{path}: needs a study_instance_uid or a text column")
        out = []
        for number, row in enumerate(reader, start=2):
            states = {}
            for key in findings:
                value = (row.get(key) or "").strip().lower().replace(" ", "_")
                try:
                    states[key] = State(value)
                except ValueError:
                    raise InvalidAnnotations(
                        f"{path}, line {number}, column {key}: {value!r} is not one of "
                        f"{', '.join(s.value for s in State)}"
                    ) from None
            text = (row.get("text") or "").strip() or None
            uid = (row.get("study_instance_uid") or "").strip() or None
            if text is None and uid is None:
                raise InvalidAnnotations(f"{path}, line {number}: neither a study UID nor text")
            annotator = (row.get("annotator") or "").strip() or "annotator"
            report_id = (row.get("id") or "").strip() or uid or f"line {number}"
            out.append(Annotation(number, states, annotator, uid, text, report_id))
    if not out:
        raise InvalidAnnotations(f"{path}: no annotated reports")
    return out


@dataclass(frozen=True, slots=True)
class Resolved:
    """An annotation with the de-identified text it labels."""

    annotation: Annotation
    text: str
    study_id: int | None


def resolve_annotations(
    session: Session, annotations: Sequence[Annotation], pseudonym: Callable[[str], str]
) -> list[Resolved]:
    """The de-identified report text of each annotation.

    Rows with text are de-identified here; rows with a study UID take the
    report of that study (found by its pseudonymous UID, or by its original one
    mapped with ``pseudonym``). Rows
    whose study is not in the database, or has no report, are logged and left
    out.

    Raises
    ------
    InvalidAnnotations
        No row could be resolved.
    """
    out, unknown = [], []
    for annotation in annotations:
        if annotation.text is not None:
            out.append(Resolved(annotation, deidentify_text(annotation.text), None))
            continue
        uid = annotation.study_uid or ""
        study = study_by_uid(session, uid, pseudonym)
        if study is None or study.report is None:
            unknown.append(annotation.row)
            continue
        out.append(Resolved(annotation, study.report.text, study.id))
    if unknown:
        logger.warning(
            "%d annotated studies are not in the database or have no report (lines %s)",
            len(unknown),
            ", ".join(map(str, unknown[:20])) + (" …" if len(unknown) > 20 else ""),
        )
    if not out:
        raise InvalidAnnotations("none of the annotated reports is in the database")
    return out


def store_human_labels(session: Session, resolved: Sequence[Resolved]) -> int:
    """Store the annotations of studies in the database (source ``human``, target
    ``report``), an annotator's earlier label of the same finding replaced (and the change
    audited); returns how many labels changed."""
    changed = 0
    for item in resolved:
        study = session.get(Study, item.study_id) if item.study_id is not None else None
        if study is None:
            continue
        for key, state in item.annotation.states.items():
            changed += set_human_label(
                session,
                study,
                key,
                db_state(state),
                annotator=item.annotation.annotator,
                target=LabelTarget.REPORT,
            )
    return changed


def _human_row(
    session: Session, study: Study, finding: str, annotator: str, target: LabelTarget
) -> FindingLabel | None:
    prefix = HUMAN_IMAGE_PREFIX if target == LabelTarget.IMAGE else HUMAN_REPORT_PREFIX
    return session.scalar(
        select(FindingLabel).where(
            FindingLabel.study_id == study.id,
            FindingLabel.finding == finding,
            FindingLabel.source == LabelSource.HUMAN,
            FindingLabel.source_version == prefix + annotator,
        )
    )


def set_human_label(
    session: Session,
    study: Study,
    finding: str,
    state: LabelState,
    *,
    annotator: str,
    target: LabelTarget,
    test_set: bool = False,
) -> bool:
    """Store one annotator's label of ``finding`` (what the report says or what the images
    show); an annotator's earlier label of the same is changed, and the change audited
    with the old and new state. Returns whether anything changed."""
    row = _human_row(session, study, finding, annotator, target)
    prefix = HUMAN_IMAGE_PREFIX if target == LabelTarget.IMAGE else HUMAN_REPORT_PREFIX
    if row is None:
        row = FindingLabel(
            study_id=study.id,
            finding=finding,
            state=state,
            source=LabelSource.HUMAN,
            source_version=prefix + annotator,
            annotator=annotator,
            target=target,
            test_set=test_set,
        )
        session.add(row)
        old = None
    elif row.state == state and row.test_set == test_set:
        return False
    else:
        old = str(row.state.value)
        row.state, row.test_set = state, test_set
    audit(
        session,
        "label.human",
        study.study_uid,
        actor=annotator,
        finding=finding,
        target=str(target),
        annotator=annotator,
        old=old,
        new=str(state.value),
        test_set=test_set,
    )
    return True


def store_image_labels(
    session: Session,
    labels: dict[str, np.ndarray],
    findings: Sequence[str],
    pseudonym: Callable[[str], str],
    *,
    annotator: str,
    test_set: bool,
) -> tuple[int, list[str]]:
    """Store image labels (study UID → targets, NaN not annotated) of studies in the
    database; returns how many labels changed and the UIDs that are not in it."""
    changed, unknown = 0, []
    for uid, row in labels.items():
        study = study_by_uid(session, uid, pseudonym)
        if study is None:
            unknown.append(uid)
            continue
        for key, value in zip(findings, row, strict=True):
            if np.isnan(value):
                continue
            state = LabelState.POSITIVE if value >= 0.5 else LabelState.NEGATIVE
            changed += set_human_label(
                session,
                study,
                key,
                state,
                annotator=annotator,
                target=LabelTarget.IMAGE,
                test_set=test_set,
            )
    return changed, unknown


_IMAGE_VALUES = {LabelState.POSITIVE: 1.0, LabelState.NEGATIVE: 0.0}


def stored_image_labels(
    session: Session, findings: Sequence[str], *, test_set: bool
) -> dict[str, np.ndarray]:
    """The stored human image labels (of the test set, or not), newest per study and
    finding: pseudonymous study UID → targets (1, 0, NaN)."""
    rows = session.execute(
        select(Study.study_uid, FindingLabel.finding, FindingLabel.state)
        .join(FindingLabel, FindingLabel.study_id == Study.id)
        .where(
            FindingLabel.source == LabelSource.HUMAN,
            FindingLabel.target == LabelTarget.IMAGE,
            FindingLabel.test_set.is_(test_set),
        )
        .order_by(FindingLabel.id)
    ).all()
    index = {key: j for j, key in enumerate(findings)}
    out: dict[str, np.ndarray] = {}
    for uid, finding, state in rows:
        if finding in index:
            row = out.setdefault(uid, np.full(len(findings), np.nan, dtype=np.float32))
            row[index[finding]] = _IMAGE_VALUES.get(state, np.nan)  # uncertain: not scored
    return out


def human_targets(
    session: Session, uids: Sequence[str], mapping: dict[str, float]
) -> dict[tuple[str, str], float]:
    """The human training targets of ``uids``: (study UID, finding) → target, an image
    label before a report label (``mapping`` turns a report state into a target; an
    image label "not assessable" leaves the report's), the newest of each kind."""
    rows = session.execute(
        select(Study.study_uid, FindingLabel.finding, FindingLabel.state, FindingLabel.target)
        .join(FindingLabel, FindingLabel.study_id == Study.id)
        .where(FindingLabel.source == LabelSource.HUMAN, Study.study_uid.in_(uids))
        .order_by(FindingLabel.id)
    ).all()
    report: dict[tuple[str, str], float] = {}
    image: dict[tuple[str, str], float] = {}
    for uid, finding, state, target in rows:
        if target == LabelTarget.IMAGE and state == LabelState.NOT_MENTIONED:
            image.pop((uid, finding), None)  # not assessable: the report's label stands
        elif target == LabelTarget.IMAGE:
            image[(uid, finding)] = _IMAGE_VALUES.get(state, mapping[LabelState.UNCERTAIN.value])
        else:
            report[(uid, finding)] = mapping[str(state.value)]
    return report | image


def human_labels_in_db(session: Session, findings: Sequence[str]) -> list[Resolved]:
    """The human report labels already in the database that cover every one of
    ``findings``, one per study and annotator."""
    rows = session.execute(
        select(
            FindingLabel.study_id,
            FindingLabel.source_version,
            FindingLabel.finding,
            FindingLabel.state,
        ).where(
            FindingLabel.source == LabelSource.HUMAN,
            FindingLabel.source_version.startswith(HUMAN_REPORT_PREFIX),
        )
    ).all()
    table: dict[tuple[int, str], dict[str, State]] = {}
    for study_id, version, finding, state in rows:
        table.setdefault((study_id, version), {})[finding] = labeller_state(state)
    texts: dict[int, str] = {
        study_id: text
        for study_id, text in session.execute(
            select(Report.study_id, Report.text).where(
                Report.study_id.in_({study_id for study_id, _ in table})
            )
        )
    }
    out = []
    for (study_id, version), states in sorted(table.items()):
        if study_id in texts and all(key in states for key in findings):
            annotator = version.removeprefix(HUMAN_REPORT_PREFIX)
            annotation = Annotation(0, states, annotator)
            out.append(Resolved(annotation, texts[study_id], study_id))
    return out


_VALUES = {"1": 1.0, "0": 0.0, "": np.nan}


def read_image_labels(path: Path, findings: Sequence[str]) -> dict[str, np.ndarray]:
    """Study UID → ``(findings,)`` targets (1, 0, NaN when not annotated).

    Raises
    ------
    InvalidAnnotations
        Unreadable file, a missing column, or a value other than 1, 0 or empty
        (the message names the file, line and column).
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidAnnotations(f"{path}: cannot read ({exc.strerror})") from exc
    out: dict[str, np.ndarray] = {}
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = [key for key in ("study_instance_uid", *findings) if key not in columns]
        if missing:
            raise InvalidAnnotations(f"{path}: no column for {', '.join(missing)}")
        for number, row in enumerate(reader, start=2):
            uid = (row["study_instance_uid"] or "").strip()
            if not uid:
                raise InvalidAnnotations(f"{path}, line {number}: no study_instance_uid")
            values = []
            for key in findings:
                value = (row[key] or "").strip()
                if value not in _VALUES:
                    raise InvalidAnnotations(
                        f"{path}, line {number}, column {key}: {value!r} is not 1, 0 or empty"
                    )
                values.append(_VALUES[value])
            out[uid] = np.array(values, dtype=np.float32)
    if not out:
        raise InvalidAnnotations(f"{path}: no annotated studies")
    return out
