"""``pacslabel model evaluate``: the current image model against human image labels."""

from __future__ import annotations

import argparse
from pathlib import Path

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from pacslabel.tools.image_evaluation import evaluate_image_model

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("model", help="the image model against human image labels")
    actions = parser.add_subparsers(dest="model_command", required=True, metavar="action")
    evaluate = actions.add_parser(
        "evaluate",
        help="AUC, sensitivity and specificity of the current model on a human-labelled "
        "test set; cut-offs from a human tuning set",
    )
    evaluate.add_argument("--test", type=Path, required=True, help="CSV of human image labels")
    evaluate.add_argument(
        "--tuning", type=Path, help="CSV of human image labels: Youden's J cut-offs from it"
    )
    evaluate.add_argument("--out", type=Path, help="folder of the table and ROC curves")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings, out.progress) as ctx:
        result = evaluate_image_model(ctx, args.test, tuning=args.tuning, out_dir=args.out)
    out.print(result.table.read_text(encoding="utf-8"), markup=False)
    out.print(f"wrote {result.table} and {result.roc}")
    if args.tuning is not None:
        out.print(
            f"cut-offs changed: stored predictions judged again; {result.srs_to_resend} SRs "
            "say something else now and are sent again by the next pass"
        )
    return ExitCode.OK
