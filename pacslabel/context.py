"""What every stage of the loop is handed: settings, task, database, keys, peers, folders."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine

from db import current_revision as db_revision
from db import head_revision, make_engine
from labeller import RuleLabeller
from pacsbridge import DeidOptions, LocalAE, Node, Pseudonymiser
from pacslabel.linkage import LinkageVault, load_keys
from pacslabel.settings import Settings
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
    labeller: RuleLabeller = field(init=False)

    def __post_init__(self) -> None:
        self.labeller = RuleLabeller(self.task.lexicon())

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
        )

    @property
    def deid_options(self) -> DeidOptions:
        return DeidOptions()


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
            vault=LinkageVault(keys.linkage),
            paths=Paths(settings.data_dir),
            progress=progress or SilentProgress(),
        )
    finally:
        engine.dispose()
