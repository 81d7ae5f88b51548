"""What the corpus holds: counts per state, labels per finding, model metrics, SRs sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from db import AuditEvent, ExportStatus, FindingLabel, QuarantineEntry, SRExport, Study
from db.queries import current_image_model
from pacslabel.context import Context
from pacslabel.pipeline.stages.cache import BURNED_IN_STAGE, MASKED_ACTION
from pacslabel.tools.quarantine import reasons
from pacslabel.vocabulary import label_source

__all__ = ["CorpusSummary", "corpus_summary"]


@dataclass(frozen=True)
class CorpusSummary:
    """What :func:`corpus_summary` counted."""

    studies_by_state: dict[str, int]
    labels: dict[str, dict[str, int]]
    """finding → state → number of studies, by the configured labeller (``labelling.labeller``)."""
    model_version: str | None
    held_out: dict[str, dict[str, Any]] = field(default_factory=dict)
    """finding → metrics of the current model on the held-out studies."""
    srs_sent: int = 0
    held: dict[str, int] = field(default_factory=dict)
    """``state — stage: reason`` → how many studies are held out of the corpus for it."""
    burned_in: dict[str, int] = field(default_factory=dict)
    """Studies with burned-in text: ``quarantined`` (found in the pixels), ``masked`` (found
    and blanked), ``flagged`` (BurnedInAnnotation YES, dealt with at de-identification)."""

    @property
    def studies(self) -> int:
        return sum(self.studies_by_state.values())


def corpus_summary(ctx: Context) -> CorpusSummary:
    """Studies by state, the configured labeller's label counts, the current image model
    and its held-out metrics, and the SRs stored in the PACS so far."""
    with Session(ctx.engine) as session:
        by_state = {
            str(state.value): count
            for state, count in session.execute(
                select(Study.state, func.count()).group_by(Study.state)
            )
        }
        labels: dict[str, dict[str, int]] = {key: {} for key in ctx.task.finding_keys}
        rows = session.execute(
            select(FindingLabel.finding, FindingLabel.state, func.count())
            .where(
                FindingLabel.source == label_source(ctx.labeller),
                FindingLabel.source_version == ctx.labeller.version,
            )
            .group_by(FindingLabel.finding, FindingLabel.state)
        )
        for finding, state, count in rows:
            labels.setdefault(finding, {})[str(state.value)] = count
        model = current_image_model(session, ctx.task.name)
        sent = (
            session.scalar(
                select(func.count())
                .select_from(SRExport)
                .where(SRExport.status == ExportStatus.SENT)
            )
            or 0
        )
        return CorpusSummary(
            studies_by_state=by_state,
            labels=labels,
            model_version=model.version if model else None,
            held_out=dict(model.metrics.get("held_out", {})) if model else {},
            srs_sent=int(sent),
            held={f"{state} — {why}": n for (state, why), n in reasons(session).most_common()},
            burned_in=burned_in_counts(session),
        )


def burned_in_counts(session: Session) -> dict[str, int]:
    """How many studies were quarantined or masked for burned-in text, or said so."""

    def studies(query: Select[Any]) -> int:
        return len({uid for uid in session.scalars(query) if uid})

    entry = QuarantineEntry
    return {
        "quarantined": studies(select(entry.study_uid).where(entry.stage == BURNED_IN_STAGE)),
        "masked": studies(select(AuditEvent.study_uid).where(AuditEvent.action == MASKED_ACTION)),
        "flagged": studies(
            select(entry.study_uid).where(
                entry.reason.like("%burned-in annotation (BurnedInAnnotation YES%")
            )
        ),
    }
