"""``pacslabel db upgrade|current|grant-readonly``: the database schema and the
researchers' read-only access."""

from __future__ import annotations

import argparse

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from db import current_revision, head_revision, make_engine, upgrade
from db.research import READONLY_ROLE, grant_readonly, record_data_dir, refresh_cohort_view
from pacslabel.cli.output import Output, Subcommands
from pacslabel.errors import EnvironmentFault, ExitCode, UsageError
from pacslabel.settings import Settings
from pacslabel.task import load_task

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("db", help="database schema")
    actions = parser.add_subparsers(dest="db_command", required=True, metavar="action")
    actions.add_parser("upgrade", help="create or migrate the schema to the current version")
    actions.add_parser("current", help="show the schema version")
    grant = actions.add_parser(
        "grant-readonly",
        help=f"PostgreSQL: let USER read the research views only (role {READONLY_ROLE})",
    )
    grant.add_argument("user", metavar="USER", help="a PostgreSQL role (created if absent)")
    parser.set_defaults(handler=run)


def _grant(engine: Engine, user: str, out: Output) -> int:
    try:
        created = grant_readonly(engine, user)
    except ValueError as problem:
        hint = (
            " (SQLite has no roles: give researchers a copy of the file, or open it with "
            "`sqlite3 'file:PATH?mode=ro'`)"
            if "PostgreSQL only" in str(problem)
            else ""
        )
        raise UsageError(f"{problem}{hint}") from None
    except DBAPIError as error:
        raise EnvironmentFault(f"cannot grant read-only access to {user}: {error.orig}") from None
    made = " (created, LOGIN without a password: set one with ALTER ROLE … PASSWORD)"
    out.print(
        f"{user} may read the research views through {READONLY_ROLE}" + (made if created else "")
    )
    return ExitCode.OK


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    url = settings.resolved_database_url
    if args.db_command == "upgrade":
        upgrade(url)
    engine = make_engine(url)
    try:
        if args.db_command == "grant-readonly":
            return _grant(engine, args.user, out)
        current = current_revision(engine)
        if args.db_command == "upgrade":
            record_data_dir(engine, settings.data_dir)
            refresh_cohort_view(engine, load_task(settings.task).finding_keys)
    finally:
        engine.dispose()
    out.print(f"schema {current or 'none'} (head {head_revision()})")
    return ExitCode.OK
