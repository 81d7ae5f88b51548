"""``pacslabel explain STUDY_UID``: occlusion maps of the current model for one study."""

from __future__ import annotations

import argparse
from pathlib import Path

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from pacslabel.tools.explain import explain_study

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "explain", help="occlusion maps: where in each view the current model sees each finding"
    )
    parser.add_argument("study", help="Study Instance UID (pseudonymous or original)")
    parser.add_argument(
        "--finding", action="append", default=[], help="only this finding (repeatable)"
    )
    parser.add_argument("--out", type=Path, help="folder of the PNG (default data/reports)")
    parser.add_argument("--patch", type=int, help="patch side in pixels (default: 80 at 512)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_context(settings, out.progress) as ctx:
        explanation = explain_study(
            ctx, args.study, findings=args.finding, out_dir=args.out, patch=args.patch
        )
    out.print(
        f"{explanation.study_uid} by {explanation.model_version}: "
        + ", ".join(f"{k} {p:.2f}" for k, p in explanation.probabilities.items())
    )
    out.print(f"wrote {explanation.path}")
    return ExitCode.OK
