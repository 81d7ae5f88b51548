"""Schema migrations (Alembic): the only way the schema is created or changed."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from alembic import command

__all__ = ["alembic_config", "current_revision", "head_revision", "migrations_dir", "upgrade"]


def migrations_dir() -> Path:
    """The Alembic environment and revisions: ``db/migrations`` in an installed wheel
    (setup.py maps them there), else the checkout's top-level ``alembic/`` folder."""
    installed = Path(__file__).resolve().parent / "migrations"
    checkout = Path(__file__).resolve().parents[1] / "alembic"
    for folder in (installed, checkout):
        if (folder / "env.py").is_file() and (folder / "versions").is_dir():
            return folder
    return installed  # alembic_config says it is missing


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` without needing ``alembic.ini``."""
    folder = migrations_dir()
    if not (folder / "env.py").is_file():
        raise FileNotFoundError(f"the migrations folder {folder} is missing")
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (creating it if empty)."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError("no migration found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
