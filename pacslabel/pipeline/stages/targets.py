"""What a training learns from: the studies, their targets and their split.

Targets come from the configured labeller's labels, replaced by a human label where
there is one (an image label before a report label). Held-out studies are chosen by a
hash of their pseudonymous UID, so a study stays on its side of the split as the
corpus grows; the frozen human test set is never trained on or held out.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import FindingLabel, Study, StudyState
from db.queries import study_by_uid
from pacslabel.annotations import human_targets, read_image_labels
from pacslabel.context import Context
from pacslabel.pipeline.stages.cache import cache_study
from pacslabel.vocabulary import label_source
from trainer import PixelCache

__all__ = [
    "READY",
    "cached_at",
    "corpus_targets",
    "held_out_side",
    "human_image_targets",
    "split_held_out",
    "test_studies",
    "without",
]

_TARGET = {"ignore": np.nan, "zero": 0.0, "one": 1.0}
READY = (StudyState.CACHED, StudyState.PREDICTED, StudyState.REPORTED)
"""The states of studies a training may use (their pair is cached)."""


def corpus_targets(ctx: Context, session: Session) -> tuple[list[str], np.ndarray]:
    """The cached studies and their training targets (rows: studies, columns: findings):
    the configured labeller's, replaced by a human label where there is one (an image
    label before a report label)."""
    findings = ctx.task.finding_keys
    settings = ctx.settings.training
    mapping = {
        "positive": 1.0,
        "negative": 0.0,
        "uncertain": _TARGET[settings.uncertain_as],
        "not_mentioned": _TARGET[settings.not_mentioned_as],
    }
    rows = session.execute(
        select(Study.study_uid, FindingLabel.finding, FindingLabel.state)
        .join(FindingLabel, FindingLabel.study_id == Study.id)
        .where(
            Study.state.in_(READY),
            FindingLabel.source == label_source(ctx.labeller),
            FindingLabel.source_version == ctx.labeller.version,
        )
    ).all()
    table: dict[str, dict[str, float]] = {}
    for uid, finding, state in rows:
        table.setdefault(uid, {})[finding] = mapping[str(state.value)]
    for (uid, finding), value in human_targets(session, list(table), mapping).items():
        table[uid][finding] = value  # an annotator's label before the labeller's
    keys = sorted(table)
    targets = np.array(
        [[table[k].get(f, np.nan) for f in findings] for k in keys], dtype=np.float32
    ).reshape(len(keys), len(findings))
    return keys, targets


def _bucket(uid: str) -> int:
    return int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16) % 10_000


def held_out_side(keys: list[str], fraction: float) -> np.ndarray:
    """Which studies are held out: those whose UID hashes below ``fraction``, so a study
    keeps its side as the corpus grows; a small corpus that draws none holds out the
    lowest hashes instead (at least one study)."""
    buckets = np.array([_bucket(k) for k in keys])
    held = buckets < fraction * 10_000
    if not held.any() and len(keys) > 1:
        wanted = max(1, round(fraction * len(keys)))
        held = np.zeros(len(keys), dtype=bool)
        held[np.argsort(buckets)[:wanted]] = True
    return held


def cached_at(
    ctx: Context, session: Session, keys: list[str], targets: np.ndarray, size: int
) -> tuple[list[str], np.ndarray]:
    """The studies whose pair is in the cache at ``size``, caching those that are not yet
    (the image size may have changed since they were cached); a pair that cannot be
    decoded quarantines its study, which leaves the training set."""
    cache = PixelCache(ctx.paths.cache, size)
    missing = [key for key in keys if key not in cache]
    if not missing:
        return keys, targets
    with ctx.progress.step(f"caching pixels at {size} px", len(missing)) as bar:
        for study in session.scalars(select(Study).where(Study.study_uid.in_(missing))):
            cache_study(ctx, session, study, cache)
            session.commit()
            bar.advance()
    keep = np.array([key in cache for key in keys], dtype=bool)
    return [k for k, kept in zip(keys, keep, strict=True) if kept], targets[keep]


def test_studies(ctx: Context, session: Session) -> set[str]:
    """The frozen human test set (never trained on), by pseudonymous UID: the studies of
    ``training.human_test_labels`` and those whose stored human labels are marked as
    the test set (``pacslabel labels import --test-set``)."""
    stored = set(
        session.scalars(
            select(Study.study_uid)
            .join(FindingLabel, FindingLabel.study_id == Study.id)
            .where(FindingLabel.test_set.is_(True))
        )
    )
    path = ctx.settings.training.human_test_labels
    if path is None:
        return stored
    labelled = read_image_labels(path, ctx.task.finding_keys)
    found = (study_by_uid(session, uid, ctx.pseudonymiser.uid) for uid in labelled)
    return stored | {study.study_uid for study in found if study is not None}


def without(keys: list[str], targets: np.ndarray, out: set[str]) -> tuple[list[str], np.ndarray]:
    keep = np.array([k not in out for k in keys], dtype=bool)
    return [k for k, kept in zip(keys, keep, strict=True) if kept], targets[keep]


def human_image_targets(ctx: Context, session: Session, size: int) -> tuple[list[str], np.ndarray]:
    """The human image labels of ``training.human_image_labels`` whose studies are in the
    corpus (and not in the test set), by pseudonymous UID, cached at ``size``."""
    path = ctx.settings.training.human_image_labels
    assert path is not None  # the settings require it for the modes that come here
    test = test_studies(ctx, session)
    keys, rows = [], []
    for uid, row in read_image_labels(path, ctx.task.finding_keys).items():
        study = study_by_uid(session, uid, ctx.pseudonymiser.uid)
        if study is not None and study.state in READY and study.study_uid not in test:
            keys.append(study.study_uid)
            rows.append(row)
    targets = np.array(rows, dtype=np.float32).reshape(len(keys), len(ctx.task.finding_keys))
    return cached_at(ctx, session, keys, targets, size)


def split_held_out(keys: list[str], targets: np.ndarray, fraction: float) -> tuple[Any, ...]:
    held = held_out_side(keys, fraction)
    train = [k for k, h in zip(keys, held, strict=True) if not h]
    return train, targets[~held], [k for k, h in zip(keys, held, strict=True) if h], targets[held]
