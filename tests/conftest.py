"""Shared fixtures: SQLite and a real PostgreSQL (the application's settings are in
tests/app/conftest.py: tests of the domain packages import no pacslabel)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_HOST = os.environ.get("PACSLABEL_TEST_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("PACSLABEL_TEST_PG_PORT", "5432")
PG_ADMIN_DB = os.environ.get("PACSLABEL_TEST_PG_DATABASE", "test")


def _admin_dsn() -> str:
    return f"host={PG_HOST} port={PG_PORT} dbname={PG_ADMIN_DB}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.

    The PostgreSQL tests must run in CI: an unreachable server fails the test
    unless PACSLABEL_TEST_NO_POSTGRES=1 says this machine has none.
    """
    if os.environ.get("PACSLABEL_TEST_NO_POSTGRES") == "1":
        pytest.skip("PACSLABEL_TEST_NO_POSTGRES=1")
    name = f"pacslabel_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(_admin_dsn(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL on {PG_HOST}:{PG_PORT} is not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            user = admin.execute("SELECT current_user").fetchone()
            yield f"postgresql+psycopg://{user[0] if user else ''}@{PG_HOST}:{PG_PORT}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pacslabel.db'}"
    return str(request.getfixturevalue("postgres_url"))
