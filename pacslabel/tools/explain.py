"""``pacslabel explain``: occlusion maps of the current image model for one study."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from db import Model
from db.queries import audit, current_image_model, study_by_uid
from pacslabel.context import Context
from pacslabel.errors import NotInCorpus, NotReady
from trainer import (
    PixelCache,
    default_patch,
    load_model,
    occlusion_maps,
    render_occlusion,
    resolve_device,
)

__all__ = ["Explanation", "explain_study"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain_study` wrote."""

    study_uid: str
    """The pseudonymous Study UID."""
    model_version: str
    path: Path
    probabilities: dict[str, float]


def _study_and_model(ctx: Context, study_uid: str) -> tuple[str, str, Model]:
    """The study's pseudonymous UID and state, and the current image model (detached)."""
    with Session(ctx.engine, expire_on_commit=False) as session:
        study = study_by_uid(session, study_uid, ctx.pseudonymiser.uid)
        if study is None:
            raise NotInCorpus(f"study {study_uid} is not in the corpus")
        model_row = current_image_model(session, ctx.task.name)
        if model_row is None:
            raise NotReady("no image model is trained yet: `pacslabel run` trains one")
        session.expunge(model_row)
        return study.study_uid, str(study.state), model_row


def explain_study(
    ctx: Context,
    study_uid: str,
    *,
    findings: Sequence[str] = (),
    out_dir: Path | None = None,
    patch: int | None = None,
) -> Explanation:
    """Occlusion maps of the current model for one study of the corpus, as a PNG.

    Parameters
    ----------
    study_uid
        The study's pseudonymous UID, or its original one (mapped with the
        pseudonym key).
    findings
        Which findings to draw (default: all of the model's).
    out_dir
        Where the PNG goes (default ``data_dir/reports/occlusion``).
    patch
        Patch side in pixels (default: the reference study's 80 px at 512 px, scaled).

    Raises
    ------
    NotInCorpus
        Unknown study, or a finding the model does not have.
    NotReady
        No image model yet, or the study's pair is not cached.
    CheckpointError
        The model's checkpoint cannot be loaded.
    """
    uid, state, model_row = _study_and_model(ctx, study_uid)
    version = model_row.version
    model, config = load_model(ctx.paths.root / model_row.path, ctx.settings.training.device)
    keys = list(findings) or list(config.findings)
    unknown = [key for key in keys if key not in config.findings]
    if unknown:
        raise NotInCorpus(
            f"model {version} has no finding {', '.join(unknown)}; "
            f"it has {', '.join(config.findings)}"
        )
    cache = PixelCache(ctx.paths.cache, config.image_size)
    if uid not in cache:
        raise NotReady(
            f"study {uid} has no cached pair at {config.image_size} px (state {state}): "
            "only studies with a paired AP and lateral view are cached"
        )
    pair = cache.get(uid)
    probabilities, maps = occlusion_maps(
        model,
        pair,
        patch=patch or default_patch(config.image_size),
        device=resolve_device(ctx.settings.training.device),
        channels=config.channels,
    )
    rows = [config.findings.index(key) for key in keys]
    path = render_occlusion(
        pair,
        probabilities[rows],
        {view: values[rows] for view, values in maps.items()},
        keys,
        (out_dir or ctx.paths.reports / "occlusion") / f"{uid}-{version}.png",
        title=f"{uid}\n{version}",
    )
    with Session(ctx.engine) as session:
        audit(session, "explain", uid, model=version, path=str(path))
        session.commit()
    logger.info("occlusion maps of %s by %s in %s", uid, version, path)
    probability = {key: float(probabilities[i]) for key, i in zip(keys, rows, strict=True)}
    return Explanation(uid, version, path, probability)
