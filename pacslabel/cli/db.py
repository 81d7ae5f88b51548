"""``pacslabel db upgrade|current``: the database schema."""

from __future__ import annotations

import argparse

from db import current_revision, head_revision, make_engine, upgrade
from pacslabel.cli.output import Output, Subcommands
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("db", help="database schema")
    actions = parser.add_subparsers(dest="db_command", required=True, metavar="action")
    actions.add_parser("upgrade", help="create or migrate the schema to the current version")
    actions.add_parser("current", help="show the schema version")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    url = settings.resolved_database_url
    if args.db_command == "upgrade":
        upgrade(url)
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    out.print(f"schema {current or 'none'} (head {head_revision()})")
    return ExitCode.OK
