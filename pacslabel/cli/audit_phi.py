"""``pacslabel audit-phi``: look for patient identifiers on the research side."""

from __future__ import annotations

import argparse
from pathlib import Path

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from pacslabel.tools.phi_audit import audit_phi

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "audit-phi",
        help="look for patient identifiers everywhere pacslabel writes (database, files, logs)",
    )
    parser.add_argument(
        "--identifiers", type=Path, help="a file of further identifiers, one a line"
    )
    parser.add_argument("--logs", type=Path, nargs="*", default=[], help="log files to scan too")
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="screen the pixels of N images drawn at random (default: every image)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings, out.progress) as ctx:
        result = audit_phi(
            ctx, identifiers_file=args.identifiers, logs=args.logs, sample=args.sample
        )
    for hit in result.hits:
        out.print(f"{hit.where}: {hit.kind}", markup=False)
    for problem in result.unreadable:
        out.print(f"not read: {problem}", markup=False)
    if result.not_searched:
        out.print(f"not searched (clinical side): {', '.join(result.not_searched)}")
    out.print(
        f"pixels: {result.images_screened} images screened for burned-in text "
        f"({result.images_on_research_side} image files on the research side)"
    )
    out.print(
        f"{len(result.hits)} hits for {result.identifiers} known identifiers; "
        f"{len(result.unreadable)} things could not be read"
    )
    if result.hits:
        return ExitCode.IDENTIFIERS_FOUND
    return ExitCode.AUDIT_INCOMPLETE if result.unreadable else ExitCode.OK
