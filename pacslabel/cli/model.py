"""``pacslabel model evaluate | list | promote | rollback``: the image models of the
registry, which one predicts, and how it does against human image labels."""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, ModelMode
from db.queries import image_models, promote_model, rollback_model
from pacslabel.cli.output import Output, Subcommands
from pacslabel.context import Context, open_context
from pacslabel.errors import ExitCode, NotReady, UsageError
from pacslabel.settings import Settings
from pacslabel.tools.comparison import compare_models
from pacslabel.tools.demo import DemoOptions
from pacslabel.tools.experiment import ExperimentOptions, run_experiment
from pacslabel.tools.image_evaluation import evaluate_image_model
from scoring import format_number

__all__ = ["add_parser", "run"]


def add_parser(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "model", help="image models: evaluate, list, promote, rollback, compare, experiment"
    )
    actions = parser.add_subparsers(dest="model_command", required=True, metavar="action")
    evaluate = actions.add_parser(
        "evaluate",
        help="AUC, sensitivity and specificity of the current model on a human-labelled "
        "test set; cut-offs from a human tuning set",
    )
    evaluate.add_argument(
        "--test",
        type=Path,
        help="CSV of human image labels (default: the stored test-set image labels)",
    )
    evaluate.add_argument(
        "--tuning", type=Path, help="CSV of human image labels: Youden's J cut-offs from it"
    )
    evaluate.add_argument("--out", type=Path, help="folder of the table and ROC curves")
    actions.add_parser("list", help="every image model: status, mean held-out AUC, why")
    promote = actions.add_parser("promote", help="make a model the one that predicts")
    promote.add_argument("version")
    rollback = actions.add_parser(
        "rollback", help="withdraw the current model; the one current before it predicts again"
    )
    rollback.add_argument("--reason", default="by hand", help="recorded with both models")
    compare = actions.add_parser(
        "compare", help="two models' AUC per finding on the studies both held out"
    )
    compare.add_argument("first")
    compare.add_argument("second")
    experiment = actions.add_parser(
        "experiment",
        help="the reference study's experiment on the simulated hospital: the three "
        "training modes on one archive, Tables 2-3 and ROC curves into a folder",
    )
    default = ExperimentOptions()
    experiment.add_argument("--out", type=Path, required=True, help="folder of the results")
    experiment.add_argument("--studies", type=int, default=default.demo.studies)
    experiment.add_argument("--seed", type=int, default=default.demo.seed)
    experiment.add_argument("--image-size", type=int, default=default.demo.image_size)
    experiment.add_argument("--epochs", type=int, default=default.demo.epochs)
    experiment.add_argument("--fine-tune-epochs", type=int, default=default.fine_tune_epochs)
    experiment.add_argument(
        "--human-train-share",
        type=float,
        default=default.human_train_share,
        help="share of the archive with human image labels to fine-tune and choose cut-offs on",
    )
    experiment.add_argument(
        "--human-test-share",
        type=float,
        default=default.human_test_share,
        help="share of the archive with human image labels to test on (never trained on)",
    )
    parser.set_defaults(handler=run)


def _experiment(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    demo = DemoOptions(
        studies=args.studies, seed=args.seed, image_size=args.image_size, epochs=args.epochs
    )
    options = ExperimentOptions(
        demo=demo,
        human_train_share=args.human_train_share,
        human_test_share=args.human_test_share,
        fine_tune_epochs=args.fine_tune_epochs,
    )
    result = run_experiment(settings, options, args.out, out.progress)
    for name in ("table2.md", "table3.md"):
        out.print((result.folder / name).read_text(encoding="utf-8"), markup=False)
    out.print(f"wrote {result.folder}: table2.md, table3.md, roc.png, results.json", markup=False)
    return ExitCode.OK


def _mean_auc(row: Model) -> str:
    aucs = [m.get("auc") for m in row.metrics.get("held_out", {}).values()]
    known = [a for a in aucs if a is not None]
    return format_number(sum(known) / len(known) if known else None)


def _list(ctx: Context, out: Output) -> None:
    with Session(ctx.engine) as session:
        rows = image_models(session, ctx.task.name)
        if not rows:
            out.print("no image model yet")
        for row in rows:
            out.print(
                f"{row.version}  {row.status}  {row.mode}  mean held-out AUC {_mean_auc(row)}  "
                f"{row.created_at:%Y-%m-%d %H:%M}  {row.status_reason or ''}",
                markup=False,
            )


def _promote(ctx: Context, out: Output, version: str) -> None:
    with Session(ctx.engine) as session:
        row = session.scalar(select(Model).where(Model.version == version))
        if row is None or row.mode == ModelMode.NLP or row.task != ctx.task.name:
            raise UsageError(f"{version!r} is not an image model of task {ctx.task.name}")
        previous = promote_model(session, row, "promoted by hand (pacslabel model promote)")
        session.commit()
        out.print(
            f"{version} is the current model"
            + (f" (was {previous.version})" if previous is not None else "")
            + "; the next pass predicts with it"
        )


def _rollback(ctx: Context, out: Output, reason: str) -> None:
    with Session(ctx.engine) as session:
        done = rollback_model(session, ctx.task.name, reason)
        if done is None:
            raise NotReady("no earlier current model to roll back to")
        session.commit()
        withdrawn, restored = done
        out.print(f"{withdrawn.version} withdrawn; {restored.version} is the current model again")


def run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    if args.model_command == "experiment":  # it fills its own archive and database
        return _experiment(args, settings, out)
    with open_context(settings, out.progress) as ctx:
        if args.model_command == "list":
            _list(ctx, out)
            return ExitCode.OK
        if args.model_command == "promote":
            _promote(ctx, out, args.version)
            return ExitCode.OK
        if args.model_command == "rollback":
            _rollback(ctx, out, args.reason)
            return ExitCode.OK
        if args.model_command == "compare":
            out.print(compare_models(ctx, args.first, args.second).table(), markup=False)
            return ExitCode.OK
        result = evaluate_image_model(ctx, args.test, tuning=args.tuning, out_dir=args.out)
    out.print(result.table.read_text(encoding="utf-8"), markup=False)
    out.print(f"wrote {result.table} and {result.roc}")
    if args.tuning is not None:
        out.print(
            f"cut-offs changed: stored predictions judged again; {result.srs_to_resend} SRs "
            "say something else now and are sent again by the next pass"
        )
    return ExitCode.OK
