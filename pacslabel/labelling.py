"""Report labellers as the application uses them: train, register, evaluate, label.

Human report annotations come as a CSV: one row per report, a column per
finding (``positive``, ``negative``, ``uncertain``, ``not_mentioned``), and
either a ``study_instance_uid`` (the original or the pseudonymous UID of a
study in the database, whose de-identified report is used) or a ``text``
column (a report outside the database, de-identified here before use). An
optional ``annotator`` column names who labelled it.

Annotations of studies in the database are stored as finding labels of
source ``human`` and version ``report:<annotator>``; trained labellers are
saved under ``<data_dir>/models/labellers/<version>`` and registered in the
model registry with mode ``nlp``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import FindingLabel, LabelSource, LabelState, Model, Report, Study
from labeller import (
    FindingScore,
    Labeller,
    LabellerError,
    State,
    confusion_figure,
    deidentify_report,
    score,
    table_text,
)
from labeller.bert import BertLabeller
from labeller.training import TrainingPlan, TrainingReport, train_bert
from pacslabel.stages.images import NLP_MODE
from pacslabel.stages.label import add_labels
from pacslabel.stages.state import find_study
from pacslabel.stages.train import code_version

if TYPE_CHECKING:
    from pacslabel.context import Context

__all__ = [
    "Annotation",
    "InvalidAnnotations",
    "Resolved",
    "configured_labeller",
    "evaluate_labellers",
    "human_labels_in_db",
    "label_corpus",
    "load_labeller",
    "read_annotations",
    "record_evaluation",
    "resolve_annotations",
    "store_human_labels",
    "train_labeller",
]

logger = logging.getLogger(__name__)

HUMAN_REPORT_PREFIX = "report:"
"""Source version prefix of human labels of what a report says."""


class InvalidAnnotations(LabellerError):
    """An annotation file cannot be used; the message names the file, row and column."""


@dataclass(frozen=True, slots=True)
class Annotation:
    """One human-annotated report."""

    row: int
    states: dict[str, State]
    annotator: str
    study_uid: str | None = None
    text: str | None = None


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
            out.append(Annotation(number, states, annotator, uid, text))
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
    ctx: Context, session: Session, annotations: Sequence[Annotation]
) -> list[Resolved]:
    """The de-identified report text of each annotation.

    Rows with text are de-identified here; rows with a study UID take the
    report of that study (found by its original or pseudonymous UID). Rows
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
            out.append(Resolved(annotation, deidentify_report(annotation.text), None))
            continue
        uid = annotation.study_uid or ""
        study = find_study(session, uid, ctx.pseudonymiser.uid)
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
    """Store the annotations of studies in the database (source ``human``); returns rows added."""
    added = 0
    for item in resolved:
        if item.study_id is None:
            continue
        version = HUMAN_REPORT_PREFIX + item.annotation.annotator
        have = set(
            session.scalars(
                select(FindingLabel.finding).where(
                    FindingLabel.study_id == item.study_id,
                    FindingLabel.source == LabelSource.HUMAN,
                    FindingLabel.source_version == version,
                )
            )
        )
        for key, state in item.annotation.states.items():
            if key in have:
                continue
            session.add(
                FindingLabel(
                    study_id=item.study_id,
                    finding=key,
                    state=LabelState(state.value),
                    source=LabelSource.HUMAN,
                    source_version=version,
                )
            )
            added += 1
    return added


def human_labels_in_db(ctx: Context, session: Session) -> list[Resolved]:
    """The human report labels already in the database, one per study and annotator."""
    findings = ctx.task.finding_keys
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
        table.setdefault((study_id, version), {})[finding] = State(str(state.value))
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


def _corpus(session: Session) -> list[str]:
    return list(session.scalars(select(Report.text).order_by(Report.id)))


def _manifest(corpus: Sequence[str], human: Sequence[Resolved]) -> str:
    digest = hashlib.sha256()
    for text in corpus:
        digest.update(hashlib.sha256(text.encode()).digest())
    for item in human:
        digest.update(item.text.encode())
        digest.update(json.dumps({k: v.value for k, v in item.annotation.states.items()}).encode())
    return digest.hexdigest()


