"""``pacslabel simulate``: a simulated archive on disk, optionally stored into a PACS.

The simulated hospital (:mod:`simhospital`) is imported only when the command
runs: the daemon never loads it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pacsbridge import Node, store_files
from pacslabel.cli.output import Output, Subcommands
from pacslabel.errors import ExitCode, InvalidSettings
from pacslabel.settings import Settings
from pacslabel.tls import local_ae

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "simulate",
        help="write a simulated archive (DICOM + ground truth CSV), optionally upload it",
    )
    parser.add_argument("--studies", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="detector pixels per side relative to real (default 1)",
    )
    parser.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    parser.add_argument(
        "--upload", metavar="AE@HOST:PORT", help="C-STORE the archive into this PACS afterwards"
    )
    parser.set_defaults(handler=run)


def _node(text: str) -> Node:
    """``AE@host:port`` → :class:`Node`."""
    match = re.fullmatch(r"([^@]{1,16})@([^:]+):(\d{1,5})", text)
    if match is None:
        raise InvalidSettings(f"--upload {text!r}: expected AE@HOST:PORT, e.g. ORTHANC@pacs:4242")
    return Node(match.group(1), match.group(2), int(match.group(3)))


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from simhospital import write_archive

    node = _node(args.upload) if args.upload else None
    if args.studies < 1 or not 0.05 <= args.scale <= 2:
        raise InvalidSettings("--studies must be ≥ 1 and --scale between 0.05 and 2")
    local = local_ae(settings) if node is not None else None  # TLS as configured
    with out.progress.step("simulating studies", args.studies) as bar:
        summary = write_archive(
            args.out,
            args.studies,
            args.seed,
            scale=args.scale,
            workers=args.workers,
            on_study=bar.advance,
        )
    out.print(
        f"{summary.studies} studies, {summary.instances} instances, "
        f"{summary.bytes_written / 1e6:.0f} MB in {summary.dicom_dir}; "
        f"ground truth in {summary.truth_dir}"
    )
    if node is None or local is None:
        return ExitCode.OK
    files = sorted(summary.dicom_dir.rglob("*.dcm"))
    with out.progress.step(f"uploading to {node}", len(files)) as bar:
        report = store_files(local, node, files, on_file=bar.advance)
    out.print(f"stored {report.stored} of {len(files)} instances in {node}")
    for name, reason in report.failed:
        out.error(f"{name}: {reason}")
    return ExitCode.OK if not report.failed else ExitCode.PACS
