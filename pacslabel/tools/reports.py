"""Re-checking stored reports against the selection rule (``pacslabel reports recheck``).

A corpus built before reports were chosen by document kind (or before a site
changed ``ingest.report_titles``) may hold report text taken from the wrong
document — an SR pacslabel wrote, a dose or measurement report. The reports
that do not show they came from an accepted document (no recorded document, a
title no longer accepted) are dropped with the labels read from them, and
their studies are retrieved again by the next pass, which chooses the report
anew and labels it. Human labels stay.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db import FindingLabel, LabelSource, Report, ReportSource, Study, StudyState
from db.queries import audit
from pacslabel.context import Context

__all__ = ["recheck_reports"]

#: States in which a study is back in the loop already (nothing to do for them).
_UPSTREAM = (StudyState.DISCOVERED, StudyState.RETRIEVED)


def _accepted(ctx: Context, report: Report) -> bool:
    if report.source is ReportSource.RIS:
        return True
    if report.document_class is None:
        return False  # stored before reports recorded their document: unknown
    title = report.document_title or ""
    if report.source is ReportSource.PDF:
        return True
    return tuple(title.split(":", 1)) in ctx.settings.ingest.titles()


def recheck_reports(ctx: Context, *, everything: bool = False) -> int:
    """Send back to the loop the studies whose stored report does not show it came from an
    accepted document (every study with a report, with ``everything``); returns how many."""
    count = 0
    with Session(ctx.engine) as session:
        reports = session.scalars(select(Report).join(Study).where(Study.state.not_in(_UPSTREAM)))
        for report in list(reports):
            if not everything and _accepted(ctx, report):
                continue
            study = report.study
            session.execute(
                delete(FindingLabel).where(
                    FindingLabel.study_id == study.id, FindingLabel.source != LabelSource.HUMAN
                )
            )
            session.delete(report)
            study.state, study.attempts = StudyState.DISCOVERED, 0
            study.failed_stage = study.failure_reason = None
            audit(session, "report.recheck", study.study_uid, source=str(report.source))
            count += 1
        session.commit()
    return count
