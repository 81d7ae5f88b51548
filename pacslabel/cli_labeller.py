"""``pacslabel labeller …``: train, evaluate and apply report labellers."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model
from labeller import Labeller, table_text
from labeller.bert import CompactBert
from labeller.training import TrainingPlan
from pacslabel.context import Context
from pacslabel.labelling import (
    InvalidAnnotations,
    Resolved,
    evaluate_labellers,
    human_labels_in_db,
    label_corpus,
    load_labeller,
    read_annotations,
    record_evaluation,
    resolve_annotations,
    store_human_labels,
    train_labeller,
)
from pacslabel.stages.images import NLP_MODE

__all__ = ["add_parser", "run"]

_DEFAULT = TrainingPlan()


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    evaluate.add_argument("--out", type=Path, help="folder for table1.md and confusion PNGs")

    label = actions.add_parser("label", help="label every report in the database (adds rows)")
    label.add_argument(
        "--model", help="`rules`, a registered labeller version or a saved folder (default: newest)"
    )

    actions.add_parser("list", help="the registered report labellers")


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


def _labeller(ctx: Context, name: str | None) -> Labeller:
    return ctx.rules if name == "rules" else load_labeller(ctx, name)


def _evaluate(
    console: Console,
    ctx: Context,
    out: Path | None,
    items: Sequence[Resolved],
    labellers: Sequence[Labeller],
) -> Path:
    """Score, print, record with the registry; returns the folder of tables and figures."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = out or ctx.paths.root / "reports" / f"labellers-{stamp}"
    results = evaluate_labellers(labellers, items, ctx.task.finding_keys, out)
    for name, scores in results.items():
        console.print(table_text(name, scores), markup=False, soft_wrap=True)
        console.print()
        record_evaluation(ctx, name, scores, len(items))
    return out


def run(args: argparse.Namespace, ctx: Context, console: Console) -> None:
    """Run one ``labeller`` action."""
    findings = ctx.task.finding_keys
    if args.labeller_command == "train":
        with Session(ctx.engine) as session:
            if args.annotations is not None:
                items = resolve_annotations(
                    ctx, session, read_annotations(args.annotations, findings)
                )
                added = store_human_labels(session, items)
                session.commit()
                console.print(f"{len(items)} annotated reports ({added} new human labels stored)")
            else:
                items = human_labels_in_db(ctx, session)
                console.print(f"{len(items)} annotated reports in the database")
        spec = CompactBert() if args.size == "compact" else _TINY
        plan = TrainingPlan(
            spec=spec,
            base_model=args.base_model,
            layout=args.layout,
            mlm_epochs=args.mlm_epochs,
            weak_epochs=args.weak_epochs,
            human_epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=args.seed,
        )
        extra = _texts(args.corpus) if args.corpus else []

        def on_epoch(phase: str, epoch: int, epochs: int) -> None:
            console.print(f"{phase}: epoch {epoch}/{epochs}")

        row, report = train_labeller(ctx, items, plan, extra, on_epoch)
        console.print(
            f"registered labeller {row.version} ({row.architecture}) in {row.path}; "
            f"best validation loss {report.best_validation_loss}",
            soft_wrap=True,
        )
        if args.test is not None:
            with Session(ctx.engine) as session:
                test = resolve_annotations(ctx, session, read_annotations(args.test, findings))
            out = _evaluate(console, ctx, None, test, [ctx.rules, load_labeller(ctx, row.version)])
            console.print(f"tables and confusion figures in {out}", soft_wrap=True)
        return
    if args.labeller_command == "evaluate":
        with Session(ctx.engine) as session:
            items = resolve_annotations(ctx, session, read_annotations(args.annotations, findings))
        labellers: list[Labeller] = [ctx.rules]
        names = args.model or []
        if not names:
            with Session(ctx.engine) as session:
                newest = session.scalar(
                    select(Model.version)
                    .where(Model.task == ctx.task.name, Model.mode == NLP_MODE)
                    .order_by(Model.id.desc())
                    .limit(1)
                )
            names = [newest] if newest else []
        labellers += [load_labeller(ctx, name) for name in names if name != "rules"]
        out = _evaluate(console, ctx, args.out, items, labellers)
        console.print(f"tables and confusion figures in {out}", soft_wrap=True)
        return
    if args.labeller_command == "label":
        labeller = _labeller(ctx, args.model)
        added = label_corpus(ctx, labeller)
        console.print(f"{added} labels added by {labeller.version}", soft_wrap=True)
        return
    if args.labeller_command == "list":
        with Session(ctx.engine) as session:
            rows = session.scalars(
                select(Model).where(Model.mode == NLP_MODE).order_by(Model.id)
            ).all()
        for row in rows:
            evaluation = row.metrics.get("evaluation", {})
            console.print(
                f"{row.version}  {row.architecture}  {row.created_at:%Y-%m-%d %H:%M}  "
                f"human {row.config.get('human_reports')}  "
                f"corpus {row.config.get('corpus_reports')}"
                + (f"  evaluated on {evaluation['reports']}" if evaluation else ""),
                soft_wrap=True,
            )
        if not rows:
            console.print("no report labeller registered")
        return
    raise AssertionError(f"unhandled labeller action {args.labeller_command}")


_TINY = CompactBert(
    vocab_size=800,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    max_length=128,
)
"""A from-scratch BERT small enough for tests and smoke runs."""
