"""``pacslabel labeller train|evaluate|label|list``: report labellers."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, ModelMode
from db.queries import newest_labeller
from labeller import Labeller, table_text
from labeller.bert import CompactBert
from labeller.training import TrainingPlan
from pacslabel.annotations import (
    Resolved,
    human_labels_in_db,
    read_annotations,
    resolve_annotations,
    store_human_labels,
)
from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import Context, open_context
from pacslabel.errors import ExitCode, InvalidAnnotations
from pacslabel.registry import load_labeller
from pacslabel.settings import Settings
from pacslabel.tools.labellers import (
    evaluate_labellers,
    label_corpus,
    record_evaluation,
    train_labeller,
)

__all__ = ["add_parser", "run"]

_DEFAULT = TrainingPlan()


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser("labeller", help="train, evaluate and apply report labellers")
    actions = parser.add_subparsers(dest="labeller_command", required=True, metavar="action")

    train = actions.add_parser("train", help="train a BERT labeller and register it")
    train.add_argument(
        "--annotations",
        type=Path,
        help="human report labels (CSV); default: the human labels in the database",
    )
    train.add_argument("--test", type=Path, help="annotated reports to evaluate on afterwards")
    train.add_argument("--layout", choices=["joint", "per-finding"], default=_DEFAULT.layout)
    train.add_argument(
        "--base-model",
        type=Path,
        help="a local BERT checkpoint folder (e.g. bert-base-italian-uncased)",
    )
    train.add_argument(
        "--corpus", type=Path, help="a CSV with a text column: more unlabelled reports"
    )
    train.add_argument("--mlm-epochs", type=int, default=_DEFAULT.mlm_epochs)
    train.add_argument("--weak-epochs", type=int, default=_DEFAULT.weak_epochs)
    train.add_argument("--epochs", type=int, default=_DEFAULT.human_epochs)
    train.add_argument("--batch-size", type=int, default=_DEFAULT.batch_size)
    train.add_argument("--learning-rate", type=float, default=_DEFAULT.learning_rate)
    train.add_argument("--seed", type=int, default=_DEFAULT.seed)
    train.add_argument(
        "--size", choices=["compact", "tiny"], default="compact", help="from-scratch BERT size"
    )

    evaluate = actions.add_parser(
        "evaluate", help="Table 1 per finding for each labeller on annotated reports"
    )
    evaluate.add_argument("--annotations", type=Path, required=True)
    evaluate.add_argument(
        "--model",
        action="append",
        default=[],
        help="a registered labeller version or saved folder (repeatable); "
        "default: the newest registered; `rules` is always included",
    )
    evaluate.add_argument(
        "--out", type=Path, help="folder for table1.md, confusion PNGs and misses-<labeller>.csv"
    )

    label = actions.add_parser("label", help="label every report in the database (adds rows)")
    label.add_argument(
        "--model", help="`rules`, a registered labeller version or a saved folder (default: newest)"
    )

    actions.add_parser("list", help="the registered report labellers")
    parser.set_defaults(handler=run)


def _texts(path: Path) -> list[str]:
    """The ``text`` column of a CSV of unlabelled reports."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if "text" not in (reader.fieldnames or ()):
                raise InvalidAnnotations(f"{path}: no text column")
            return [row["text"] for row in reader if row.get("text")]
    except OSError as exc:
        raise InvalidAnnotations(f"{path}: cannot read ({exc.strerror})") from exc


