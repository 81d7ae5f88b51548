"""The loop a hospital runs: its stages (:mod:`~pacslabel.pipeline.stages`), one pass
composed in one place (:mod:`~pacslabel.pipeline.loop`), and the schedule that runs
passes unattended (:mod:`~pacslabel.pipeline.scheduler`)."""

from pacslabel.pipeline.loop import RunReport, run_once
from pacslabel.pipeline.scheduler import PassKind, PassRecord, Service

__all__ = ["PassKind", "PassRecord", "RunReport", "Service", "run_once"]
