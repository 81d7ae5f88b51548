"""Labelling: report text → the task's findings (four states) in the database."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import FindingLabel, Study, StudyState
from db.queries import set_state, studies_in, use_labeller
from labeller import Labeller
from pacslabel.context import Context
from pacslabel.pipeline.stages.guard import each_isolated
from pacslabel.vocabulary import db_state, label_source

__all__ = ["add_labels", "label_all"]

_BATCH = 64


def add_labels(session: Session, labeller: Labeller, studies: Sequence[Study]) -> int:
    """Add ``labeller``'s labels of each study's report; returns how many rows were added.

    A label of the same source and version already present is kept, so
    labelling twice changes nothing, and a new model adds rows beside the old
    ones: history is never overwritten.
    """
    source = label_source(labeller)
    with_report = [s for s in studies if s.report is not None]
    have = {
        (study_id, finding)
        for study_id, finding in session.execute(
            select(FindingLabel.study_id, FindingLabel.finding).where(
                FindingLabel.study_id.in_([s.id for s in with_report]),
                FindingLabel.source == source,
                FindingLabel.source_version == labeller.version,
            )
        )
    }
    todo = [s for s in with_report if any((s.id, k) not in have for k in labeller.findings)]
    added = 0
    for start in range(0, len(todo), _BATCH):
        chunk = todo[start : start + _BATCH]
        texts = [s.report.text for s in chunk if s.report is not None]
        for study, labels in zip(chunk, labeller.label_many(texts), strict=True):
            for key, label in labels.items():
                if (study.id, key) in have:
                    continue
                session.add(
                    FindingLabel(
                        study_id=study.id,
                        finding=key,
                        state=db_state(label.state),
                        probability=label.probability,
                        source=source,
                        source_version=labeller.version,
                        evidence=label.evidence or None,
                    )
                )
                added += 1
    return added


def label_all(ctx: Context) -> int:
    """Label every de-identified study with the configured labeller; returns how many."""
    labeller = ctx.labeller
    done = 0
    with Session(ctx.engine) as session:
        use_labeller(session, ctx.task.name, label_source(labeller), labeller.version)
        session.commit()
        studies = studies_in(session, StudyState.DEIDENTIFIED)
        with ctx.progress.step("labelling reports", len(studies)) as bar:

            def step(chunk: Sequence[Study]) -> None:
                add_labels(session, labeller, chunk)
                for study in chunk:
                    set_state(study, StudyState.LABELLED)

            for start in range(0, len(studies), _BATCH):
                chunk = studies[start : start + _BATCH]
                done += each_isolated(session, chunk, "label", step)
                bar.advance(len(chunk))
    return done
