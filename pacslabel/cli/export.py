"""``pacslabel export``: a cohort of the research views as CSV or Parquet, with its
manifest and optionally the cached image pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import open_context
from pacslabel.errors import ExitCode, UsageError
from pacslabel.settings import Settings
from pacslabel.tools.export import CohortFilter, export_cohort

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "export", help="export a cohort (research_cohort rows, manifest, images)"
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="FINDING=STATE[,STATE]",
        help="keep studies whose current label of FINDING is one of these states "
        "(repeatable; e.g. retrolisthesis=positive disc_narrowing=negative,not_mentioned)",
    )
    parser.add_argument("--age-min", type=int, help="age in years, inclusive")
    parser.add_argument("--age-max", type=int, help="age in years, inclusive")
    parser.add_argument("--sex", choices=("M", "F", "O"))
    parser.add_argument("--from", dest="date_from", metavar="YYYYMMDD", help="shifted date")
    parser.add_argument("--to", dest="date_to", metavar="YYYYMMDD", help="shifted date")
    parser.add_argument(
        "--split",
        choices=("train", "held_out", "human_test", "none"),
        help="the current image model's split",
    )
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--images", action="store_true", help="also the cached pairs as PNG")
    parser.add_argument(
        "--out", type=Path, help="an empty or new folder (default: DATA_DIR/exports/cohort-…)"
    )
    parser.set_defaults(handler=run)


def _states(given: list[str]) -> dict[str, tuple[str, ...]]:
    states: dict[str, tuple[str, ...]] = {}
    for item in given:
        key, sep, values = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--label {item!r}: write FINDING=STATE[,STATE]")
        states[key.strip()] = tuple(v.strip() for v in values.split(",") if v.strip())
    return states


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    wanted = CohortFilter(
        states=_states(args.label),
        age_min=args.age_min,
        age_max=args.age_max,
        sex=args.sex,
        date_from=args.date_from,
        date_to=args.date_to,
        split=args.split,
    )
    with open_context(settings) as ctx:
        result = export_cohort(ctx, wanted, kind=args.format, out=args.out, images=args.images)
    images = f", {result.images} image pairs" if args.images else ""
    out.print(f"{result.rows} studies{images} → {result.table} (manifest {result.manifest.name})")
    return ExitCode.OK
