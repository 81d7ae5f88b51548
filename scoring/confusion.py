"""Confusion counts and what is read from them; ROC AUC per finding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ["Confusion", "aucs_by_finding", "format_number", "roc_auc"]


@dataclass(frozen=True, slots=True)
class Confusion:
    """True/false positives and negatives of one finding; every rate is ``None`` when its
    denominator is 0 (an empty set, a class that never occurs)."""

    tp: int
    tn: int
    fp: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.tn + self.fp + self.fn

    @property
    def accuracy(self) -> float | None:
        return (self.tp + self.tn) / self.n if self.n else None

    @property
    def sensitivity(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def specificity(self) -> float | None:
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else None

    @property
    def f1(self) -> float | None:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else None

    @classmethod
    def of(cls, truth: np.ndarray, predicted: np.ndarray) -> Confusion:
        """The counts of boolean ``predicted`` against boolean ``truth``."""
        truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
        return cls(
            tp=int(np.sum(predicted & truth)),
            tn=int(np.sum(~predicted & ~truth)),
            fp=int(np.sum(predicted & ~truth)),
            fn=int(np.sum(~predicted & truth)),
        )

    def as_dict(self) -> dict[str, float | int | None]:
        """The counts and every rate (what a report or a JSON column stores)."""
        data: dict[str, float | int | None] = dict(asdict(self))
        data.update(
            n=self.n,
            accuracy=self.accuracy,
            sensitivity=self.sensitivity,
            specificity=self.specificity,
            f1=self.f1,
        )
        return data


def roc_auc(targets: np.ndarray, scores: np.ndarray) -> float | None:
    """The ROC AUC of ``scores`` against 0/1 ``targets``; NaN targets (not labelled) are
    left out; ``None`` unless both classes remain."""
    targets, scores = np.asarray(targets, dtype=float), np.asarray(scores, dtype=float)
    keep = ~np.isnan(targets)
    y = targets[keep].astype(int)
    if len(np.unique(y)) != 2:
        return None
    return float(roc_auc_score(y, scores[keep]))


def aucs_by_finding(
    targets: np.ndarray, probabilities: np.ndarray, findings: Sequence[str]
) -> dict[str, float | None]:
    """:func:`roc_auc` of each finding (column ``j`` of both arrays is ``findings[j]``)."""
    return {key: roc_auc(targets[:, j], probabilities[:, j]) for j, key in enumerate(findings)}


def format_number(value: float | None, digits: int = 3) -> str:
    """A figure as the tables print it: ``0.912``; ``—`` when undefined."""
    return "—" if value is None else f"{value:.{digits}f}"
