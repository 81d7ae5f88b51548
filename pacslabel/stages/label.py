"""Labelling: report text → the task's findings (four states) in the database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import FindingLabel, LabelSource, LabelState, StudyState
from pacslabel.context import Context
from pacslabel.stages.state import move_to, studies_in

__all__ = ["label_all"]


def label_all(ctx: Context) -> int:
    """Label every de-identified study with the rule labeller; returns how many.

    Labels are added with their source and lexicon version; an existing
    label of the same version is kept, so running twice changes nothing.
    """
    labeller = ctx.labeller
    done = 0
    with Session(ctx.engine) as session:
        studies = studies_in(session, StudyState.ANONYMISED)
        with ctx.progress.step("labelling reports", len(studies)) as bar:
            for study in studies:
                have = set(
                    session.scalars(
                        select(FindingLabel.finding).where(
                            FindingLabel.study_id == study.id,
                            FindingLabel.source == LabelSource.RULES,
                            FindingLabel.source_version == labeller.version,
                        )
                    )
                )
                if study.report is not None:
                    for key, label in labeller.label(study.report.text).items():
                        if key in have:
                            continue
                        session.add(
                            FindingLabel(
                                study_id=study.id,
                                finding=key,
                                state=LabelState(label.state.value),
                                probability=label.probability,
                                source=LabelSource.RULES,
                                source_version=labeller.version,
                                evidence=label.evidence or None,
                            )
                        )
                move_to(study, StudyState.LABELLED)
                session.commit()
                done += 1
                bar.advance()
    return done
