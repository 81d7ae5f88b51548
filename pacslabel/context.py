"""What every stage of the loop is handed: settings, task, database, keys, peers, folders."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db import current_revision as db_revision
from db import head_revision, make_engine
from db.research import record_data_dir, refresh_cohort_view
from labeller import Labeller, RuleLabeller
from pacsbridge import (
    HARMLESS,
    DeidJob,
    DeidOptions,
    DeidWorkers,
    LocalAE,
    Node,
    Pseudonymiser,
    TextReader,
    fold,
)
from pacslabel.errors import SchemaOutOfDate
from pacslabel.linkage import Keys, LinkageVault, load_keys
from pacslabel.progress import LoggedProgress, ProgressReporter, SilentProgress
from pacslabel.registry import configured_labeller
from pacslabel.settings import Settings
from pacslabel.task import Task, load_task
from pacslabel.tls import local_ae, pacs_node, tls_context

__all__ = ["Context", "Paths", "open_context"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Paths:
    """The data folder's layout."""

    root: Path

    @property
    def incoming(self) -> Path:
        """Instances as received (clinical, transient: emptied once de-identified)."""
        return self.root / "incoming"

    @property
    def dicom(self) -> Path:
        """De-identified instances, one folder per pseudonymous study."""
        return self.root / "dicom"

    @property
    def cache(self) -> Path:
        """The pixel cache: ``<size>/<study_uid>.npy`` pairs."""
        return self.root / "cache"

    @property
    def models(self) -> Path:
        """Checkpoints of image models and saved report labellers."""
        return self.root / "models"

    @property
    def quarantine(self) -> Path:
        """Input that could not be used (clinical: keep on the clinical side)."""
        return self.root / "quarantine"

    @property
    def reports(self) -> Path:
        """Evaluations, ROC curves and occlusion maps."""
        return self.root / "reports"


@dataclass
class Context:
    """Everything a stage needs, built once per command."""

    settings: Settings
    task: Task
    engine: Engine
    pseudonymiser: Pseudonymiser
    vault: LinkageVault
    paths: Paths
    deid: DeidWorkers
    """De-identifies received files, in worker processes fed as instances arrive."""
    progress: ProgressReporter = field(default_factory=SilentProgress)
    rules: RuleLabeller = field(init=False)
    """The task's rule labeller (always available: it bootstraps every model)."""

    def __post_init__(self) -> None:
        self.rules = RuleLabeller(self.task.lexicon())

    @cached_property
    def labeller(self) -> Labeller:
        """The labeller the settings choose (``labelling.labeller``).

        Raises
        ------
        LabellerError
            ``bert`` is chosen but no such trained model is found.
        """
        return configured_labeller(
            self.settings.labelling, self.rules, self.engine, self.task.name, self.task.finding_keys
        )

    @property
    def node(self) -> Node:
        """The PACS."""
        return pacs_node(self.settings)

    @property
    def local(self) -> LocalAE:
        """Our AE (TLS for the associations we open when configured)."""
        return local_ae(self.settings, self.tls_client)

    @cached_property
    def tls_client(self) -> ssl.SSLContext | None:
        """The TLS context of the associations we open (``None``: no TLS)."""
        return tls_context(self.settings, server=False)

    @cached_property
    def tls_server(self) -> ssl.SSLContext | None:
        """The TLS context of our storage SCP (``None``: no TLS)."""
        return tls_context(self.settings, server=True)

    @cached_property
    def deid_options(self) -> DeidOptions:
        return deid_options(self.settings)

    @cached_property
    def text_reader(self) -> TextReader:
        """Tesseract, for the burned-in text screen (loaded on first use)."""
        return TextReader(self.settings.deid.tessdata)

    @cached_property
    def harmless_text(self) -> frozenset[str]:
        """Burned-in words that identify no one: the built-in markers and the settings'."""
        return HARMLESS | {fold(word.strip()) for word in self.settings.deid.burned_in_harmless}


def deid_options(settings: Settings) -> DeidOptions:
    """The de-identification options of ``settings``."""
    deid = settings.deid
    return DeidOptions(
        retain_longitudinal_modified_dates=deid.retain_longitudinal_modified_dates,
        retain_patient_characteristics=deid.retain_patient_characteristics,
        retain_device_identity=deid.retain_device_identity,
        retain_institution_identity=deid.retain_institution_identity,
        clean_descriptors=deid.clean_descriptors,
        burned_in=deid.burned_in,
        mask_regions=tuple((t, left, b, r) for t, left, b, r in deid.mask_regions),
    )


def _deid_job(settings: Settings, keys: Keys) -> DeidJob:
    return DeidJob(
        pseudonym_key=keys.pseudonym,
        max_date_shift_days=settings.deid.max_date_shift_days,
        options=deid_options(settings),
        limits=settings.limits.limits(),
        titles=frozenset(settings.ingest.titles()),
        max_report_chars=settings.limits.max_report_chars,
    )


def _vault(engine: Engine, keys: Keys) -> LinkageVault:
    vault = LinkageVault(keys.linkage, keys.extra_linkage)
    with Session(engine) as session:
        lost = vault.unreadable(session)
    if lost:
        logger.error(
            "%d linkage rows are encrypted with a linkage key that is not configured: those "
            "studies cannot be written back (restore the key to write them back)",
            lost,
        )
    return vault


@contextmanager
def open_context(
    settings: Settings, progress: ProgressReporter | None = None, *, check_schema: bool = True
) -> Iterator[Context]:
    """Build the :class:`Context` for ``settings`` and dispose of it afterwards.

    Raises
    ------
    SchemaOutOfDate
        ``check_schema`` and the database is not at the head migration.
    InvalidTask, LinkageError
        The task file or a key is unusable.
    """
    task = load_task(settings.task)
    engine = make_engine(settings.resolved_database_url)
    try:
        if check_schema:
            current, head = db_revision(engine), head_revision()
            if current != head:
                raise SchemaOutOfDate(
                    f"the database is at schema {current or 'none'}, this pacslabel needs "
                    f"{head}: run `pacslabel db upgrade`"
                )
            record_data_dir(engine, settings.data_dir)
            refresh_cohort_view(engine, task.finding_keys)
        keys = load_keys(
            settings.secrets_dir, settings.deid.pseudonym_key, settings.deid.linkage_key
        )
        deid = DeidWorkers(_deid_job(settings, keys), settings.ingest.resolved_deid_workers)
        try:
            yield Context(
                settings=settings,
                task=task,
                engine=engine,
                pseudonymiser=Pseudonymiser(keys.pseudonym, settings.deid.max_date_shift_days),
                vault=_vault(engine, keys),
                paths=Paths(settings.data_dir),
                deid=deid,
                progress=LoggedProgress(progress or SilentProgress()),
            )
        finally:
            deid.close()
    finally:
        engine.dispose()
