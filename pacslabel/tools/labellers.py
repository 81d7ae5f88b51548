"""Report labellers as the application uses them: train and register, evaluate, label
the whole corpus (``pacslabel labeller …``).

Trained labellers are saved under ``<data_dir>/models/labellers/<version>`` and
registered in the model registry with mode ``nlp``; the annotations they learn
from are read by :mod:`pacslabel.annotations`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, ModelMode, Report, Study
from labeller import (
    FindingReading,
    FindingScore,
    Labeller,
    State,
    confusion_figure,
    score,
    table_text,
)
from labeller.training import TrainingPlan, TrainingReport, train_bert
from pacslabel.annotations import Resolved
from pacslabel.context import Context
from pacslabel.pipeline.stages.label import add_labels
from pacslabel.registry import code_version

__all__ = [
    "evaluate_labellers",
    "label_corpus",
    "record_evaluation",
    "train_labeller",
    "write_misses",
]

logger = logging.getLogger(__name__)


def _corpus(session: Session) -> list[str]:
    return list(session.scalars(select(Report.text).order_by(Report.id)))


def _manifest(corpus: Sequence[str], human: Sequence[Resolved]) -> str:
    digest = hashlib.sha256()
    for text in corpus:
        digest.update(hashlib.sha256(text.encode()).digest())
    for item in human:
        digest.update(item.text.encode())
        digest.update(json.dumps({k: v.value for k, v in item.annotation.states.items()}).encode())
    return digest.hexdigest()


def train_labeller(
    ctx: Context,
    human: Sequence[Resolved],
    plan: TrainingPlan,
    extra_corpus: Sequence[str] = (),
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[Model, TrainingReport]:
    """Train a BERT labeller on the database's reports and ``human``; save and register it."""
    findings = ctx.task.finding_keys
    with Session(ctx.engine) as session:
        corpus = _corpus(session) + list(extra_corpus)
    weak = [
        {k: label.state for k, label in labels.items()} for labels in ctx.rules.label_many(corpus)
    ]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    manifest = _manifest(corpus, human)
    version = f"bert-{plan.layout}-{stamp}-{manifest[:8]}"
    labeller, report = train_bert(
        corpus,
        weak,
        [item.text for item in human],
        [item.annotation.states for item in human],
        findings,
        plan,
        version,
        progress=progress,
    )
    folder = ctx.paths.models / "labellers" / version
    labeller.save(folder)
    row = _register(
        ctx, version, folder, plan, report, manifest, corpus=len(corpus), human=len(human)
    )
    logger.info("registered report labeller %s (%s)", version, folder)
    return row, report


def _register(
    ctx: Context,
    version: str,
    folder: Path,
    plan: TrainingPlan,
    report: TrainingReport,
    manifest: str,
    *,
    corpus: int,
    human: int,
) -> Model:
    """Add a trained labeller to the model registry; returns its row (detached)."""
    config: dict[str, Any] = {
        **{k: v for k, v in asdict(plan).items() if k not in ("spec", "base_model")},
        "spec": asdict(plan.spec),
        "base_model": str(plan.base_model) if plan.base_model else None,
        "corpus_reports": corpus,
        "human_reports": human,
        "rules": ctx.rules.version,
    }
    metrics: dict[str, Any] = {
        "losses": report.losses,
        "best_validation_loss": report.best_validation_loss,
        "stopped_after": report.stopped_after,
    }
    with Session(ctx.engine) as session:
        row = Model(
            version=version,
            architecture=f"bert-{plan.layout}",
            mode=ModelMode.NLP,
            task=ctx.task.name,
            findings=ctx.task.finding_keys,
            path=str(folder),
            config=config,
            manifest_hash=manifest,
            code_version=code_version(),
            metrics=metrics,
            thresholds={},
        )
        session.add(row)
        session.commit()
        session.refresh(row)
        session.expunge(row)
    return row


def evaluate_labellers(
    labellers: Sequence[Labeller],
    items: Sequence[Resolved],
    findings: Sequence[str],
    out: Path | None = None,
) -> dict[str, dict[str, FindingScore]]:
    """Table 1 of the reference study for each labeller on ``items``; under ``out``
    the table, confusion figures and each labeller's misses (``misses-<name>.csv``)."""
    expected = [item.annotation.states for item in items]
    texts = [item.text for item in items]
    results = {}
    for labeller in labellers:
        readings = labeller.label_many(texts)
        predicted = [{k: label.state for k, label in labels.items()} for labels in readings]
        scores = score(expected, predicted, findings)
        results[labeller.version] = scores
        if out is not None:
            safe = labeller.version.replace(":", "-").replace("/", "-")
            confusion_figure(out / f"confusion-{safe}.png", labeller.version, scores)
            write_misses(out / f"misses-{safe}.csv", items, readings, findings)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        text = "\n\n".join(table_text(name, s) for name, s in results.items())
        (out / "table1.md").write_text(
            f"# Report labellers on {len(items)} annotated reports\n\n{text}\n", encoding="utf-8"
        )
    return results


MISSES_COLUMNS = ("finding", "report", "gold", "predicted", "binary_miss", "evidence", "text")


def write_misses(
    path: Path,
    items: Sequence[Resolved],
    readings: Sequence[Mapping[str, FindingReading]],
    findings: Sequence[str],
) -> int:
    """Every (report, finding) whose predicted state differs from the annotation, by
    finding, the binary misses (positive against the rest) first; returns how many.

    ``evidence`` is the words the labeller read (rules), its probability (a model),
    or "no mention found".
    """
    rows = []
    for item, labels in zip(items, readings, strict=True):
        for key in findings:
            gold, reading = item.annotation.states[key], labels[key]
            if reading.state is gold:
                continue
            binary = (gold is State.POSITIVE) != (reading.state is State.POSITIVE)
            if reading.evidence:
                evidence = reading.evidence
            elif reading.probability is not None:
                evidence = f"probability {reading.probability:.2f}"
            else:
                evidence = "no mention found"
            rows.append(
                (
                    key,
                    item.annotation.report_id,
                    gold.value,
                    reading.state.value,
                    "yes" if binary else "no",
                    evidence,
                    item.text,
                )
            )
    rows.sort(key=lambda row: (findings.index(row[0]), row[4] != "yes", row[1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MISSES_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def record_evaluation(
    ctx: Context, version: str, scores: dict[str, FindingScore], reports: int
) -> None:
    """Store an evaluation with a registered labeller's metrics."""
    with Session(ctx.engine) as session:
        row = session.scalar(select(Model).where(Model.version == version))
        if row is None:
            return
        row.metrics = {
            **row.metrics,
            "evaluation": {
                "reports": reports,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "findings": {key: s.as_dict() for key, s in scores.items()},
            },
        }
        session.commit()


def label_corpus(ctx: Context, labeller: Labeller) -> int:
    """Label every study with a report; returns how many label rows were added."""
    added = 0
    with Session(ctx.engine) as session:
        ids = list(session.scalars(select(Report.study_id).order_by(Report.study_id)))
        with ctx.progress.step(f"labelling with {labeller.version}", len(ids)) as bar:
            for start in range(0, len(ids), 256):
                chunk = ids[start : start + 256]
                studies = list(session.scalars(select(Study).where(Study.id.in_(chunk))))
                added += add_labels(session, labeller, studies)
                session.commit()
                bar.advance(len(chunk))
    return added
