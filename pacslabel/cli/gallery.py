"""``pacslabel gallery``: a PNG of simulated pairs, one per finding (the README's picture)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pacslabel.cli.output import Output, Subcommands
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("gallery", help="a PNG of simulated pairs, one per finding")
    parser.add_argument("--out", type=Path, default=Path("docs/gallery.png"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from simhospital import render_gallery  # only this command needs the simulated hospital

    out.print(f"wrote {render_gallery(args.out)}")
    return ExitCode.OK
