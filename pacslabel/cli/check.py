"""``pacslabel check``: is this installation ready; each line OK, FAIL or SKIP."""

from __future__ import annotations

import argparse

from pacslabel.cli.output import Output, Subcommands
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from pacslabel.tools.checks import CheckLine, run_checks

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "check",
        help="check the database, keys, disk, device, our storage port and the PACS "
        "(C-ECHO, a C-FIND dry run, a C-MOVE to us); each FAIL names what to change",
    )
    parser.add_argument(
        "--days", type=int, default=1, help="the C-FIND dry run looks at this many days"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    def show(line: CheckLine) -> None:
        out.print(f"{line.outcome:<4} {line.what}: {line.detail}", markup=False)

    lines = run_checks(settings, days=max(args.days, 1), on_line=show)
    failed = [line for line in lines if line.outcome == "FAIL"]
    return ExitCode.CHECK_FAILED if failed else ExitCode.OK
