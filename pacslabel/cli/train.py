"""``pacslabel train``: one training, in this process, beside any ingest passes."""

from __future__ import annotations

import argparse

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.pipeline.stages import TrainStatus
from pacslabel.pipeline.training import train_pass
from pacslabel.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model now when the corpus changed (ingest passes may run meanwhile)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for a training already running to end (default: do not wait)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings, out.progress) as ctx:
        outcome = train_pass(ctx, wait_s=args.wait)
    line = f"Training: {outcome.status}"
    line += f", model {outcome.model_version}" if outcome.model_version else ""
    line += f" ({outcome.reason})" if outcome.reason else ""
    out.print(line, markup=False)
    return {
        TrainStatus.FAILED: ExitCode.UNUSABLE_INPUT,  # the reason is in the registry too
        TrainStatus.BUSY: ExitCode.BUSY,
    }.get(outcome.status, ExitCode.OK)
