"""Per-finding metrics: ROC AUC, Youden's J cut-off, and the confusion counts at a cut-off."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_curve

from scoring import Confusion, roc_auc

__all__ = [
    "FindingMetrics",
    "auc_interval",
    "finding_metrics",
    "stratified_auc",
    "youden_threshold",
]


@dataclass(frozen=True, slots=True)
class FindingMetrics(Confusion):
    """Table 2/3 of the reference study, for one finding: the confusion at ``threshold``,
    the positives and the ROC AUC (``None`` when undefined)."""

    positives: int = 0
    auc: float | None = None
    threshold: float = 0.5

    def as_dict(self) -> dict[str, float | int | None]:
        data = Confusion.as_dict(self)
        data.update(positives=self.positives, auc=self.auc, threshold=self.threshold)
        return data


def youden_threshold(targets: np.ndarray, scores: np.ndarray) -> float:
    """The cut-off maximising sensitivity + specificity − 1; 0.5 when only one class is present."""
    if len(np.unique(targets)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(targets, scores)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


def finding_metrics(targets: np.ndarray, scores: np.ndarray, threshold: float) -> FindingMetrics:
    """Metrics of one finding; NaN targets (ignored labels) are left out."""
    keep = ~np.isnan(targets)
    y = targets[keep].astype(int)
    counts = Confusion.of(y == 1, scores[keep] >= threshold)
    return FindingMetrics(
        counts.tp,
        counts.tn,
        counts.fp,
        counts.fn,
        positives=int(y.sum()),
        auc=roc_auc(targets, scores),
        threshold=float(threshold),
    )


def _concordance(positive: np.ndarray, negative: np.ndarray) -> float:
    """How many (positive, negative) pairs the scores order right, ties counting half."""
    ordered = np.sort(negative)
    below = np.searchsorted(ordered, positive, side="left")
    ties = np.searchsorted(ordered, positive, side="right") - below
    return float(below.sum() + 0.5 * ties.sum())


def _groups(
    targets: np.ndarray, scores: np.ndarray, strata: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(positive scores, negative scores) of each stratum holding both classes."""
    keep = ~np.isnan(targets)
    y, s = targets[keep].astype(int), scores[keep]
    labels = np.zeros(len(y), dtype=int) if strata is None else np.asarray(strata)[keep]
    groups = []
    for stratum in np.unique(labels):
        inside = labels == stratum
        positive, negative = s[inside & (y == 1)], s[inside & (y == 0)]
        if len(positive) and len(negative):
            groups.append((positive, negative))
    return groups or None


def _pooled_auc(groups: list[tuple[np.ndarray, np.ndarray]]) -> float:
    pairs = sum(len(p) * len(n) for p, n in groups)
    return sum(_concordance(p, n) for p, n in groups) / pairs


def stratified_auc(targets: np.ndarray, scores: np.ndarray, strata: np.ndarray) -> float | None:
    """The ROC AUC counting only pairs of a positive and a negative in the same stratum.

    With strata of a confounder (a finding that co-occurs with this one), a
    score that only tracks the confounder gets 0.5: what remains above it is
    what the score knows of the finding itself. One stratum gives the plain
    AUC. ``None`` when no stratum has both classes; NaN targets are left out.
    """
    groups = _groups(targets, scores, strata)
    return _pooled_auc(groups) if groups else None


def auc_interval(
    targets: np.ndarray,
    scores: np.ndarray,
    resamples: int = 2000,
    seed: int = 0,
    strata: np.ndarray | None = None,
) -> tuple[float, float] | None:
    """A 95% confidence interval of the ROC AUC: stratified bootstrap percentiles.

    Positives and negatives are resampled separately, so every resample has
    both classes. With ``strata`` it is the interval of :func:`stratified_auc`
    (each stratum's positives and negatives resampled on their own). ``None``
    when one class is missing; NaN targets are left out.
    """
    groups = _groups(targets, scores, strata)
    if groups is None:
        return None
    rng = np.random.default_rng(seed)
    aucs = np.empty(resamples)
    for i in range(resamples):
        aucs[i] = _pooled_auc([(rng.choice(p, len(p)), rng.choice(n, len(n))) for p, n in groups])
    low, high = np.percentile(aucs, [2.5, 97.5])
    return float(low), float(high)
