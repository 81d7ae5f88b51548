"""``pacslabel labels import``: human labels of reports or of images, stored with their
annotator and time, used as training targets before the labellers' (an image label
first), and kept apart as the frozen test set when marked so."""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy.orm import Session

from db.queries import audit
from pacslabel.annotations import (
    read_annotations,
    read_image_labels,
    resolve_annotations,
    store_human_labels,
    store_image_labels,
)
from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import Context, open_context
from pacslabel.errors import ExitCode, UsageError
from pacslabel.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("labels", help="human labels")
    actions = parser.add_subparsers(dest="labels_command", required=True, metavar="action")
    imp = actions.add_parser(
        "import",
        help="store annotators' labels: of reports (four states per finding) or of images "
        "(1, 0 or empty per finding)",
    )
    imp.add_argument("file", type=Path, help="CSV (docs/researchers.md, 'Human labels')")
    imp.add_argument("--kind", choices=("report", "image"), required=True)
    imp.add_argument(
        "--annotator",
        help="who labelled (image labels; report files may carry an annotator column)",
    )
    imp.add_argument(
        "--test-set",
        action="store_true",
        help="image labels of the frozen test set: their studies are never trained on",
    )
    parser.set_defaults(handler=run)


def _reports(ctx: Context, session: Session, path: Path) -> str:
    annotations = read_annotations(path, ctx.task.finding_keys)
    resolved = resolve_annotations(session, annotations, ctx.pseudonymiser.uid)
    added = store_human_labels(session, resolved)
    studies = sum(1 for item in resolved if item.study_id is not None)
    audit(session, "labels.imported", kind="report", file=path.name, labels=added)
    return f"{added} report labels of {studies} studies stored as human"


def _images(ctx: Context, session: Session, path: Path, annotator: str, test: bool) -> str:
    labels = read_image_labels(path, ctx.task.finding_keys)
    changed, unknown = store_image_labels(
        session,
        labels,
        ctx.task.finding_keys,
        ctx.pseudonymiser.uid,
        annotator=annotator,
        test_set=test,
    )
    audit(session, "labels.imported", kind="image", file=path.name, labels=changed, test=test)
    missing = f"; {len(unknown)} studies are not in the corpus" if unknown else ""
    what = "test-set image labels" if test else "image labels"
    return (
        f"{changed} {what} of {len(labels) - len(unknown)} studies stored by {annotator}{missing}"
    )


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    if args.kind == "report" and (args.test_set or args.annotator):
        raise UsageError(
            "--test-set and --annotator are for --kind image (report files "
            "name their annotator in an annotator column)"
        )
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        if args.kind == "report":
            said = _reports(ctx, session, args.file)
        else:
            said = _images(ctx, session, args.file, args.annotator or "annotator", args.test_set)
        session.commit()
    out.print(said)
    return ExitCode.OK
