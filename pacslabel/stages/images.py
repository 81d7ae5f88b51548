"""The pixel cache and inference: de-identified pairs → cached arrays → predictions."""

from __future__ import annotations

import logging

import numpy as np
from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Image, Model, Prediction, StudyState
from pacsbridge import InvalidInstance, display_pixels
from pacslabel.context import Context
from pacslabel.stages.state import move_to, quarantine, studies_in
from trainer import PixelCache, load_model, predict

__all__ = ["cache_all", "current_model", "predict_all"]

logger = logging.getLogger(__name__)


def _pixels(ctx: Context, image: Image) -> np.ndarray:
    path = ctx.paths.root / image.path
    try:
        ds = dcmread(path)
    except (InvalidDicomError, OSError) as exc:
        raise InvalidInstance(image.sop_uid, f"cannot read {image.path}: {exc}") from None
    return display_pixels(ds, image.sop_uid)


def cache_all(ctx: Context) -> int:
    """Decode each labelled study's pair into the pixel cache; returns how many."""
    cache = PixelCache(ctx.paths.cache, ctx.settings.training.image_size)
    done = 0
    with Session(ctx.engine) as session:
        studies = studies_in(session, StudyState.LABELLED)
        with ctx.progress.step("caching pixels", len(studies)) as bar:
            for study in studies:
                paired = {image.view_role: image for image in study.images if image.is_paired}
                try:
                    if study.study_uid not in cache:
                        cache.put(
                            study.study_uid,
                            _pixels(ctx, paired["ap"]),
                            _pixels(ctx, paired["lateral"]),
                        )
                except InvalidInstance as exc:
                    quarantine(session, study, "cache", str(exc))
                except KeyError as exc:
                    quarantine(session, study, "cache", f"no paired {exc.args[0]} image")
                else:
                    move_to(study, StudyState.CACHED)
                    done += 1
                session.commit()
                bar.advance()
    return done


#: The registry mode of report labellers (image models: 1step, 2steps, step2only).
NLP_MODE = "nlp"


def current_model(session: Session, task: str) -> Model | None:
    """The newest image model of ``task`` in the registry (labellers are left out)."""
    return session.scalar(
        select(Model)
        .where(Model.task == task, Model.mode != NLP_MODE)
        .order_by(Model.id.desc())
        .limit(1)
    )


def predict_all(ctx: Context) -> int:
    """Run the current model on every cached study; returns how many were predicted."""
    with Session(ctx.engine) as session:
        model_row = current_model(session, ctx.task.name)
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
