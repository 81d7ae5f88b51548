"""What the workbench shows, read from the research views (the same SQL on SQLite and
PostgreSQL): the annotation queue, one study, and the researchers' dashboard."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sklearn.metrics import roc_curve
from sqlalchemy import Engine, text

from scoring import roc_auc
from trainer import PixelCache

__all__ = [
    "Dashboard",
    "QueueItem",
    "StudyView",
    "dashboard",
    "pair_png",
    "queue",
    "study_view",
]

_DISAGREE = {(1, "negative"), (1, "not_mentioned"), (0, "positive")}


def _rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(sql), params)]


@dataclass(frozen=True)
class QueueItem:
    study_uid: str
    age_years: int | None
    sex: str | None
    margin: float
    """The smallest distance of a probability from its cut-off (1.0: no prediction)."""
    disagreements: int
    """Findings where the model's flag and the report's current label disagree."""


def queue(engine: Engine, username: str, order: str, limit: int = 100) -> list[QueueItem]:
    """The studies ``username`` has not labelled yet, most useful first: by ``order``
    ``uncertainty`` (the model closest to a cut-off) or ``disagreement`` (model vs
    report, most findings first)."""
    done = {
        row["study_uid"]
        for row in _rows(
            engine,
            "SELECT DISTINCT study_uid FROM research_label_provenance "
            "WHERE source = 'human' AND target = 'image' AND annotator = :user",
            user=username,
        )
    }
    margin: dict[str, float] = defaultdict(lambda: 1.0)
    disagree: dict[str, int] = defaultdict(int)
    predictions = _rows(
        engine,
        "SELECT p.study_uid, p.probability, p.threshold, p.positive, l.state "
        "FROM research_predictions p LEFT JOIN research_labels l "
        "ON l.study_uid = p.study_uid AND l.finding = p.finding",
    )
    for row in predictions:
        uid = row["study_uid"]
        threshold = row["threshold"] if row["threshold"] is not None else 0.5
        margin[uid] = min(margin[uid], abs(row["probability"] - threshold))
        disagree[uid] += (row["positive"], row["state"]) in _DISAGREE
    items = [
        QueueItem(
            s["study_uid"],
            s["age_years"],
            s["sex"],
            margin[s["study_uid"]],
            disagree[s["study_uid"]],
        )
        for s in _rows(engine, "SELECT study_uid, age_years, sex FROM research_studies")
        if s["study_uid"] not in done
    ]
    if order == "disagreement":
        items.sort(key=lambda i: (-i.disagreements, i.margin, i.study_uid))
    else:
        items.sort(key=lambda i: (i.margin, -i.disagreements, i.study_uid))
    return items[:limit]


@dataclass
class StudyView:
    study_uid: str
    age_years: int | None
    sex: str | None
    study_year: int | None
    report_text: str
    mine: dict[str, str]
    """finding → this annotator's image label."""
    hints: dict[str, list[str]] = field(default_factory=dict)
    """finding → the current labellers' labels and the model's probability, as text."""


def study_view(
    engine: Engine, uid: str, username: str, findings: Sequence[str]
) -> StudyView | None:
    """One study as the labelling page shows it, or ``None`` outside the corpus."""
    found = _rows(
        engine,
        "SELECT study_uid, age_years, sex, study_year, report_text FROM research_studies "
        "WHERE study_uid = :uid",
        uid=uid,
    )
    if not found:
        return None
    row = found[0]
    mine = {
        r["finding"]: r["state"]
        for r in _rows(
            engine,
            "SELECT finding, state FROM research_label_provenance WHERE study_uid = :uid "
            "AND source = 'human' AND target = 'image' AND annotator = :user",
            uid=uid,
            user=username,
        )
    }
    hints: dict[str, list[str]] = {key: [] for key in findings}
    labels = _rows(
        engine,
        "SELECT p.finding, p.source, p.state, p.probability FROM research_label_provenance p "
        "JOIN research_labellers v ON v.version = p.source_version AND v.is_current = 1 "
        "WHERE p.study_uid = :uid AND p.target = 'report' ORDER BY p.source DESC",
        uid=uid,
    )
    for label in labels:
        said = label["state"].replace("_", " ")
        hints.setdefault(label["finding"], []).append(f"{label['source']}: {said}")
    for p in _rows(engine, "SELECT * FROM research_predictions WHERE study_uid = :uid", uid=uid):
        flag = "≥" if p["positive"] else "<"
        cut = p["threshold"] if p["threshold"] is not None else 0.5
        hints.setdefault(p["finding"], []).append(f"model: {p['probability']:.3f} {flag} {cut:.3f}")
    return StudyView(
        row["study_uid"],
        row["age_years"],
        row["sex"],
        row["study_year"],
        row["report_text"] or "",
        mine,
        hints,
    )


def pair_png(root: Path, uid: str, view: str) -> bytes | None:
    """One view of the pair as PNG, from the largest size the pixel cache under ``root``
    holds it at (``None`` when not cached at any)."""
    sizes = sorted((int(p.name) for p in root.glob("[0-9]*") if p.name.isdigit()), reverse=True)
    cache = next((PixelCache(root, s) for s in sizes if uid in PixelCache(root, s)), None)
    if cache is None:
        return None
    pixels = cache.get(uid)[0 if view == "ap" else 1]
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Dashboard:
    prevalence: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    human: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    roc: dict[str, tuple[list[float], list[float], float]]
    """finding → (false positive rates, true positive rates, AUC) of the current model on
    its held-out studies against the current report labels."""
    model: str | None


def _roc(engine: Engine) -> dict[str, tuple[list[float], list[float], float]]:
    rows = _rows(
        engine,
        "SELECT p.finding, p.probability, l.state FROM research_predictions p "
        "JOIN research_labels l ON l.study_uid = p.study_uid AND l.finding = p.finding "
        "WHERE p.split = 'held_out' AND l.state <> 'uncertain'",
    )
    by: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for row in rows:
        by[row["finding"]][0].append(1 if row["state"] == "positive" else 0)
        by[row["finding"]][1].append(float(row["probability"]))
    out = {}
    for finding, (y, p) in sorted(by.items()):
        auc = roc_auc(np.array(y, dtype=float), np.array(p))
        if auc is not None:  # both classes among the held-out studies
            fpr, tpr, _ = roc_curve(y, p)
            out[finding] = ([float(v) for v in fpr], [float(v) for v in tpr], auc)
    return out


def dashboard(engine: Engine) -> Dashboard:
    prevalence = _rows(
        engine,
        "SELECT finding, count(*) AS studies, "
        "sum(CASE WHEN state = 'positive' THEN 1 ELSE 0 END) AS positive "
        "FROM research_labels GROUP BY finding ORDER BY finding",
    )
    sources = _rows(
        engine,
        "SELECT source, source_version, count(*) AS labels FROM research_labels "
        "GROUP BY source, source_version ORDER BY source, source_version",
    )
    human = _rows(
        engine,
        "SELECT target, annotator, count(*) AS labels, sum(test_set) AS test_set "
        "FROM research_label_provenance WHERE source = 'human' "
        "GROUP BY target, annotator ORDER BY target, annotator",
    )
    metrics = _rows(
        engine,
        "SELECT model_version, status, evaluation, finding, n, positives, auc "
        "FROM research_model_metrics ORDER BY created_at DESC, evaluation, finding",
    )
    current = [m["model_version"] for m in metrics if m["status"] == "current"]
    return Dashboard(
        prevalence, sources, human, metrics, _roc(engine), current[0] if current else None
    )