def _evaluate(
    out: Output,
    ctx: Context,
    folder: Path | None,
    items: Sequence[Resolved],
    labellers: Sequence[Labeller],
) -> Path:
    """Score, print, record with the registry; returns the folder of tables and figures."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    folder = folder or ctx.paths.reports / f"labellers-{stamp}"
    results = evaluate_labellers(labellers, items, ctx.task.finding_keys, folder)
    for name, scores in results.items():
        out.print(table_text(name, scores) + "\n", markup=False)
        record_evaluation(ctx, name, scores, len(items))
    return folder


def _train(args: argparse.Namespace, ctx: Context, out: Output) -> None:
    """Read and check every input first: a bad file stops the command before anything is
    trained, stored or registered."""
    findings = ctx.task.finding_keys
    annotations = read_annotations(args.annotations, findings) if args.annotations else None
    test = _resolved(ctx, args.test) if args.test is not None else None
    extra = _texts(args.corpus) if args.corpus else []
    with Session(ctx.engine) as session:
        if annotations is not None:
            items = resolve_annotations(session, annotations, ctx.pseudonymiser.uid)
            added = store_human_labels(session, items)
            session.commit()
            out.print(f"{len(items)} annotated reports ({added} new human labels stored)")
        else:
            items = human_labels_in_db(session, findings)
            out.print(f"{len(items)} annotated reports in the database")
    plan = TrainingPlan(
        spec=CompactBert() if args.size == "compact" else _TINY,
        base_model=args.base_model,
        layout=args.layout,
        mlm_epochs=args.mlm_epochs,
        weak_epochs=args.weak_epochs,
        human_epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )

    def on_epoch(phase: str, epoch: int, epochs: int) -> None:
        out.print(f"{phase}: epoch {epoch}/{epochs}")

    row, report = train_labeller(ctx, items, plan, extra, on_epoch)
    loss = report.best_validation_loss
    out.print(
        f"registered labeller {row.version} ({row.architecture}) in {row.path}; "
        + (
            f"best validation loss {loss:.4f}"
            if loss is not None
            else "no validation split (fewer than 10 human-annotated reports)"
        )
    )
    if test is not None:
        trained = load_labeller(ctx.engine, ctx.task.name, row.version)
        folder = _evaluate(out, ctx, None, test, [ctx.rules, trained])
        out.print(f"tables, confusion figures and misses in {folder}")


def _resolved(ctx: Context, path: Path) -> list[Resolved]:
    with Session(ctx.engine) as session:
        annotations = read_annotations(path, ctx.task.finding_keys)
        return resolve_annotations(session, annotations, ctx.pseudonymiser.uid)


def _evaluate_action(args: argparse.Namespace, ctx: Context, out: Output) -> None:
    items = _resolved(ctx, args.annotations)
    names = args.model or []
    if not names:
        with Session(ctx.engine) as session:
            newest = newest_labeller(session, ctx.task.name)
        names = [newest.version] if newest is not None else []
    labellers: list[Labeller] = [ctx.rules]
    labellers += [load_labeller(ctx.engine, ctx.task.name, n) for n in names if n != "rules"]
    folder = _evaluate(out, ctx, args.out, items, labellers)
    out.print(f"tables, confusion figures and misses in {folder}")


def _label(args: argparse.Namespace, ctx: Context, out: Output) -> None:
    name = args.model
    labeller = ctx.rules if name == "rules" else load_labeller(ctx.engine, ctx.task.name, name)
    added = label_corpus(ctx, labeller)
    out.print(f"{added} labels added by {labeller.version}")


def _list(args: argparse.Namespace, ctx: Context, out: Output) -> None:
    with Session(ctx.engine) as session:
        rows = session.scalars(
            select(Model).where(Model.mode == ModelMode.NLP).order_by(Model.id)
        ).all()
    for row in rows:
        evaluation = row.metrics.get("evaluation", {})
        out.print(
            f"{row.version}  {row.architecture}  {row.created_at:%Y-%m-%d %H:%M}  "
            f"human {row.config.get('human_reports')}  "
            f"corpus {row.config.get('corpus_reports')}"
            + (f"  evaluated on {evaluation['reports']}" if evaluation else "")
        )
    if not rows:
        out.print("no report labeller registered")


_ACTIONS = {"train": _train, "evaluate": _evaluate_action, "label": _label, "list": _list}


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    """Run one ``labeller`` action."""
    with open_context(settings, out.progress) as ctx:
        _ACTIONS[args.labeller_command](args, ctx, out)
    return ExitCode.OK


_TINY = CompactBert(
    vocab_size=800,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    max_length=128,
)
"""A from-scratch BERT small enough for tests and smoke runs."""
