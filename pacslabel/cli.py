"""The ``pacslabel`` command.

Exit codes (documented in the README):

====  ==========================================================
0     success
1     unexpected error (a bug: the traceback is logged)
2     invalid settings, task file or command line
3     the database schema is not current (run ``pacslabel db upgrade``)
4     the PACS cannot be used (unreachable, rejected us, query failed)
5     the PACS does not know our AE title (register it; see the message)
6     a key is missing or wrong (linkage / pseudonym key)
7     ``audit-phi`` found patient identifiers on the research side
====  ==========================================================
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from db import current_revision, head_revision, make_engine, upgrade
from labeller import LabellerError
from pacsbridge import LocalAE, MoveDestinationUnknown, Node, PacsBridgeError, store_files
from pacsbridge.simulator import render_gallery, write_archive
from pacslabel import __version__, cli_labeller
from pacslabel.context import SchemaOutOfDate, Step, open_context
from pacslabel.demo import DemoOptions, run_demo
from pacslabel.explain import ExplainError, explain_study
from pacslabel.image_evaluation import evaluate_image_model
from pacslabel.linkage import LinkageError, load_keys, rotate_linkage_key
from pacslabel.loop import RunReport, run_once
from pacslabel.phi_audit import audit_phi
from pacslabel.scheduler import Service
from pacslabel.settings import InvalidSettings, Settings, load_settings
from pacslabel.summary import CorpusSummary, corpus_summary
from pacslabel.task import InvalidTask, load_task

__all__ = ["main"]

logger = logging.getLogger("pacslabel")

(
    EXIT_OK,
    _EXIT_BUG,
    EXIT_CONFIG,
    EXIT_SCHEMA,
    EXIT_PACS,
    EXIT_MOVE_DEST,
    EXIT_KEYS,
    EXIT_PHI,
    EXIT_LABELLER,
) = range(9)


class _RichStep:
    def __init__(self, progress: Progress, task_id: object) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, amount: int = 1) -> None:
        self._progress.advance(self._task_id, amount)  # type: ignore[arg-type]


class RichProgress:
    """Progress bars on the terminal (standard error)."""

    def __init__(self, console: Console) -> None:
        self._console = console

    @contextmanager
    def step(self, description: str, total: int) -> Iterator[Step]:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(
            *columns, console=self._console, transient=False, disable=total == 0
        ) as progress:
            yield _RichStep(progress, progress.add_task(description, total=total))


def _error(err: Console, exc: BaseException | str) -> None:
    err.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pacslabel",
        description="De-identified, NLP-labelled research corpus and AI findings from a PACS.",
    )
    parser.add_argument("--version", action="version", version=f"pacslabel {__version__}")
    parser.add_argument("--config", type=Path, help="TOML settings file")
    parser.add_argument("--data-dir", type=Path, help="data folder (database, cache, models)")
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (default: SQLite in the data folder)"
    )
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    demo = commands.add_parser("demo", help="run the loop once against a simulated PACS")
    demo.add_argument("--studies", type=int, default=DemoOptions.studies)
    demo.add_argument("--seed", type=int, default=DemoOptions.seed)
    demo.add_argument("--image-size", type=int, default=DemoOptions.image_size)
    demo.add_argument("--epochs", type=int, default=DemoOptions.epochs)

    run = commands.add_parser("run", help="run the loop once against the configured PACS")
    run.add_argument("--no-train", action="store_true", help="do not train in this pass")
    run.add_argument(
        "--full-query",
        action="store_true",
        help="query the whole date range, not only since the newest study seen "
        "(finds studies that reached the PACS late with an old date)",
    )
    commands.add_parser(
        "serve", help="run the loop on its schedule until stopped (SIGTERM or Ctrl-C)"
    )

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="action")
    db_commands.add_parser("upgrade", help="create or migrate the schema to the current version")
    db_commands.add_parser("current", help="show the schema version")

    simulate = commands.add_parser(
        "simulate",
        help="write a simulated archive (DICOM + ground truth CSV), optionally upload it",
    )
    simulate.add_argument("--studies", type=int, required=True)
    simulate.add_argument("--out", type=Path, required=True)
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="detector pixels per side relative to real (default 1)",
    )
    simulate.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    simulate.add_argument(
        "--upload", metavar="AE@HOST:PORT", help="C-STORE the archive into this PACS afterwards"
    )

    gallery = commands.add_parser("gallery", help="a PNG of simulated pairs, one per finding")
    gallery.add_argument("--out", type=Path, default=Path("docs/gallery.png"))

    audit = commands.add_parser(
        "audit-phi", help="look for patient identifiers in the database, cache and logs"
    )
    audit.add_argument("--identifiers", type=Path, help="a file of further identifiers, one a line")
    audit.add_argument("--logs", type=Path, nargs="*", default=[], help="log files to scan too")

    keys = commands.add_parser("keys", help="the linkage key")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="action")
    keys_commands.add_parser("rotate", help="re-encrypt the linkage table with a new key")

    cli_labeller.add_parser(commands)

    model = commands.add_parser("model", help="the image model against human image labels")
    model_commands = model.add_subparsers(dest="model_command", required=True, metavar="action")
    evaluate = model_commands.add_parser(
        "evaluate",
        help="AUC, sensitivity and specificity of the current model on a human-labelled "
        "test set; cut-offs from a human tuning set",
    )
    evaluate.add_argument("--test", type=Path, required=True, help="CSV of human image labels")
    evaluate.add_argument(
        "--tuning", type=Path, help="CSV of human image labels: Youden's J cut-offs from it"
    )
    evaluate.add_argument("--out", type=Path, help="folder of the table and ROC curves")
    explain = commands.add_parser(
        "explain", help="occlusion maps: where in each view the current model sees each finding"
    )
    explain.add_argument("study", help="Study Instance UID (pseudonymous or original)")
    explain.add_argument(
        "--finding", action="append", default=[], help="only this finding (repeatable)"
    )
    explain.add_argument("--out", type=Path, help="folder of the PNG (default data/reports)")
    explain.add_argument("--patch", type=int, help="patch side in pixels (default: 80 at 512)")
    commands.add_parser("status", help="what the corpus holds")
    commands.add_parser("settings", help="print the effective settings (secrets hidden)")
    task = commands.add_parser("task", help="validate and show a task definition")
    task.add_argument("name", nargs="?", help="task name or file (default: the configured one)")
    return parser


def _configure_logging(level: str, err: Console) -> None:
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(name)s: %(message)s")
    # pynetdicom is chatty at INFO (one line per association); keep its warnings.
    logging.getLogger("pynetdicom").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # APScheduler logs each job start and end at INFO; our passes log their own outcome.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _summary_table(summary: CorpusSummary) -> Table:
    table = Table(title=f"Corpus: {summary.studies} studies; model {summary.model_version or '—'}")
    # Label counts (rule labeller) and the current model on its held-out studies.
    for column in ("finding", "pos", "unc", "neg", "n/m", "AUC", "n (pos)"):
        table.add_column(column, justify="left" if column == "finding" else "right")
    for finding, counts in summary.labels.items():
        metrics = summary.held_out.get(finding, {})
        auc = metrics.get("auc")
        table.add_row(
            finding,
            *(
                str(counts.get(s, 0))
                for s in ("positive", "uncertain", "negative", "not_mentioned")
            ),
            f"{auc:.3f}" if auc is not None else "—",
            f"{metrics.get('n', 0)} ({metrics.get('positives', 0)})" if metrics else "—",
        )
    return table


def _print_run(console: Console, report: RunReport, summary: CorpusSummary) -> None:
    console.print(
        f"This run: {report.found} matching studies on the PACS, {report.new} new, "
        f"{report.retrieved} retrieved, {report.anonymised} de-identified and paired, "
        f"{report.labelled} labelled, {report.cached} cached, {report.predicted} predicted, "
        f"{report.reported} SRs stored back.",
        soft_wrap=True,
    )
    if report.ingest_error is not None:
        console.print(f"Ingest stopped: {escape(str(report.ingest_error))}", soft_wrap=True)
    training = report.training
    console.print(
        f"Training: {training.status}"
        + (f" ({training.reason})" if training.reason else "")
        + (f", model {training.model_version}" if training.model_version else ""),
        soft_wrap=True,
    )
    console.print(
        "Studies by state: "
        + ", ".join(f"{state} {count}" for state, count in sorted(summary.studies_by_state.items()))
    )
    console.print(f"SRs stored in the PACS so far: {summary.srs_sent}")
    console.print(_summary_table(summary))


def _run(args: argparse.Namespace, settings: Settings, console: Console, err: Console) -> int:
    progress = RichProgress(err)
    if args.command == "demo":
        options = DemoOptions(
            studies=args.studies, seed=args.seed, image_size=args.image_size, epochs=args.epochs
        )
        report, summary = run_demo(settings, options, progress)
        _print_run(console, report, summary)
        return _ingest_exit(report)
    if args.command == "run":
        with open_context(settings, progress) as ctx:
            report = run_once(ctx, retrain=not args.no_train, full_query=args.full_query)
            _print_run(console, report, corpus_summary(ctx))
        return _ingest_exit(report)
    if args.command == "serve":
        return _serve(settings, progress, err)
    if args.command == "db":
        url = settings.resolved_database_url
        if args.db_command == "upgrade":
            upgrade(url)
        engine = make_engine(url)
        try:
            current = current_revision(engine)
        finally:
            engine.dispose()
        console.print(f"schema {current or 'none'} (head {head_revision()})")
        return EXIT_OK
    if args.command == "status":
        with open_context(settings) as ctx:
            summary = corpus_summary(ctx)
        console.print(
            "Studies by state: "
            + ", ".join(
                f"{state} {count}" for state, count in sorted(summary.studies_by_state.items())
            )
        )
        console.print(_summary_table(summary))
        return EXIT_OK
    if args.command == "model":
        with open_context(settings, progress) as ctx:
            result = evaluate_image_model(ctx, args.test, tuning=args.tuning, out_dir=args.out)
        console.print(result.table.read_text(encoding="utf-8"), soft_wrap=True, markup=False)
        console.print(f"wrote {result.table} and {result.roc}", soft_wrap=True)
        return EXIT_OK
    if args.command == "explain":
        with open_context(settings, progress) as ctx:
            explanation = explain_study(
                ctx, args.study, findings=args.finding, out_dir=args.out, patch=args.patch
            )
        console.print(
            f"{explanation.study_uid} by {explanation.model_version}: "
            + ", ".join(f"{k} {p:.2f}" for k, p in explanation.probabilities.items()),
            soft_wrap=True,
        )
        console.print(f"wrote {explanation.path}", soft_wrap=True)
        return EXIT_OK
    if args.command == "settings":
        console.print_json(json.dumps(settings.redacted()))
        return EXIT_OK
    if args.command == "audit-phi":
        with open_context(settings) as ctx:
            looked_for, hits = audit_phi(ctx, identifiers_file=args.identifiers, logs=args.logs)
        for hit in hits:
            console.print(f"{hit.where}: {hit.kind} {hit.masked}", soft_wrap=True, markup=False)
        console.print(f"{len(hits)} hits for {looked_for} known identifiers", soft_wrap=True)
        return EXIT_PHI if hits else EXIT_OK
    if args.command == "keys":
        with open_context(settings) as ctx, Session(ctx.engine) as session:
            keys_now = load_keys(
                settings.secrets_dir, settings.deid.pseudonym_key, settings.deid.linkage_key
            )
            rotation = rotate_linkage_key(session, keys_now, settings.secrets_dir)
        console.print(
            f"{rotation.rows} linkage rows re-encrypted with key {rotation.new_key_id}; "
            f"the key is in {rotation.new_key_file}",
            soft_wrap=True,
        )
        if settings.deid.linkage_key is not None:
            console.print(
                "The linkage key comes from PACSLABEL_DEID__LINKAGE_KEY: set it to the "
                "content of that file, then delete the file.",
                soft_wrap=True,
            )
        return EXIT_OK
    if args.command == "simulate":
        return _simulate(args, settings, console, progress)
    if args.command == "gallery":
        console.print(f"wrote {render_gallery(args.out)}")
        return EXIT_OK
    if args.command == "labeller":
        with open_context(settings, progress) as ctx:
            cli_labeller.run(args, ctx, console)
        return EXIT_OK
    if args.command == "task":
        task = load_task(args.name or settings.task)
        console.print(f"{task.name} v{task.version} ({task.language}): {task.title}")
        for finding in task.findings:
            console.print(
                f"  {finding.key:22s} {finding.code.scheme} {finding.code.value:10s} "
                f"{finding.name_en} / {finding.name_it}"
            )
        return EXIT_OK
    raise AssertionError(f"unhandled command {args.command}")


def _serve(settings: Settings, progress: RichProgress, err: Console) -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logger.info("%s received: stopping after the pass in progress", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_context(settings, progress) as ctx:
            service = Service(ctx, settings.schedule)
            service.start()
            err.print(
                f"serving: an ingest pass every {settings.schedule.ingest_every_minutes:g} min, "
                f"the nightly pass at {settings.schedule.train_at}; SIGTERM or Ctrl-C stops",
                soft_wrap=True,
            )
            while not stop.wait(1.0):
                pass
            service.stop(wait=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err.print("stopped; the next start resumes where this one stopped")
    return EXIT_OK


def _node(text: str) -> Node:
    """``AE@host:port`` → :class:`Node`."""
    match = re.fullmatch(r"([^@]{1,16})@([^:]+):(\d{1,5})", text)
    if match is None:
        raise InvalidSettings(f"--upload {text!r}: expected AE@HOST:PORT, e.g. ORTHANC@pacs:4242")
    return Node(match.group(1), match.group(2), int(match.group(3)))


def _simulate(
    args: argparse.Namespace, settings: Settings, console: Console, progress: RichProgress
) -> int:
    node = _node(args.upload) if args.upload else None
    if args.studies < 1 or not 0.05 <= args.scale <= 2:
        raise InvalidSettings("--studies must be ≥ 1 and --scale between 0.05 and 2")
    with progress.step("simulating studies", args.studies) as bar:
        summary = write_archive(
            args.out,
            args.studies,
            args.seed,
            scale=args.scale,
            workers=args.workers,
            on_study=bar.advance,
        )
    console.print(
        f"{summary.studies} studies, {summary.instances} instances, "
        f"{summary.bytes_written / 1e6:.0f} MB in {summary.dicom_dir}; "
        f"ground truth in {summary.truth_dir}",
        soft_wrap=True,
    )
    if node is None:
        return EXIT_OK
    files = sorted(summary.dicom_dir.rglob("*.dcm"))
    local = LocalAE(settings.local.ae_title, network_timeout_s=settings.local.network_timeout_s)
    with progress.step(f"uploading to {node}", len(files)) as bar:
        report = store_files(local, node, files, on_file=bar.advance)
    console.print(f"stored {report.stored} of {len(files)} instances in {node}", soft_wrap=True)
    for name, reason in report.failed:
        _error(console, f"{name}: {reason}")
    return EXIT_OK if not report.failed else EXIT_PACS


def _ingest_exit(report: RunReport) -> int:
    if isinstance(report.ingest_error, MoveDestinationUnknown):
        return EXIT_MOVE_DEST
    if report.ingest_error is not None:
        return EXIT_PACS
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pacslabel`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    console, err = Console(), Console(stderr=True)
    try:
        settings = load_settings(
            args.config,
            data_dir=args.data_dir,
            database_url=args.database_url,
            log_level=args.log_level,
        )
    except InvalidSettings as exc:
        _error(err, exc)
        return EXIT_CONFIG
    _configure_logging(settings.log_level, err)
    logger.info("pacslabel %s starting: %s", __version__, json.dumps(settings.redacted()))
    try:
        return _run(args, settings, console, err)
    except (InvalidTask, InvalidSettings, ExplainError) as exc:
        _error(err, exc)
        return EXIT_CONFIG
    except SchemaOutOfDate as exc:
        _error(err, exc)
        return EXIT_SCHEMA
    except LabellerError as exc:
        _error(err, exc)
        return EXIT_LABELLER
    except LinkageError as exc:
        _error(err, exc)
        return EXIT_KEYS
    except MoveDestinationUnknown as exc:
        _error(err, exc)
        return EXIT_MOVE_DEST
    except PacsBridgeError as exc:
        _error(err, exc)
        return EXIT_PACS
    except KeyboardInterrupt:
        err.print("interrupted; every stage resumes where it stopped on the next run")
        return 130


if __name__ == "__main__":
    sys.exit(main())
