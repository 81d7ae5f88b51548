"""The schema: SQLAlchemy 2.0 typed models.

Everything here is de-identified (pseudonymous UIDs, shifted dates,
de-identified report text) except :class:`Linkage`, whose payload is
encrypted with a key that is never in the database. The schema changes
only through Alembic migrations (``alembic/``); a test checks that the
migrations and these models agree.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AuditEvent",
    "Base",
    "ExportStatus",
    "FindingLabel",
    "Image",
    "IngestWatermark",
    "LabelSource",
    "LabelState",
    "LabelTarget",
    "LabellerVersion",
    "Linkage",
    "Model",
    "ModelMetric",
    "ModelMode",
    "ModelStatus",
    "ModelStudy",
    "Prediction",
    "QuarantineEntry",
    "Report",
    "ReportSource",
    "ResearchColumn",
    "RunStatus",
    "SRExport",
    "SiteSetting",
    "Split",
    "Study",
    "StudyState",
    "TrainingRun",
    "WorkbenchSession",
    "WorkbenchUser",
    "utcnow",
]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Bounded(TypeDecorator[str]):
    """A ``String(n)`` that takes any text: NUL characters (which PostgreSQL refuses) are
    dropped and the value is cut to the column's length (which PostgreSQL enforces and
    SQLite does not), so both databases store the same thing."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        text = str(value).replace("\0", "")
        length = getattr(self.impl_instance, "length", None)
        return text[:length] if length else text


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has neither;
    PostgreSQL refuses them, SQLite would store text no JSON reader accepts)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class FiniteJSON(TypeDecorator[Any]):
    """A ``JSON`` column that stores valid JSON on every database: NaN and infinities
    become ``null``."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return _finite(value)


class CleanText(TypeDecorator[str]):
    """A ``Text`` that takes any text: NUL characters (which PostgreSQL refuses) dropped."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value).replace("\0", "")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: FiniteJSON,
        list[str]: FiniteJSON,
    }


