"""The reference study's experiment, reproduced on the simulated hospital: one archive,
the three training modes, one human test set.

Galbusera et al. trained ResNet-18 models on report labels only (``1step``), on report
labels then human image labels (``2steps``), and on human image labels only
(``step2only``); chose each model's cut-offs by Youden's J on the human-annotated
training pairs; and reported, on 204 human-annotated test pairs, Table 2 (accuracy,
sensitivity, specificity and F1 at the default cut-off), Table 3 (the same at the
Youden cut-offs) and ROC curves per finding. :func:`run_experiment` does that here:

1. the simulated PACS is filled and the loop runs once (ingest, de-identification,
   report labels, pixel cache), as ``pacslabel demo`` does, without training;
2. the simulator's image truth of two disjoint sets of studies becomes the human image
   labels: a *training* set (fine-tuning, ``step2only``, cut-offs) and a *test* set,
   whose studies no mode trains on (``training.human_test_labels``);
3. each mode trains its model into the registry (promotion manual: the experiment does
   not change which model labels the studies; a task's first model is current anyway);
   a mode already trained on the same corpus and settings is not trained again;
4. every model is scored on the test set: ``table2.md``, ``table3.md`` (AUC with its 95%
   bootstrap interval), ``roc.png`` (one panel per finding, one curve per mode) and
   ``results.json`` in the output folder, with the label files under ``annotations/``.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model
from db.queries import study_by_uid
from pacslabel.annotations import read_image_labels
from pacslabel.context import Context, open_context
from pacslabel.errors import InvalidAnnotations, UsageError
from pacslabel.pipeline.stages import TrainStatus, train_model
from pacslabel.progress import ProgressReporter, SilentProgress
from pacslabel.settings import Settings
from pacslabel.tools.demo import DemoOptions, run_demo
from pacslabel.tools.image_evaluation import roc_figure
from scoring import format_number
from simhospital import FINDINGS, generate_study, simulated_study_uid
from simhospital.truth.annotations import AnnotationPlan, assign_sets
from trainer import (
    FindingMetrics,
    PixelCache,
    auc_interval,
    finding_metrics,
    load_model,
    predict,
    youden_threshold,
)

__all__ = ["MODES", "ExperimentOptions", "ExperimentResult", "run_experiment"]

logger = logging.getLogger(__name__)

MODES = ("1step", "2steps", "step2only")


@dataclass(frozen=True)
class ExperimentOptions:
    """The archive, the human sets' shares of it and the training (demo-sized by default:
    two CPU cores; the paper's sizes are settings away)."""

    demo: DemoOptions = field(default_factory=lambda: DemoOptions(studies=400))
    human_train_share: float = 0.25
    """Studies with human image labels to fine-tune on and choose cut-offs on (paper: 481)."""
    human_test_share: float = 0.2
    """Studies with human image labels to test on (paper: 204)."""
    fine_tune_epochs: int = 6
    fine_tune_learning_rate: float = 0.005


@dataclass(frozen=True)
class ExperimentResult:
    folder: Path
    models: dict[str, str]
    """Model version by mode."""
    metrics: dict[str, dict[str, dict[str, Any]]]
    """By mode, then finding: auc, its interval, and Table 2 and 3's figures."""
    test_studies: int
    train_studies: int


def _human_sets(options: ExperimentOptions, folder: Path) -> tuple[Path, Path]:
    """The simulator's image truth of the two human sets as label files (0/1)."""
    count, seed = options.demo.studies, options.demo.seed
    plan = AnnotationPlan(
        report_train=0.0,
        report_test=0.0,
        image_tuning=options.human_train_share,
        image_test=options.human_test_share,
    )
    sets = assign_sets(count, seed, plan)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"image_tuning": folder / "human_train.csv", "image_test": folder / "human_test.csv"}
    for name, path in paths.items():
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["study_instance_uid", *FINDINGS])
            for index in (i for i, s in enumerate(sets) if s == name):
                truth = generate_study(index, seed, scale=options.demo.scale).image_truth
                row = [str(int(truth[key] > 0)) for key in FINDINGS]
                writer.writerow([simulated_study_uid(seed, index), *row])
    return paths["image_tuning"], paths["image_test"]


def _mode_settings(
    settings: Settings, options: ExperimentOptions, mode: str, train: Path, test: Path
) -> Settings:
    """The user's settings with the experiment's size, one mode and the human sets."""
    training = settings.training.model_copy(
        update={
            "image_size": options.demo.image_size,
            "epochs": options.demo.epochs,
            "learning_rate": options.demo.learning_rate,
            "min_studies": 8,
            "mode": mode,
            "human_image_labels": train,
            "human_test_labels": test,
            "fine_tune_epochs": options.fine_tune_epochs,
            "fine_tune_learning_rate": options.fine_tune_learning_rate,
            "promotion": "manual",
        }
    )
    return settings.model_copy(update={"training": training})


def _train(ctx: Context) -> str:
    outcome = train_model(ctx)
    if outcome.status is TrainStatus.FAILED or outcome.model_version is None:
        raise UsageError(
            f"training mode {ctx.settings.training.mode} did not give a model: {outcome.reason}"
        )
    return outcome.model_version


