"""``pacslabel demo``: the whole loop once, against the simulated hospital."""

from __future__ import annotations

import argparse

from pacslabel.cli.output import Output, Subcommands, ingest_exit, print_run
from pacslabel.settings import Settings
from pacslabel.tools.demo import DemoOptions, run_demo

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("demo", help="run the loop once against a simulated PACS")
    parser.add_argument("--studies", type=int, default=DemoOptions.studies)
    parser.add_argument("--seed", type=int, default=DemoOptions.seed)
    parser.add_argument("--image-size", type=int, default=DemoOptions.image_size)
    parser.add_argument("--epochs", type=int, default=DemoOptions.epochs)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    options = DemoOptions(
        studies=args.studies, seed=args.seed, image_size=args.image_size, epochs=args.epochs
    )
    report, summary = run_demo(settings, options, out.progress)
    print_run(out, report, summary)
    return ingest_exit(report)
