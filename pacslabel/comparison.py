"""Two image models on the same studies: the one comparison the promotion gate and
``pacslabel model compare`` both make.

Held-out figures stored with each model are not comparable (the held-out split grows
with the corpus), so two models are always scored here on one set of studies
against one set of targets: the gate on the new model's held-out studies, ``model
compare`` on the studies both models held out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from db import Model
from pacslabel.context import Context
from pacslabel.errors import NotReady
from scoring import aucs_by_finding, format_number
from trainer import PixelCache, load_model, predict

__all__ = ["Comparison", "compare", "model_probabilities"]


@dataclass(frozen=True)
class Comparison:
    """AUC per finding of ``first`` and ``second`` on the same ``studies``."""

    first: str
    second: str
    studies: int
    aucs: dict[str, tuple[float | None, float | None]]
    """Finding → (first model's AUC, second model's AUC); ``None`` where undefined."""

    @property
    def both(self) -> dict[str, tuple[float, float]]:
        """The findings with an AUC for both models."""
        return {k: (a, b) for k, (a, b) in self.aucs.items() if a is not None and b is not None}

    @property
    def mean_auc(self) -> tuple[float | None, float | None]:
        """Both models' mean AUC over :attr:`both` (``None`` when it is empty)."""
        both = self.both
        if not both:
            return None, None
        return float(np.mean([a for a, _ in both.values()])), float(
            np.mean([b for _, b in both.values()])
        )

    def verdict(self, tolerance: float) -> tuple[bool, str]:
        """Whether ``second`` (a new model) may replace ``first`` (the current one): its
        mean AUC is not lower and no finding's AUC is lower by more than ``tolerance``;
        and why, in words."""
        old, new = self.mean_auc
        where = f"on the same {self.studies} held-out studies as {self.first}"
        if new is None or old is None:
            return True, f"no finding has both classes {where}: nothing to lose"
        if new < old:
            return False, f"mean AUC {new:.3f} < {old:.3f} of the current model {where}"
        lost = {k: a - b for k, (a, b) in self.both.items() if a - b > tolerance}
        if lost:
            worst = max(lost, key=lambda key: lost[key])
            return False, (
                f"{worst} AUC {lost[worst]:.3f} lower than the current model's (tolerance "
                f"{tolerance}) {where}, mean {new:.3f} vs {old:.3f}"
            )
        return True, f"mean AUC {new:.3f} ≥ {old:.3f} of the current model {where}"

    def as_record(self) -> dict[str, Any]:
        """What the gate stores with the new model (``metrics.promotion``)."""
        old, new = self.mean_auc
        return {
            "against": self.first,
            "studies": self.studies,
            "findings": {k: {"new": b, "current": a} for k, (a, b) in self.both.items()},
            "mean_auc": {"new": new, "current": old},
        }

    def table(self) -> str:
        rows = [
            f"| {key} | {format_number(a)} | {format_number(b)} | {_delta(a, b)} |"
            for key, (a, b) in self.aucs.items()
        ]
        return (
            f"{self.studies} studies both models held out\n\n"
            f"| finding | {self.first} | {self.second} | difference |\n|---|---|---|---|\n"
            + "\n".join(rows)
        )


def _delta(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{b - a:+.3f}"


def compare(
    first: str,
    second: str,
    targets: np.ndarray,
    probabilities: tuple[np.ndarray, np.ndarray],
    findings: Sequence[str],
) -> Comparison:
    """The comparison of two models' ``probabilities`` (rows: the same studies, in the
    order of ``targets``)."""
    ours, theirs = (aucs_by_finding(targets, p, findings) for p in probabilities)
    aucs = {key: (ours[key], theirs[key]) for key in findings}
    return Comparison(first, second, len(targets), aucs)


def model_probabilities(ctx: Context, row: Model, keys: Sequence[str]) -> np.ndarray:
    """A registered model's probabilities for cached studies, from its own checkpoint at
    its own image size and channels.

    Raises
    ------
    NotReady
        Some of ``keys`` are not cached at the model's image size.
    """
    model, config = load_model(ctx.paths.root / row.path, ctx.settings.training.device)
    cache = PixelCache(ctx.paths.cache, config.image_size)
    missing = sum(key not in cache for key in keys)
    if missing:
        raise NotReady(
            f"{missing} studies are not cached at {config.image_size} px: run a pass first"
        )
    return predict(
        model,
        cache,
        list(keys),
        batch_size=ctx.settings.training.batch_size,
        device=ctx.settings.training.device,
        channels=config.channels,
    )
