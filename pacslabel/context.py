"""What every stage of the loop is handed: settings, task, database, keys, peers, folders."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db import current_revision as db_revision
from db import head_revision, make_engine
from labeller import Labeller, RuleLabeller
from pacsbridge import DeidOptions, LocalAE, Node, Pseudonymiser
from pacslabel.linkage import Keys, LinkageVault, load_keys
from pacslabel.settings import InvalidSettings, Settings
from pacslabel.task import Task, load_task

__all__ = ["Context", "Paths", "Progress", "SchemaOutOfDate", "Step", "open_context"]

logger = logging.getLogger(__name__)


class Step(Protocol):
    """One progress bar: call ``advance`` as work gets done."""

    def advance(self, amount: int = 1) -> None: ...


class Progress(Protocol):
    """Where long steps report progress (a terminal bar in the CLI, nothing in tests)."""

    def step(self, description: str, total: int) -> AbstractContextManager[Step]: ...


class _NoStep:
    def advance(self, amount: int = 1) -> None:
        return None


class SilentProgress:
    """A :class:`Progress` that shows nothing."""

    def step(self, description: str, total: int) -> AbstractContextManager[Step]:
        return nullcontext(_NoStep())


class SchemaOutOfDate(RuntimeError):
    """The database is not at the schema this code needs; run ``pacslabel db upgrade``."""


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
        return self.root / "cache"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"


@dataclass
class Context:
    """Everything a stage needs, built once per command."""

    settings: Settings
    task: Task
    engine: Engine
    pseudonymiser: Pseudonymiser
    vault: LinkageVault
    paths: Paths
    progress: Progress = field(default_factory=SilentProgress)
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
        from pacslabel.labelling import configured_labeller

        return configured_labeller(self)

    @property
    def node(self) -> Node:
        pacs = self.settings.pacs
        return Node(pacs.ae_title, pacs.host, pacs.port)

    @property
    def local(self) -> LocalAE:
        local = self.settings.local
        return LocalAE(
            local.ae_title,
            local.bind_address,
            local.storage_port,
            local.network_timeout_s,
            local.move_timeout_s,
            tls_client=self.tls_client,
        )

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
        deid = self.settings.deid
        return DeidOptions(
            retain_longitudinal_modified_dates=deid.retain_longitudinal_modified_dates,
            retain_patient_characteristics=deid.retain_patient_characteristics,
            retain_device_identity=deid.retain_device_identity,
            retain_institution_identity=deid.retain_institution_identity,
            clean_descriptors=deid.clean_descriptors,
            burned_in=deid.burned_in,
            mask_regions=tuple((t, left, b, r) for t, left, b, r in deid.mask_regions),
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


def tls_context(settings: Settings, *, server: bool) -> ssl.SSLContext | None:
    """An SSL context for DICOM over TLS (PS3.15 B.1), from ``local.tls_*``.

    Both sides present the certificate and verify the peer's against
    ``local.tls_ca_certificates`` (or the system's store).

    Raises
    ------
    InvalidSettings
        Only one of certificate and key is set, or a file cannot be loaded.
    """
    local = settings.local
    if local.tls_certificate is None and local.tls_private_key is None:
        return None
    if local.tls_certificate is None or local.tls_private_key is None:
        raise InvalidSettings("local.tls_certificate and local.tls_private_key go together")
    purpose = ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH
    try:
        context = ssl.create_default_context(purpose, cafile=local.tls_ca_certificates)
        context.load_cert_chain(local.tls_certificate, local.tls_private_key)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidSettings(f"local.tls_*: cannot load the TLS files: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if server:
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.check_hostname = False  # DICOM peers are known by AE title, host and port
    return context


@contextmanager
def open_context(
    settings: Settings, progress: Progress | None = None, *, check_schema: bool = True
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
        keys = load_keys(
            settings.secrets_dir, settings.deid.pseudonym_key, settings.deid.linkage_key
        )
        yield Context(
            settings=settings,
            task=task,
            engine=engine,
            pseudonymiser=Pseudonymiser(keys.pseudonym, settings.deid.max_date_shift_days),
            vault=_vault(engine, keys),
            paths=Paths(settings.data_dir),
            progress=progress or SilentProgress(),
        )
    finally:
        engine.dispose()
