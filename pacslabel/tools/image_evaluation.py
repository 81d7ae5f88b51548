"""The current image model against human image labels: the reference study's Tables 2–3.

Two CSV files of human image-level labels (``study_instance_uid``, original or
pseudonymous, and one column per finding: ``1``, ``0`` or empty when not
annotated): a *tuning* set whose Youden's J cut-offs become the model's
thresholds (they decide the positive flags of the SRs), and a *test* set on
which AUC (with its 95% bootstrap interval), sensitivity and specificity at
those cut-offs are measured, ROC curves drawn, and the figures recorded with
the model.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, Split, Study, StudyState
from db.queries import (
    audit,
    current_image_model,
    record_model_metrics,
    rejudge_predictions,
    study_by_uid,
)
from pacslabel.annotations import read_image_labels, stored_image_labels
from pacslabel.context import Context
from pacslabel.errors import InvalidAnnotations, NotReady
from scoring import format_number
from trainer import (
    PixelCache,
    TrainConfig,
    auc_interval,
    finding_metrics,
    load_model,
    predict,
    youden_threshold,
)

__all__ = ["ImageEvaluation", "evaluate_image_model", "roc_figure"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageEvaluation:
    """What :func:`evaluate_image_model` measured and wrote."""

    model_version: str
    tuning_studies: int
    test_studies: int
    thresholds: dict[str, float]
    metrics: dict[str, dict[str, Any]]
    """Per finding: n, positives, auc, auc_low, auc_high, threshold, sensitivity, specificity."""
    table: Path
    roc: Path
    srs_to_resend: int = 0
    """Studies whose positive flags changed with the new cut-offs: the next pass sends
    their SR again (replacing the one in the PACS)."""


def _predicted(
    ctx: Context,
    session: Session,
    labels: dict[str, np.ndarray],
    model: Any,
    config: TrainConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Targets and the model's probabilities of the annotated studies that are cached."""
    cache = PixelCache(ctx.paths.cache, config.image_size)
    keys, targets, unknown = [], [], 0
    for uid, row in labels.items():
        study = study_by_uid(session, uid, ctx.pseudonymiser.uid)
        if study is None or study.study_uid not in cache:
            unknown += 1
            continue
        keys.append(study.study_uid)
        targets.append(row)
    if unknown:
        logger.warning("%d annotated studies are not in the corpus or not cached", unknown)
    if not keys:
        raise InvalidAnnotations("none of the annotated studies is in the corpus with a pair")
    probabilities = predict(
        model,
        cache,
        keys,
        batch_size=ctx.settings.training.batch_size,
        device=ctx.settings.training.device,
        channels=config.channels,
    )
    return np.stack(targets), probabilities


def _test_metrics(
    y: np.ndarray, p: np.ndarray, findings: Sequence[str], thresholds: dict[str, float]
) -> dict[str, dict[str, Any]]:
    metrics: dict[str, dict[str, Any]] = {}
    for j, key in enumerate(findings):
        m = finding_metrics(y[:, j], p[:, j], thresholds[key])
        interval = auc_interval(y[:, j], p[:, j])
        metrics[key] = {
            "n": m.n,
            "positives": m.positives,
            "auc": m.auc,
            "auc_low": interval[0] if interval else None,
            "auc_high": interval[1] if interval else None,
            "threshold": thresholds[key],
            "sensitivity": m.sensitivity,
            "specificity": m.specificity,
        }
    return metrics


def roc_figure(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], findings: Sequence[str], path: Path
) -> Path:
    """ROC curves, a panel per finding: ``curves`` maps a label (a model, a mode) to its
    targets and probabilities (rows: studies, columns: ``findings``); a legend names
    them when there are several."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state
    from sklearn.metrics import roc_curve

    columns = 4
    rows = -(-len(findings) // columns)
    figure = Figure(figsize=(3.2 * columns, 3.2 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for j, key in enumerate(findings):
        axis = axes[j // columns][j % columns]
        for label, (targets, probabilities) in curves.items():
            keep = ~np.isnan(targets[:, j])
            y, p = targets[keep, j], probabilities[keep, j]
            if len(np.unique(y)) == 2:
                fpr, tpr, _ = roc_curve(y, p)
                axis.plot(fpr, tpr, label=label)
        if len(curves) > 1 and axis.get_lines():
            axis.legend(fontsize=7, loc="lower right")
        axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
        axis.set_title(key, fontsize=9)
        axis.set_xlabel("1 − specificity", fontsize=8)
        axis.set_ylabel("sensitivity", fontsize=8)
    for j in range(len(findings), rows * columns):
        axes[j // columns][j % columns].set_axis_off()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def _test_labels(session: Session, test: Path | None, findings: list[str]) -> dict[str, np.ndarray]:
    """The test set: the file's labels, or the stored test-set image labels."""
    if test is not None:
        return read_image_labels(test, findings)
    labels = stored_image_labels(session, findings, test_set=True)
    if not labels:
        raise InvalidAnnotations(
            "no test-set image labels are stored: import them with `pacslabel labels "
            "import FILE --kind image --test-set`, or give --test FILE"
        )
    return labels