def train_labeller(
    ctx: Context,
    human: Sequence[Resolved],
    plan: TrainingPlan,
    extra_corpus: Sequence[str] = (),
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[Model, TrainingReport]:
    """Train a BERT labeller on the database's reports and ``human``; save and register it."""
    findings = ctx.task.finding_keys
    with Session(ctx.engine) as session:
        corpus = _corpus(session) + list(extra_corpus)
    weak = [
        {k: label.state for k, label in labels.items()} for labels in ctx.rules.label_many(corpus)
    ]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    manifest = _manifest(corpus, human)
    version = f"bert-{plan.layout}-{stamp}-{manifest[:8]}"
    labeller, report = train_bert(
        corpus,
        weak,
        [item.text for item in human],
        [item.annotation.states for item in human],
        findings,
        plan,
        version,
        progress=progress,
    )
    folder = ctx.paths.models / "labellers" / version
    labeller.save(folder)
    config: dict[str, Any] = {
        **{k: v for k, v in asdict(plan).items() if k not in ("spec", "base_model")},
        "spec": asdict(plan.spec),
        "base_model": str(plan.base_model) if plan.base_model else None,
        "corpus_reports": len(corpus),
        "human_reports": len(human),
        "rules": ctx.rules.version,
    }
    metrics: dict[str, Any] = {
        "losses": report.losses,
        "best_validation_loss": report.best_validation_loss,
        "stopped_after": report.stopped_after,
    }
    with Session(ctx.engine) as session:
        row = Model(
            version=version,
            architecture=f"bert-{plan.layout}",
            mode=NLP_MODE,
            task=ctx.task.name,
            findings=findings,
            path=str(folder),
            config=config,
            manifest_hash=manifest,
            code_version=code_version(),
            metrics=metrics,
            thresholds={},
        )
        session.add(row)
        session.commit()
        session.refresh(row)
        session.expunge(row)
    logger.info("registered report labeller %s (%s)", version, folder)
    return row, report


def load_labeller(ctx: Context, name: str | None) -> BertLabeller:
    """A trained labeller by registered version or folder; ``None``: the newest registered.

    Raises
    ------
    LabellerError
        No such labeller.
    """
    with Session(ctx.engine) as session:
        query = select(Model).where(Model.task == ctx.task.name, Model.mode == NLP_MODE)
        if name is not None:
            query = query.where(Model.version == name)
        row = session.scalar(query.order_by(Model.id.desc()).limit(1))
    if row is not None:
        return BertLabeller.load(Path(row.path))
    if name is not None and Path(name).is_dir():
        return BertLabeller.load(Path(name))
    if name is None:
        raise LabellerError(
            "no BERT labeller is registered: train one with `pacslabel labeller train`"
        )
    raise LabellerError(f"{name!r} is neither a registered labeller nor a saved model folder")


def configured_labeller(ctx: Context) -> Labeller:
    """The labeller ``labelling.labeller`` chooses."""
    settings = ctx.settings.labelling
    if settings.labeller == "rules":
        return ctx.rules
    labeller = load_labeller(ctx, settings.bert_model)
    if labeller.findings != ctx.task.finding_keys:
        raise LabellerError(
            f"labeller {labeller.version} was trained for other findings than task {ctx.task.name}"
        )
    return labeller


def evaluate_labellers(
    labellers: Sequence[Labeller],
    items: Sequence[Resolved],
    findings: Sequence[str],
    out: Path | None = None,
) -> dict[str, dict[str, FindingScore]]:
    """Table 1 of the reference study for each labeller on ``items``; figures under ``out``."""
    expected = [item.annotation.states for item in items]
    texts = [item.text for item in items]
    results = {}
    for labeller in labellers:
        predicted = [
            {k: label.state for k, label in labels.items()} for labels in labeller.label_many(texts)
        ]
        scores = score(expected, predicted, findings)
        results[labeller.version] = scores
        if out is not None:
            safe = labeller.version.replace(":", "-").replace("/", "-")
            confusion_figure(out / f"confusion-{safe}.png", labeller.version, scores)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        text = "\n\n".join(table_text(name, s) for name, s in results.items())
        (out / "table1.md").write_text(
            f"# Report labellers on {len(items)} annotated reports\n\n{text}\n", encoding="utf-8"
        )
    return results


def record_evaluation(
    ctx: Context, version: str, scores: dict[str, FindingScore], reports: int
) -> None:
    """Store an evaluation with a registered labeller's metrics."""
    with Session(ctx.engine) as session:
        row = session.scalar(select(Model).where(Model.version == version))
        if row is None:
            return
        row.metrics = {
            **row.metrics,
            "evaluation": {
                "reports": reports,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "findings": {key: s.as_dict() for key, s in scores.items()},
            },
        }
        session.commit()


def label_corpus(ctx: Context, labeller: Labeller) -> int:
    """Label every study with a report; returns how many label rows were added."""
    added = 0
    with Session(ctx.engine) as session:
        ids = list(session.scalars(select(Report.study_id).order_by(Report.study_id)))
        with ctx.progress.step(f"labelling with {labeller.version}", len(ids)) as bar:
            for start in range(0, len(ids), 256):
                chunk = ids[start : start + 256]
                studies = list(session.scalars(select(Study).where(Study.id.in_(chunk))))
                added += add_labels(session, labeller, studies)
                session.commit()
                bar.advance(len(chunk))
    return added
