"""``pacslabel task [NAME|FILE]``: validate and show a task definition."""

from __future__ import annotations

import argparse

from pacslabel.cli.output import Output, Subcommands
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from pacslabel.task import load_task

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("task", help="validate and show a task definition")
    parser.add_argument("name", nargs="?", help="task name or file (default: the configured one)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    task = load_task(args.name or settings.task)
    out.print(f"{task.name} v{task.version} ({task.language}): {task.title}")
    for finding in task.findings:
        out.print(
            f"  {finding.key:22s} {finding.code.scheme} {finding.code.value:10s} "
            f"{finding.name_en} / {finding.name_it}"
        )
    return ExitCode.OK