def _enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    """A column of ``cls``'s values, stored as text (``VARCHAR(length)``, no database enum)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
    )


class StudyState(enum.StrEnum):
    """Where a study is in the loop (ARCHITECTURE.md, "State and recovery")."""

    DISCOVERED = "discovered"
    RETRIEVED = "retrieved"
    DEIDENTIFIED = "deidentified"
    LABELLED = "labelled"
    CACHED = "cached"
    PREDICTED = "predicted"
    REPORTED = "reported"
    WAITING_REPORT = "waiting_report"
    """Images are in, the report is not (yet): checked again each pass, up to an age."""
    WAITING_PAIR = "waiting_pair"
    """No standing AP + lateral pair (yet): checked again each pass, up to an age."""
    FAILED = "failed"
    QUARANTINED = "quarantined"
    RELEASED = "released"
    """Set aside by an operator (``pacslabel quarantine release``): no longer retried."""


class LabelState(enum.StrEnum):
    """What a source says of one finding (the labeller's four states, as stored)."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"
    NOT_MENTIONED = "not_mentioned"


class LabelSource(enum.StrEnum):
    """Who gave a finding label."""

    RULES = "rules"
    """The task's rule lexicon."""
    NLP = "nlp"
    """A trained report labeller (BERT)."""
    HUMAN = "human"
    """An annotator."""


class LabelTarget(enum.StrEnum):
    """What a finding label describes."""

    REPORT = "report"
    """What the report says (rules, BERT, or an annotator reading the report)."""
    IMAGE = "image"
    """What the images show (an annotator looking at the AP + lateral pair)."""


class Split(enum.StrEnum):
    """Which side of a model's data a study was on."""

    TRAIN = "train"
    HELD_OUT = "held_out"
    """Scored the model and chose its cut-offs; never trained on."""
    HUMAN_TEST = "human_test"
    """The frozen human-labelled test set: never trained on by any model."""


class ModelMode(enum.StrEnum):
    """What a registered model is and how it was trained (the reference study's modes)."""

    NLP = "nlp"
    """A report labeller."""
    ONE_STEP = "1step"
    """An image model trained on report labels."""
    TWO_STEPS = "2steps"
    """An image model trained on report labels, then fine-tuned on human image labels."""
    STEP2_ONLY = "step2only"
    """An image model trained on human image labels only."""


class ModelStatus(enum.StrEnum):
    """Whether a registered image model labels studies and writes SRs."""

    CURRENT = "current"
    """The one model of its task that predicts (at most one per task)."""
    CANDIDATE = "candidate"
    """Trained, not promoted: it lost to the current model on the same held-out studies
    (the reason is recorded), or promotion is manual."""
    RETIRED = "retired"
    """Was current; replaced by a promotion or withdrawn by a rollback."""


class RunStatus(enum.StrEnum):
    """Where a training run is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ExportStatus(enum.StrEnum):
    """Where an SR export is."""

    PENDING = "pending"
    """Built, not yet stored in the PACS."""
    SENT = "sent"
    FAILED = "failed"
    """The last attempt failed; the next pass tries again."""
    WRITTEN = "written"
    """Written to the dry-run folder (``writeback.folder``), not sent to the PACS."""


class ReportSource(enum.StrEnum):
    """Where a study's report text came from."""

    SR = "sr"
    """A report SR in the study."""
    PDF = "pdf"
    """An Encapsulated PDF in the study."""
    RIS = "ris"
    """The RIS drop folder, by accession number."""


class Study(Base):
    """One study, known by its pseudonymous Study Instance UID."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_uid: Mapped[str] = mapped_column(Bounded(64), unique=True)
    patient_pseudonym: Mapped[str | None] = mapped_column(Bounded(32), index=True)
    study_date: Mapped[str | None] = mapped_column(Bounded(8))
    """Shifted by the patient's date offset."""
    study_description: Mapped[str | None] = mapped_column(Bounded(128))
    patient_age: Mapped[str | None] = mapped_column(Bounded(4))
    patient_sex: Mapped[str | None] = mapped_column(Bounded(1))
    state: Mapped[StudyState] = mapped_column(_enum(StudyState, "study_state"), index=True)
    failed_stage: Mapped[str | None] = mapped_column(Bounded(20))
    failure_reason: Mapped[str | None] = mapped_column(CleanText)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    pairing_note: Mapped[str | None] = mapped_column(CleanText)
    expected_instances: Mapped[int | None] = mapped_column(Integer)
    """What the PACS counted when the study was found."""
    instances_received: Mapped[int | None] = mapped_column(Integer)
    """How many instances the last retrieval brought (a waiting study is retrieved again
    when the PACS counts more)."""
    waiting_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """When the study started waiting for a report or a second view."""
    discovered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    images: Mapped[list[Image]] = relationship(back_populates="study", cascade="all, delete-orphan")
    report: Mapped[Report | None] = relationship(
        back_populates="study", cascade="all, delete-orphan"
    )


class Image(Base):
    """One de-identified image (its file lives under the data folder)."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    sop_uid: Mapped[str] = mapped_column(Bounded(64), unique=True)
    series_uid: Mapped[str] = mapped_column(Bounded(64))
    sop_class_uid: Mapped[str] = mapped_column(Bounded(64))
    modality: Mapped[str] = mapped_column(Bounded(16))
    view_role: Mapped[str] = mapped_column(Bounded(16))
    """ap, lateral, excluded or unknown; the chosen pair is ``is_paired``."""
    view_reason: Mapped[str] = mapped_column(CleanText)
    is_paired: Mapped[bool] = mapped_column(Boolean, default=False)
    view_position: Mapped[str | None] = mapped_column(Bounded(16))
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    photometric_interpretation: Mapped[str | None] = mapped_column(Bounded(16))
    path: Mapped[str] = mapped_column(CleanText)
    """Relative to the data folder."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    study: Mapped[Study] = relationship(back_populates="images")


class Report(Base):
    """The de-identified report text of a study."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str] = mapped_column(CleanText)
    source: Mapped[ReportSource] = mapped_column(_enum(ReportSource, "report_source", 16))
    document_class: Mapped[str | None] = mapped_column(Bounded(64))
    """SOP Class UID of the document the text came from (``ris`` for the RIS drop)."""
    document_uid: Mapped[str | None] = mapped_column(Bounded(64))
    """Pseudonymous SOP Instance UID of that document."""
    document_title: Mapped[str | None] = mapped_column(Bounded(80))
    """Its title, ``SCHEME:CODE`` (LN:18748-4)."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    study: Mapped[Study] = relationship(back_populates="report")


class FindingLabel(Base):
    """What one source says about one finding of one study; history is never overwritten."""

    __tablename__ = "finding_labels"
    __table_args__ = (
        UniqueConstraint("study_id", "finding", "source", "source_version"),
        Index("ix_finding_labels_choice", "study_id", "finding", "target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    finding: Mapped[str] = mapped_column(Bounded(40), index=True)
    state: Mapped[LabelState] = mapped_column(_enum(LabelState, "label_state"))
    probability: Mapped[float | None] = mapped_column(Float)
    source: Mapped[LabelSource] = mapped_column(_enum(LabelSource, "label_source"))
    source_version: Mapped[str] = mapped_column(Bounded(128))
    """Lexicon version, report labeller version, or ``report:<annotator>`` for a human."""
    evidence: Mapped[str | None] = mapped_column(CleanText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    target: Mapped[LabelTarget] = mapped_column(
        _enum(LabelTarget, "label_target", 8), default=LabelTarget.REPORT, server_default="report"
    )
    """``report`` (what the report says) or ``image`` (a human's label of the images)."""
    annotator: Mapped[str | None] = mapped_column(Bounded(64))
    """Who gave a human label."""
    test_set: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A human image label of the frozen test set: its study is never trained on."""


class TrainingRun(Base):
    """One attempt to train an image model."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "run_status", 16))
    mode: Mapped[ModelMode] = mapped_column(_enum(ModelMode, "model_mode", 16))
    config: Mapped[dict[str, Any]] = mapped_column(FiniteJSON)
    manifest_hash: Mapped[str] = mapped_column(Bounded(64))
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    n_held_out: Mapped[int] = mapped_column(Integer, default=0)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(FiniteJSON)
    error: Mapped[str | None] = mapped_column(CleanText)


class Model(Base):
    """The model registry: every trained image model and report labeller, with what made it.

    Report labellers have ``mode`` ``nlp`` and ``architecture`` ``bert-joint`` or
    ``bert-per-finding``.
    """

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(Bounded(64), unique=True)
    architecture: Mapped[str] = mapped_column(Bounded(32))
    mode: Mapped[ModelMode] = mapped_column(_enum(ModelMode, "model_mode", 16))
    task: Mapped[str] = mapped_column(Bounded(64))
    findings: Mapped[list[str]] = mapped_column(FiniteJSON)
    path: Mapped[str] = mapped_column(CleanText)
    config: Mapped[dict[str, Any]] = mapped_column(FiniteJSON)
    manifest_hash: Mapped[str] = mapped_column(Bounded(64), index=True)
    code_version: Mapped[str] = mapped_column(Bounded(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(FiniteJSON)
    thresholds: Mapped[dict[str, Any]] = mapped_column(FiniteJSON)
    training_run_id: Mapped[int | None] = mapped_column(ForeignKey("training_runs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[ModelStatus] = mapped_column(
        _enum(ModelStatus, "model_status", 16), default=ModelStatus.CANDIDATE
    )
    """Image models: current, candidate or retired (report labellers: current)."""
    status_reason: Mapped[str | None] = mapped_column(CleanText, nullable=True)
    """Why it has its status (the promotion gate's comparison, a command)."""
    promoted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Prediction(Base):
    """A model's output for one finding of one study."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("study_id", "model_id", "finding"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    finding: Mapped[str] = mapped_column(Bounded(40))
    probability: Mapped[float] = mapped_column(Float)
    positive: Mapped[bool] = mapped_column(Boolean)
    threshold: Mapped[float | None] = mapped_column(Float)
    """The model's cut-off ``positive`` was judged with (re-judged when it changes)."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SRExport(Base):
    """An SR with one model's predictions for one study, sent (or not) to the PACS."""

    __tablename__ = "sr_exports"
    __table_args__ = (UniqueConstraint("study_id", "model_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    status: Mapped[ExportStatus] = mapped_column(_enum(ExportStatus, "export_status", 16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(CleanText)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    content_hash: Mapped[str | None] = mapped_column(Bounded(64))
    """What the last SR sent said (findings, probabilities, flags): unchanged, nothing is sent."""
    sop_uid: Mapped[str | None] = mapped_column(Bounded(64))
    """The SOP Instance UID it was sent as; a new content supersedes it (predecessor)."""
    series_uid: Mapped[str | None] = mapped_column(Bounded(64))


class LabellerVersion(Base):
    """A report labeller version that has labelled studies, and whether it is *current*:
    the one of its source whose labels the research views show (human labels first,
    then the current ``nlp`` labeller when one is configured, then the current rules).

    The label stage makes the configured labeller current each pass
    (:func:`db.queries.use_labeller`); "current" is never guessed from version strings.
    """

    __tablename__ = "labeller_versions"

    version: Mapped[str] = mapped_column(Bounded(128), primary_key=True)
    source: Mapped[LabelSource] = mapped_column(_enum(LabelSource, "label_source"))
    task: Mapped[str] = mapped_column(Bounded(64))
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    first_used_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    current_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ModelStudy(Base):
    """Which split of an image model a study was in (train, held out, human test)."""

    __tablename__ = "model_studies"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    split: Mapped[Split] = mapped_column(_enum(Split, "model_split", 16))


class ModelMetric(Base):
    """One finding's figures for one image model on one evaluation set (the JSON in
    ``models.metrics``, as rows both databases query alike)."""

    __tablename__ = "model_metrics"
    __table_args__ = (UniqueConstraint("model_id", "evaluation", "finding"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    evaluation: Mapped[Split] = mapped_column(_enum(Split, "model_split", 16))
    finding: Mapped[str] = mapped_column(Bounded(40))
    n: Mapped[int] = mapped_column(Integer)
    positives: Mapped[int] = mapped_column(Integer)
    auc: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    sensitivity: Mapped[float | None] = mapped_column(Float)
    specificity: Mapped[float | None] = mapped_column(Float)
    evaluated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SiteSetting(Base):
    """What the research views need to know of the installation (``data_dir``: image
    paths in the views are absolute from it), written when pacslabel opens."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(Bounded(64), primary_key=True)
    value: Mapped[str] = mapped_column(CleanText)


class ResearchColumn(Base):
    """The research dictionary: what each column of each research view means."""

    __tablename__ = "research_columns"

    view_name: Mapped[str] = mapped_column(Bounded(64), primary_key=True)
    column_name: Mapped[str] = mapped_column(Bounded(64), primary_key=True)
    description: Mapped[str] = mapped_column(CleanText)


class WorkbenchUser(Base):
    """A local account of the annotation workbench (never a patient: staff)."""

    __tablename__ = "workbench_users"

    username: Mapped[str] = mapped_column(Bounded(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Bounded(256))
    """``scrypt$N$r$p$salt$hash`` (hex)."""
    role: Mapped[str] = mapped_column(Bounded(16))
    """annotator, researcher or admin."""
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkbenchSession(Base):
    """A logged-in browser: the SHA-256 of its cookie token, and its CSRF token."""

    __tablename__ = "workbench_sessions"

    token_hash: Mapped[str] = mapped_column(Bounded(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("workbench_users.username", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(Bounded(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Linkage(Base):
    """Clinical identity of a pseudonymous UID, encrypted (key outside the database)."""

    __tablename__ = "linkage"

    pseudonymous_uid: Mapped[str] = mapped_column(Bounded(64), primary_key=True)
    kind: Mapped[str] = mapped_column(Bounded(8))
    """study or image."""
    key_id: Mapped[str] = mapped_column(Bounded(16))
    """Fingerprint of the key that encrypted ``ciphertext`` (for rotation)."""
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """Who did what, when (no patient identifiers, ever)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(Bounded(64))
    action: Mapped[str] = mapped_column(Bounded(64))
    study_uid: Mapped[str | None] = mapped_column(Bounded(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(FiniteJSON)


class IngestWatermark(Base):
    """The newest study date ingested from a PACS (operational: not linked to a study)."""

    __tablename__ = "ingest_watermarks"

    node: Mapped[str] = mapped_column(Bounded(128), primary_key=True)
    """The PACS, as ``AE@host:port``."""
    last_study_date: Mapped[str] = mapped_column(Bounded(8))
    backlog_before: Mapped[str | None] = mapped_column(Bounded(8))
    """Studies dated up to this day may still be unrecorded: a C-FIND answered more new
    studies than one pass takes (newest first); later passes record the rest."""
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class QuarantineEntry(Base):
    """Input that could not be used, kept aside with the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stage: Mapped[str] = mapped_column(Bounded(20))
    study_uid: Mapped[str | None] = mapped_column(Bounded(64), index=True)
    path: Mapped[str | None] = mapped_column(CleanText)
    reason: Mapped[str] = mapped_column(CleanText)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