def evaluate_image_model(
    ctx: Context, test: Path | None, *, tuning: Path | None = None, out_dir: Path | None = None
) -> ImageEvaluation:
    """Score the current image model on human image labels; see the module doc.

    ``test`` ``None``: the stored test-set image labels (``pacslabel labels import
    --kind image --test-set``, or marked in the workbench).

    Without ``tuning`` the model keeps its thresholds (Youden's J on its
    held-out NLP-labelled studies).

    Raises
    ------
    InvalidAnnotations
        A label file cannot be used, or none of its studies is in the corpus.
    NotReady
        No image model is trained yet.
    """
    with Session(ctx.engine) as session:
        model_row = current_image_model(session, ctx.task.name)
        if model_row is None:
            raise NotReady("no image model is trained yet: `pacslabel run` trains one")
        model, config = load_model(ctx.paths.root / model_row.path, ctx.settings.training.device)
        findings = list(config.findings)
        thresholds = {k: float(model_row.thresholds.get(k, 0.5)) for k in findings}
        tuning_n = 0
        if tuning is not None:
            y, p = _predicted(ctx, session, read_image_labels(tuning, findings), model, config)
            tuning_n = len(y)
            for j, key in enumerate(findings):
                keep = ~np.isnan(y[:, j])
                thresholds[key] = youden_threshold(y[keep, j], p[keep, j])
        labels = _test_labels(session, test, findings)
        y, p = _predicted(ctx, session, labels, model, config)
        metrics = _test_metrics(y, p, findings, thresholds)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = out_dir or ctx.paths.reports / f"image-{model_row.version}-{stamp}"
        table = folder / "human_test.md"
        folder.mkdir(parents=True, exist_ok=True)
        table.write_text(_table(model_row.version, tuning_n, len(y), metrics), encoding="utf-8")
        roc = roc_figure({model_row.version: (y, p)}, findings, folder / "roc.png")
        model_row.metrics = {
            **(model_row.metrics or {}),
            "human_test": metrics,
            "human_test_studies": len(y),
        }
        record_model_metrics(session, model_row, Split.HUMAN_TEST, metrics)
        resend = 0
        if tuning is not None:
            model_row.thresholds = thresholds
            model_row.metrics = {
                **model_row.metrics,
                "thresholds_from": f"human tuning set of {tuning_n}",
            }
            resend = _rejudge(session, model_row)
        audit(
            session,
            "model.evaluate",
            None,
            model=model_row.version,
            tuning=tuning_n,
            test=len(y),
            srs_to_resend=resend,
        )
        session.commit()
        version = model_row.version
    return ImageEvaluation(version, tuning_n, len(y), thresholds, metrics, table, roc, resend)


def _rejudge(session: Session, model: Model) -> int:
    """Judge the model's stored predictions at its new thresholds; a study whose SR in the
    PACS now says something else goes back to be sent again. Returns how many."""
    changed = rejudge_predictions(session, model)
    studies = session.scalars(
        select(Study).where(Study.id.in_(changed), Study.state == StudyState.REPORTED)
    ).all()
    for study in studies:
        study.state = StudyState.PREDICTED
    return len(studies)


def _table(version: str, tuning: int, test: int, metrics: dict[str, dict[str, Any]]) -> str:
    source = (
        f"Youden's J on {tuning} human-labelled tuning studies" if tuning else "the model's own"
    )
    lines = [
        f"# {version} on {test} human-labelled test studies",
        "",
        f"Cut-offs: {source}.",
        "",
        "| finding | n | positives | AUC | 95% CI | cut-off | sensitivity | specificity |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, m in metrics.items():
        ci = (
            f"{format_number(m['auc_low'])}–{format_number(m['auc_high'])}"
            if m["auc_low"] is not None
            else "—"
        )
        lines.append(
            f"| {key} | {m['n']} | {m['positives']} | {format_number(m['auc'])} | {ci} | "
            f"{m['threshold']:.3f} | {format_number(m['sensitivity'])} | "
            f"{format_number(m['specificity'])} |"
        )
    return "\n".join(lines) + "\n"