def _scores(
    ctx: Context, session: Session, model: Model, labels: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Human labels and the model's probabilities on a label file's cached studies."""
    net, config = load_model(ctx.paths.root / model.path, ctx.settings.training.device)
    cache = PixelCache(ctx.paths.cache, config.image_size)
    keys, rows = [], []
    for uid, row in read_image_labels(labels, list(config.findings)).items():
        study = study_by_uid(session, uid, ctx.pseudonymiser.uid)
        if study is not None and study.study_uid in cache:
            keys.append(study.study_uid)
            rows.append(row)
    if not keys:
        raise InvalidAnnotations(f"{labels}: none of its studies is in the corpus with a pair")
    training = ctx.settings.training
    probabilities = predict(
        net,
        cache,
        keys,
        batch_size=training.batch_size,
        device=training.device,
        channels=config.channels,
    )
    return np.stack(rows), probabilities


def _finding(
    y_train: np.ndarray, p_train: np.ndarray, y: np.ndarray, p: np.ndarray
) -> dict[str, Any]:
    """One finding of one model: AUC, Table 2 at 0.5, Table 3 at Youden's J on training."""
    keep = ~np.isnan(y_train)
    youden = youden_threshold(y_train[keep], p_train[keep])
    default, tuned = finding_metrics(y, p, 0.5), finding_metrics(y, p, youden)
    interval = auc_interval(y, p)

    def table(m: FindingMetrics) -> dict[str, Any]:
        figures = ("accuracy", "sensitivity", "specificity", "f1", "tp", "tn", "fp", "fn")
        return {"cutoff": m.threshold, **{name: getattr(m, name) for name in figures}}

    return {
        "n": default.n,
        "positives": default.positives,
        "auc": default.auc,
        "auc_interval": list(interval) if interval else None,
        "table2": table(default),
        "table3": table(tuned),
    }


def _table(result: ExperimentResult, which: str) -> str:
    """Table 2 or 3 of the paper: one row per finding, the figures of each mode."""
    title = {
        "table2": "Table 2: at the default cut-off (0.5)",
        "table3": "Table 3: at Youden's J cut-offs chosen on the human training set",
    }[which]
    modes = list(result.models)
    figures = ("accuracy", "sensitivity", "specificity", "f1")
    header = ["finding", "positives"]
    header += [f"{m} AUC (95% CI)" for m in modes]
    header += [f"{m} acc / sens / spec / F1" for m in modes]
    lines = [
        f"# {title}",
        "",
        f"{result.test_studies} human-labelled test studies (no mode trained on them); "
        f"cut-offs and fine-tuning on {result.train_studies} human-labelled training studies. "
        "Models: " + ", ".join(f"{m} = {v}" for m, v in result.models.items()) + ".",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for key in next(iter(result.metrics.values())):
        cells = [key, str(result.metrics[modes[0]][key]["positives"])]
        for mode in modes:
            m = result.metrics[mode][key]
            ci = m["auc_interval"]
            cells.append(format_number(m["auc"], 2) + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else ""))
        for mode in modes:
            t = result.metrics[mode][key][which]
            cells.append(" / ".join(format_number(t[f], 2) for f in figures))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _evaluate(
    settings: Settings, models: dict[str, str], train: Path, test: Path, folder: Path
) -> ExperimentResult:
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        for mode, version in models.items():
            row = session.scalars(select(Model).where(Model.version == version)).one()
            y_train, p_train = _scores(ctx, session, row, train)
            y, p = _scores(ctx, session, row, test)
            metrics[mode] = {
                key: _finding(y_train[:, j], p_train[:, j], y[:, j], p[:, j])
                for j, key in enumerate(row.findings)
            }
            curves[mode] = (y, p)
            findings = list(row.findings)
    result = ExperimentResult(folder, models, metrics, len(y), len(y_train))
    (folder / "table2.md").write_text(_table(result, "table2"), encoding="utf-8")
    (folder / "table3.md").write_text(_table(result, "table3"), encoding="utf-8")
    roc_figure(curves, findings, folder / "roc.png")
    summary = {
        "models": models,
        "test_studies": result.test_studies,
        "train_studies": result.train_studies,
        "metrics": metrics,
    }
    (folder / "results.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return result


def run_experiment(
    settings: Settings,
    options: ExperimentOptions,
    folder: Path,
    progress: ProgressReporter | None = None,
) -> ExperimentResult:
    """Run the experiment (see the module doc) into ``folder``.

    Raises
    ------
    UsageError
        The task has findings the simulator does not make, or a mode gave no model.
    """
    progress = progress or SilentProgress()
    run_demo(settings, options.demo, progress, train=False)
    train, test = _human_sets(options, folder / "annotations")
    models: dict[str, str] = {}
    for mode in MODES:
        configured = _mode_settings(settings, options, mode, train, test)
        with open_context(configured, progress) as ctx:
            models[mode] = _train(ctx)
        logger.info("%s: model %s", mode, models[mode])
    return _evaluate(settings, models, train, test, folder)
