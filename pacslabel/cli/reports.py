"""``pacslabel reports recheck``: stored reports against the report selection rule."""

from __future__ import annotations

import argparse

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from pacslabel.tools.reports import recheck_reports

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("reports", help="stored reports")
    actions = parser.add_subparsers(dest="reports_command", required=True, metavar="action")
    recheck = actions.add_parser(
        "recheck",
        help="retrieve again and relabel the studies whose stored report does not show it "
        "came from a report document (a corpus from before the rule, changed titles)",
    )
    recheck.add_argument("--all", action="store_true", help="every study with a report")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings) as ctx:
        count = recheck_reports(ctx, everything=args.all)
    out.print(
        f"{count} studies will be retrieved again, their report chosen anew and relabelled "
        "by the next pass (human labels kept)"
    )
    return ExitCode.OK
