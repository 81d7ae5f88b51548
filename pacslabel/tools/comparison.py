"""Two image models on the same studies (``pacslabel model compare A B``).

Held-out figures stored with each model are not comparable: the held-out split
grows with the corpus. Every model's folder keeps its split and targets
(``targets.csv``); two models are compared on the studies both held out — which
neither trained on — scored against the newer model's targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, ModelMode
from pacslabel.context import Context
from pacslabel.errors import NotReady, UsageError
from scoring import aucs_by_finding, format_number
from trainer import PixelCache, load_model, predict
from trainer.runs import read_targets

__all__ = ["Comparison", "compare_models"]


@dataclass(frozen=True)
class Comparison:
    first: str
    second: str
    studies: int
    aucs: dict[str, tuple[float | None, float | None]]
    """Finding → (first model's AUC, second model's AUC) on the common held-out studies."""

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


def _row(session: Session, ctx: Context, version: str) -> Model:
    row = session.scalar(select(Model).where(Model.version == version))
    if row is None or row.mode == ModelMode.NLP or row.task != ctx.task.name:
        raise UsageError(f"{version!r} is not an image model of task {ctx.task.name}")
    return row


def _held_out(ctx: Context, row: Model) -> dict[str, np.ndarray]:
    path = (ctx.paths.root / row.path).parent / "targets.csv"
    if not path.is_file():
        raise NotReady(f"model {row.version} has no targets.csv (trained before splits were kept)")
    _, splits = read_targets(path)
    keys, targets = splits["held_out"]
    return dict(zip(keys, targets, strict=True))


def compare_models(ctx: Context, first: str, second: str) -> Comparison:
    """AUC per finding of both models on the studies both held out.

    Raises
    ------
    UsageError
        A version is not an image model of the task.
    NotReady
        A model has no stored split, or the two share no held-out study.
    """
    with Session(ctx.engine) as session:
        rows = [_row(session, ctx, first), _row(session, ctx, second)]
    splits = [_held_out(ctx, row) for row in rows]
    keys = [k for k in splits[1] if k in splits[0]]
    if not keys:
        raise NotReady(f"{first} and {second} share no held-out study")
    targets = np.stack([splits[1][k] for k in keys])
    findings = list(rows[1].findings)
    scores = []
    for row in rows:
        model, config = load_model(ctx.paths.root / row.path, ctx.settings.training.device)
        cache = PixelCache(ctx.paths.cache, config.image_size)
        present = [k for k in keys if k in cache]
        if len(present) < len(keys):
            raise NotReady(
                f"{len(keys) - len(present)} common studies are not cached at "
                f"{config.image_size} px: run a pass first"
            )
        probabilities = predict(
            model, cache, keys, device=ctx.settings.training.device, channels=config.channels
        )
        scores.append(aucs_by_finding(targets, probabilities, findings))
    aucs = {key: (scores[0].get(key), scores[1].get(key)) for key in findings}
    return Comparison(first, second, len(keys), aucs)
