"""Caching: each labelled study's de-identified AP + lateral pair, decoded and resized,
into the pixel cache the trainer and inference read."""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy.orm import Session

from db import Image, Study, StudyState
from db.queries import quarantine, set_state, studies_in
from pacsbridge import InvalidInstance, check_pixels, display_pixels, read_instance
from pacslabel.context import Context
from pacslabel.pipeline.stages.guard import isolated
from trainer import PixelCache

__all__ = ["cache_all", "cache_study"]

logger = logging.getLogger(__name__)


def _pixels(ctx: Context, image: Image) -> np.ndarray:
    limits = ctx.settings.limits.limits()
    try:
        ds = read_instance(ctx.paths.root / image.path, limits)
    except FileNotFoundError:
        raise InvalidInstance(image.sop_uid, f"{image.path} is missing") from None
    check_pixels(ds, limits, image.sop_uid)
    return display_pixels(ds, image.sop_uid)


def cache_study(ctx: Context, session: Session, study: Study, cache: PixelCache) -> bool:
    """Put ``study``'s pair in ``cache`` unless it is there; returns whether it is there now.
    A pair that cannot be decoded quarantines the study, with the reason."""
    if study.study_uid in cache:
        return True
    paired = {image.view_role: image for image in study.images if image.is_paired}
    try:
        cache.put(study.study_uid, _pixels(ctx, paired["ap"]), _pixels(ctx, paired["lateral"]))
    except InvalidInstance as exc:
        quarantine(session, study, "cache", str(exc))
        return False
    except KeyError as exc:
        quarantine(session, study, "cache", f"no paired {exc.args[0]} image")
        return False
    return True


def cache_all(ctx: Context) -> int:
    """Decode each labelled study's pair into the pixel cache; returns how many."""
    cache = PixelCache(ctx.paths.cache, ctx.settings.training.image_size)
    done = 0
    with Session(ctx.engine) as session:
        studies = studies_in(session, StudyState.LABELLED)
        with ctx.progress.step("caching pixels", len(studies)) as bar:
            for study in studies:
                with isolated(session, study, "cache"):
                    if cache_study(ctx, session, study, cache):
                        set_state(study, StudyState.CACHED)
                        done += 1
                    session.commit()
                bar.advance()
    return done
