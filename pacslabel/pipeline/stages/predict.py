"""Inference: the current image model on every cached study, one prediction per finding.

A prediction records the cut-off it was judged with (the model's threshold for
the finding); predicting a study again replaces the model's earlier values for
it rather than adding rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, Prediction, Study, StudyState
from db.queries import current_image_model, set_state, studies_in
from pacslabel.context import Context
from pacslabel.errors import UsageError
from pacslabel.pipeline.stages.cache import cache_study
from pacslabel.pipeline.stages.guard import each_isolated
from trainer import DeviceUnavailable, PixelCache, load_model, predict

__all__ = ["predict_all", "store_predictions"]

logger = logging.getLogger(__name__)


def store_predictions(
    session: Session, model: Model, findings: list[str], study: Study, probabilities: np.ndarray
) -> None:
    """Store (or replace) ``model``'s probabilities for ``study``, judged at its thresholds."""
    have = {
        p.finding: p
        for p in session.scalars(
            select(Prediction).where(
                Prediction.study_id == study.id, Prediction.model_id == model.id
            )
        )
    }
    for key, p in zip(findings, probabilities, strict=True):
        threshold = float(model.thresholds.get(key, 0.5))
        row = have.get(key) or Prediction(study_id=study.id, model_id=model.id, finding=key)
        row.probability, row.threshold, row.positive = float(p), threshold, bool(p >= threshold)
        if key not in have:
            session.add(row)


def predict_all(ctx: Context) -> int:
    """Run the current model on every cached study; returns how many were predicted."""
    with Session(ctx.engine) as session:
        model_row = current_image_model(session, ctx.task.name)
        studies = studies_in(session, StudyState.CACHED)
        if model_row is None or not studies:
            if studies:
                logger.info("%d studies wait for a first model", len(studies))
            return 0
        device = ctx.settings.training.device
        try:
            model, config = load_model(ctx.paths.root / model_row.path, device)
        except DeviceUnavailable as exc:
            raise UsageError(f"training.device = {device!r}: {exc}") from None
        cache = PixelCache(ctx.paths.cache, config.image_size)
        batch = ctx.settings.training.batch_size
        findings = list(config.findings)

        def step(chunk: Sequence[Study]) -> None:
            # the model's image size may not be the one the pairs were cached at
            ready = [s for s in chunk if cache_study(ctx, session, s, cache)]
            probabilities = predict(
                model,
                cache,
                [s.study_uid for s in ready],
                batch_size=batch,
                device=ctx.settings.training.device,
                channels=config.channels,
            )
            for study, row in zip(ready, probabilities, strict=True):
                store_predictions(session, model_row, findings, study, row)
                set_state(study, StudyState.PREDICTED)

        done = 0
        with ctx.progress.step(f"predicting with {model_row.version}", len(studies)) as bar:
            for start in range(0, len(studies), batch):
                chunk = studies[start : start + batch]
                done += each_isolated(session, chunk, "predict", step)
                bar.advance(len(chunk))
        return done
