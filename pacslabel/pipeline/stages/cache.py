"""Caching: each labelled study's de-identified images screened for burned-in text, then
its AP + lateral pair, decoded and resized, into the pixel cache the trainer and
inference read.

The screen runs here because this is where the pixels are decoded anyway, and a study
reaches the research side (the research views, the workbench, exports, training) only
once cached: a de-identified file whose pixels have not been screened is seen by no
research-side reader. Every image of the study is screened (:func:`pacsbridge.screen_image`)
except those that said they carry burned-in annotation (BurnedInAnnotation YES), which
de-identification has already quarantined or masked. An image with identifying text:

- ``deid.burned_in = "quarantine"``: the study is quarantined with the kind of identifier
  and the region (never the text) and its de-identified files move to the quarantine
  folder (the clinical side);
- ``"mask"``: the boxes of that text, padded, are blanked in the de-identified file (the
  Clean Pixel Data Option recorded) and in what is cached, and the study goes on.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from pydicom.dataset import Dataset
from sqlalchemy.orm import Session

from db import Image, Study, StudyState
from db.queries import audit, quarantine, set_state, studies_in
from pacsbridge import (
    DecodedPixels,
    InvalidInstance,
    Screening,
    blank_pixel_boxes,
    check_pixels,
    decode_pixels,
    read_instance,
    record_clean_pixel_data,
    screen_image,
)
from pacsbridge.files import WRITING_SUFFIX, write_atomically
from pacslabel.context import Context
from pacslabel.errors import LinkageError
from pacslabel.pipeline.stages.guard import isolated
from trainer import PixelCache

__all__ = ["BURNED_IN_STAGE", "MASKED_ACTION", "cache_all", "cache_study"]

logger = logging.getLogger(__name__)

#: The stage named in quarantine rows and audit events of the burned-in text screen.
BURNED_IN_STAGE = "burned-in text"
#: The audit action of a study whose burned-in text was blanked.
MASKED_ACTION = "burned-in text masked"
#: Masked boxes grow by this share of their height each side.
MASK_PAD = 0.35


@dataclass
class _Decoded:
    image: Image
    ds: Dataset
    pixels: DecodedPixels


def _decoded(ctx: Context, image: Image) -> _Decoded:
    limits = ctx.settings.limits.limits()
    try:
        ds = read_instance(ctx.paths.root / image.path, limits)
    except FileNotFoundError:
        raise InvalidInstance(image.sop_uid, f"{image.path} is missing") from None
    check_pixels(ds, limits, image.sop_uid)
    return _Decoded(image, ds, decode_pixels(ds, image.sop_uid))


def _screen(ctx: Context, session: Session, decoded: _Decoded) -> Screening | None:
    """The burned-in text screen of one image; ``None``: the image said it carries burned-in
    annotation (de-identification dealt with it)."""
    if str(decoded.ds.get("BurnedInAnnotation", "")).upper() == "YES":
        return None
    try:
        known = ctx.vault.get(session, decoded.image.sop_uid).described()
    except LinkageError as exc:  # then only the shapes of identifiers are looked for
        logger.warning(
            "screening %s without its header's identifiers: %s", decoded.image.sop_uid, exc
        )
        known = []
    return screen_image(decoded.pixels.full_range, known, ctx.text_reader, ctx.harmless_text)


def _mask(ctx: Context, decoded: _Decoded, screening: Screening) -> None:
    """Blank the identifying boxes in the de-identified file and the decoded pixels."""
    shape = screening.shape
    boxes = [box.padded(max(2, round(MASK_PAD * box.height)), shape) for box in screening.boxes]
    ds = decoded.ds
    blank_pixel_boxes(
        ds, [(b.top, b.left, b.bottom, b.right) for b in boxes], decoded.image.sop_uid
    )
    record_clean_pixel_data(ds, ctx.deid_options)
    path = ctx.paths.root / decoded.image.path
    write_atomically(path, lambda part: ds.save_as(part, enforce_file_format=True), WRITING_SUFFIX)
    decoded.pixels = decode_pixels(ds, decoded.image.sop_uid)


def _set_aside(ctx: Context, study: Study) -> None:
    """Move the study's de-identified images to the quarantine folder (clinical side)."""
    target = ctx.paths.quarantine / study.study_uid / "deidentified"
    target.mkdir(parents=True, exist_ok=True)
    for image in study.images:
        source = ctx.paths.root / image.path
        if source.exists():
            shutil.move(source, target / source.name)


