"""Shared fixtures (SQLite and a real PostgreSQL, a new interpreter) and the test tiers.

The application's settings are in tests/app/conftest.py: tests of the domain packages
import no pacslabel.

Tiers are derived, never written by hand: a test is marked from what it uses
(:func:`tiers_of`) — ``integration`` under tests/integration/, and the marks of
:data:`FIXTURE_TIERS` for every fixture it uses, directly or through other
fixtures; ``postgres`` also when it is the PostgreSQL case of a test parametrised
by database. ``make test-fast`` runs the tests that are none of them;
tests/test_architecture.py fails when a test reaches those resources without the
fixture that marks it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

TESTS = Path(__file__).resolve().parent

#: Fixture → the tiers of every test that uses it.
FIXTURE_TIERS: dict[str, tuple[str, ...]] = {
    "orthanc": ("integration", "orthanc"),
    "postgres_url": ("postgres",),
    "new_interpreter": ("slow",),  # a pacslabel (or any Python) process
    "training": ("slow",),  # a training through the product (the loop's, a command's)
    "simulated_loop": ("slow",),  # a simulated archive through the whole loop
    "demo_corpus": ("slow",),  # a demo's data folder
    "browser": ("slow",),
}
#: The marks :func:`tiers_of` gives; the fast tier is the tests with none of them.
TIERS = ("integration", "orthanc", "postgres", "slow")

# Hypothesis: "ci" (the full suite) and "dev" (make test-fast), chosen with
# --hypothesis-profile; the examples of a property live here, not in the tests.
hypothesis_settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile(
    "dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("ci")


def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers of a collected test, from its path, its fixtures and its parameters."""
    found = set()
    if TESTS / "integration" in Path(item.path).parents:
        found.add("integration")
    names = set(getattr(item, "fixturenames", ()))
    for fixture, tiers in FIXTURE_TIERS.items():
        if fixture in names:
            found.update(tiers)
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "postgresql" in callspec.params.values():
        found.add("postgres")  # database_url (and module fixtures) take postgres_url late
    return found


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-inputs",
        type=int,
        default=2000,
        help="mutated inputs per fuzz batch (make test-fast uses fewer)",
    )


#: Module-scoped fixtures cheap enough to make once per pytest-xdist worker.
CHEAP_PER_WORKER = {"orthanc_server"}


def shared_group(item: pytest.Item) -> str | None:
    """The pytest-xdist group of a test whose module builds something costly once for all
    its tests (a module- or class-scoped fixture: a whole simulated run, say), so that one
    worker builds it; ``None``: any worker may take the test."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    shared = sorted(
        f"{name}={params.get(name, '')}"
        for name, definitions in info.name2fixturedefs.items()
        if name not in CHEAP_PER_WORKER and definitions[-1].scope in ("module", "class")
    )
    if not shared:
        return None
    # One group per instance of the fixture (a parametrised one has one per parameter).
    # No "]" in the name: pytest-xdist takes what follows the last "@" as the group only
    # when no "]" follows it.
    group = f"{item.nodeid.split('::')[0]}:{','.join(shared)}"
    return group.replace("[", "(").replace("]", ")")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for tier in sorted(tiers_of(item)):
            item.add_marker(tier)
        group = shared_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@dataclass(frozen=True)
class Interpreter:
    """How a test starts a program in a new Python interpreter (this one's), with no
    ``PACSLABEL_*`` setting of the test process leaking in."""

    python: str = sys.executable

    def argv(self, *args: str) -> list[str]:
        return [self.python, *args]

    def pacslabel(self, *args: str) -> list[str]:
        """The ``pacslabel`` command as a user runs it."""
        return [self.python, "-m", "pacslabel.cli", *args]

    @staticmethod
    def env(**more: str) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PACSLABEL_")}
        return {**clean, **more}


@pytest.fixture
def new_interpreter() -> Interpreter:
    """A new interpreter for the test (its tier: slow)."""
    return Interpreter()


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
