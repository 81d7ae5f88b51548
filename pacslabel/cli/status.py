"""``pacslabel status``: what the corpus holds."""

from __future__ import annotations

import argparse

from pacslabel.cli.output import Output, Subcommands, print_status
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from pacslabel.tools.summary import corpus_summary

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("status", help="what the corpus holds")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings) as ctx:
        summary = corpus_summary(ctx)
    print_status(out, summary)
    return ExitCode.OK
