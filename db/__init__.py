"""db: the schema (SQLAlchemy 2.0), sessions, migrations and the queries the app needs."""

from db.migrate import current_revision, head_revision, upgrade
from db.models import (
    AuditEvent,
    Base,
    FindingLabel,
    Image,
    IngestWatermark,
    LabelSource,
    LabelState,
    Linkage,
    Model,
    Prediction,
    QuarantineEntry,
    Report,
    SRExport,
    Study,
    StudyState,
    TrainingRun,
    utcnow,
)
from db.session import make_engine, session_scope

__all__ = [
    "AuditEvent",
    "Base",
    "FindingLabel",
    "Image",
    "IngestWatermark",
    "LabelSource",
    "LabelState",
    "Linkage",
    "Model",
    "Prediction",
    "QuarantineEntry",
    "Report",
    "SRExport",
    "Study",
    "StudyState",
    "TrainingRun",
    "current_revision",
    "head_revision",
    "make_engine",
    "session_scope",
    "upgrade",
    "utcnow",
]
