"""The schema comes from Alembic, and Alembic agrees with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from db import Base, current_revision, head_revision, make_engine, upgrade


def test_upgrade_gives_the_models_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(database_url)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        tables = set(inspect(engine).get_table_names())
        assert {
            "studies",
            "images",
            "reports",
            "finding_labels",
            "models",
            "training_runs",
            "predictions",
            "sr_exports",
            "linkage",
            "audit_events",
            "quarantine",
        } <= tables
        upgrade(database_url)  # running it again changes nothing
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
