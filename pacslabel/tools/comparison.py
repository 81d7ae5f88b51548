"""Two image models on the same studies (``pacslabel model compare A B``).

Held-out figures stored with each model are not comparable: the held-out split
grows with the corpus. Every model's folder keeps its split and targets
(``targets.csv``); two models are compared on the studies both held out — which
neither trained on — scored against the newer model's targets.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, ModelMode
from pacslabel.comparison import Comparison, compare, model_probabilities
from pacslabel.context import Context
from pacslabel.errors import NotReady, UsageError
from trainer.runs import read_targets

__all__ = ["Comparison", "compare_models"]


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
    """AUC per finding of both models on the studies both held out, against the second
    (newer) model's targets.

    Raises
    ------
    UsageError
        A version is not an image model of the task.
    NotReady
        A model has no stored split, the two share no held-out study, or those studies
        are not cached at a model's image size.
    """
    with Session(ctx.engine) as session:
        rows = [_row(session, ctx, first), _row(session, ctx, second)]
    splits = [_held_out(ctx, row) for row in rows]
    keys = [k for k in splits[1] if k in splits[0]]
    if not keys:
        raise NotReady(f"{first} and {second} share no held-out study")
    targets = np.stack([splits[1][k] for k in keys])
    ours, theirs = (model_probabilities(ctx, row, keys) for row in rows)
    return compare(first, second, targets, (ours, theirs), list(rows[1].findings))
