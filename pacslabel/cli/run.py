"""``pacslabel run``: one pass of the loop against the configured PACS."""

from __future__ import annotations

import argparse

from pacslabel.cli.output import Output, Subcommands, ingest_exit, print_run
from pacslabel.context import open_context
from pacslabel.pipeline import run_once
from pacslabel.settings import Settings
from pacslabel.tools.summary import corpus_summary

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("run", help="run the loop once against the configured PACS")
    parser.add_argument("--no-train", action="store_true", help="do not train in this pass")
    parser.add_argument(
        "--full-query",
        action="store_true",
        help="query the whole date range, not only since the newest study seen "
        "(finds studies that reached the PACS late with an old date)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings, out.progress) as ctx:
        report = run_once(ctx, retrain=not args.no_train, full_query=args.full_query)
        print_run(out, report, corpus_summary(ctx))
    return ingest_exit(report)
