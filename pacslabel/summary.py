"""What the corpus holds: counts per state, labels per finding, model metrics, SRs sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import FindingLabel, LabelSource, SRExport, Study
from pacslabel.context import Context
from pacslabel.stages import current_model

__all__ = ["CorpusSummary", "corpus_summary"]


@dataclass(frozen=True)
class CorpusSummary:
    studies_by_state: dict[str, int]
    labels: dict[str, dict[str, int]]
    """finding → state → number of studies (current rule labeller)."""
    model_version: str | None
    held_out: dict[str, dict[str, Any]] = field(default_factory=dict)
    """finding → metrics of the current model on the held-out studies."""
    srs_sent: int = 0

    @property
    def studies(self) -> int:
        return sum(self.studies_by_state.values())


def corpus_summary(ctx: Context) -> CorpusSummary:
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
                FindingLabel.source == LabelSource(ctx.labeller.source),
                FindingLabel.source_version == ctx.labeller.version,
            )
            .group_by(FindingLabel.finding, FindingLabel.state)
        )
        for finding, state, count in rows:
            labels.setdefault(finding, {})[str(state.value)] = count
        model = current_model(session, ctx.task.name)
        sent = (
            session.scalar(
                select(func.count()).select_from(SRExport).where(SRExport.status == "sent")
            )
            or 0
        )
        return CorpusSummary(
            studies_by_state=by_state,
            labels=labels,
            model_version=model.version if model else None,
            held_out=dict(model.metrics.get("held_out", {})) if model else {},
            srs_sent=int(sent),
        )
