"""``pacslabel settings``: the effective settings, secrets hidden."""

from __future__ import annotations

import argparse
import json

from pacslabel.cli.output import Output, Subcommands
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("settings", help="print the effective settings (secrets hidden)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    out.console.print_json(json.dumps(settings.redacted()))
    return ExitCode.OK