def _set_aside_file(ctx: Context, session: Session, study: Study, image: Image, why: str) -> None:
    """An unpaired view that cannot be decoded (so not screened) leaves the research side."""
    source = ctx.paths.root / image.path
    target = ctx.paths.quarantine / study.study_uid / "deidentified" / source.name
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
    quarantine(session, study, "cache", f"{why} (not screened: set aside)", path=image.path)


def _screened(ctx: Context, session: Session, study: Study, images: list[_Decoded]) -> bool:
    """Screen each image; ``False``: the study was quarantined for identifying text."""
    for decoded in images:
        screening = _screen(ctx, session, decoded)
        if screening is None or not screening.identifying:
            continue
        what = f"{decoded.image.view_role or 'image'} {decoded.image.sop_uid}: {screening.reason()}"
        if ctx.settings.deid.burned_in == "mask":
            _mask(ctx, decoded, screening)
            audit(session, MASKED_ACTION, study.study_uid, reason=what)
            logger.warning("study %s: masked %s", study.study_uid, what)
            continue
        _set_aside(ctx, study)
        quarantine(session, study, BURNED_IN_STAGE, what)
        audit(session, "quarantined for burned-in text", study.study_uid, reason=what)
        return False
    return True


def cache_study(ctx: Context, session: Session, study: Study, cache: PixelCache) -> bool:
    """Screen ``study``'s images and put its pair in ``cache`` unless it is there; returns
    whether it is there now. A pair that cannot be decoded quarantines the study, with the
    reason; so does identifying burned-in text (unless masked).

    Raises
    ------
    OCRUnavailable
        Tesseract cannot be loaded: nothing can be screened (the study stays labelled).
    """
    if study.study_uid in cache:
        return True
    paired = {image.view_role: image for image in study.images if image.is_paired}
    try:
        missing = next(role for role in ("ap", "lateral") if role not in paired)
    except StopIteration:
        missing = None
    if missing is not None:
        quarantine(session, study, "cache", f"no paired {missing} image")
        return False
    try:
        decoded = [_decoded(ctx, paired["ap"]), _decoded(ctx, paired["lateral"])]
    except InvalidInstance as exc:
        quarantine(session, study, "cache", str(exc))
        return False
    for image in study.images:  # the other views are screened too, or set aside
        if image.is_paired:
            continue
        try:
            decoded.append(_decoded(ctx, image))
        except InvalidInstance as exc:
            _set_aside_file(ctx, session, study, image, str(exc))
    if not _screened(ctx, session, study, decoded):
        return False
    by_role = {d.image.view_role: d.pixels.display for d in decoded if d.image.is_paired}
    cache.put(study.study_uid, by_role["ap"], by_role["lateral"])
    return True


def cache_all(ctx: Context) -> int:
    """Screen and cache each labelled study; returns how many are cached now.

    Raises
    ------
    OCRUnavailable
        Tesseract cannot be loaded (said before any study is touched).
    """
    cache = PixelCache(ctx.paths.cache, ctx.settings.training.image_size)
    done = 0
    with Session(ctx.engine) as session:
        studies = studies_in(session, StudyState.LABELLED)
        if studies:
            ctx.text_reader.check()
        with ctx.progress.step("screening and caching pixels", len(studies)) as bar:
            for study in studies:
                with isolated(session, study, "cache"):
                    if cache_study(ctx, session, study, cache):
                        set_state(study, StudyState.CACHED)
                        done += 1
                    session.commit()
                bar.advance()
    return done
