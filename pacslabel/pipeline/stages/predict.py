"""Inference: the current image model on every cached study, one prediction per finding."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from db import Prediction, StudyState
from db.queries import current_image_model, move_to, studies_in
from pacslabel.context import Context
from trainer import PixelCache, load_model, predict

__all__ = ["predict_all"]

logger = logging.getLogger(__name__)


def predict_all(ctx: Context) -> int:
    """Run the current model on every cached study; returns how many were predicted."""
    with Session(ctx.engine) as session:
        model_row = current_image_model(session, ctx.task.name)
        studies = studies_in(session, StudyState.CACHED)
        if model_row is None or not studies:
            if studies:
                logger.info("%d studies wait for a first model", len(studies))
            return 0
        model, config = load_model(ctx.paths.root / model_row.path, ctx.settings.training.device)
        cache = PixelCache(ctx.paths.cache, config.image_size)
        missing = [s for s in studies if s.study_uid not in cache]
        for study in missing:
            study.state = StudyState.LABELLED  # re-cache at this model's image size
        studies = [s for s in studies if s.study_uid in cache]
        batch = ctx.settings.training.batch_size
        with ctx.progress.step(f"predicting with {model_row.version}", len(studies)) as bar:
            for start in range(0, len(studies), batch):
                chunk = studies[start : start + batch]
                probabilities = predict(
                    model,
                    cache,
                    [s.study_uid for s in chunk],
                    batch_size=batch,
                    device=ctx.settings.training.device,
                )
                for study, row in zip(chunk, probabilities, strict=True):
                    for key, p in zip(config.findings, row, strict=True):
                        threshold = float(model_row.thresholds.get(key, 0.5))
                        session.add(
                            Prediction(
                                study_id=study.id,
                                model_id=model_row.id,
                                finding=key,
                                probability=float(p),
                                positive=bool(p >= threshold),
                            )
                        )
                    move_to(study, StudyState.PREDICTED)
                session.commit()
                bar.advance(len(chunk))
        session.commit()
        return len(studies)
