"""Training: the labelled, cached corpus → a ResNet-18 in the model registry.

A model is trained only when the corpus or the configuration changed since
the newest model (the *manifest* — studies, their targets, the labeller and
task versions — hashes differently); otherwise the stage does nothing, so a
nightly run over an unchanged corpus costs nothing. What it learns from — the
targets, the held-out split, the human test set — is
:mod:`~pacslabel.pipeline.stages.targets`.

A new model predicts only once it is *current*. The promotion gate
(``training.promotion = "gate"``) scores the current model on the new model's
held-out studies and promotes the new one only if its mean AUC there is not
lower and no finding's AUC is lower by more than ``training.promotion_tolerance``;
otherwise it stays a candidate with the comparison as its reason
(``pacslabel model list | promote | rollback``); the comparison is the one
``pacslabel model compare`` makes (:mod:`pacslabel.comparison`).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import (
    Model,
    ModelMode,
    RunStatus,
    Split,
    Study,
    TrainingRun,
    utcnow,
)
from db.queries import (
    audit,
    current_image_model,
    image_model_by_manifest,
    promote_model,
    record_model_metrics,
    record_model_studies,
)
from pacslabel.comparison import Comparison, compare, model_probabilities
from pacslabel.context import Context
from pacslabel.errors import UsageError
from pacslabel.pipeline.stages.targets import (
    cached_at,
    corpus_targets,
    human_image_targets,
    split_held_out,
    test_studies,
    without,
)
from pacslabel.registry import code_version
from trainer import (
    DeviceUnavailable,
    PixelCache,
    TrainConfig,
    TrainerError,
    TrainResult,
    finding_metrics,
    fit,
    resolve_device,
    youden_threshold,
)
from trainer.runs import training_command, write_targets

__all__ = ["TrainOutcome", "TrainStatus", "corpus_targets", "train_model"]

logger = logging.getLogger(__name__)


class TrainStatus(enum.StrEnum):
    """What the training stage did in one pass."""

    TRAINED = "trained"
    SKIPPED = "skipped"
    FAILED = "failed"
    BUSY = "busy"
    """Another process is training on this data folder."""


@dataclass(frozen=True)
class TrainOutcome:
    status: TrainStatus
    reason: str = ""
    model_version: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def _manifest(
    keys: list[str], targets: np.ndarray, config: TrainConfig, ctx: Context, mode: str = "1step"
) -> str:
    content = {
        **({"mode": mode} if mode != "1step" else {}),
        "studies": keys,
        "targets": [[None if np.isnan(v) else float(v) for v in row] for row in targets],
        "labeller": ctx.labeller.version,
        "task": ctx.task.digest,
        "config": config.as_dict(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _config(ctx: Context) -> TrainConfig:
    settings = ctx.settings.training
    weights = settings.pretrained_weights
    return TrainConfig(
        findings=tuple(ctx.task.finding_keys),
        image_size=settings.image_size,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        momentum=settings.momentum,
        weight_decay=settings.weight_decay,
        seed=settings.seed,
        augment=settings.augment,
        lr_schedule=settings.lr_schedule,
        device=settings.device,
        pretrained_weights=str(weights) if weights else None,
        channels=ctx.task.channels(),
        precision=settings.precision,
        compile=settings.compile,
        scale_learning_rate=settings.scale_learning_rate,
        workers=settings.workers,
    )


def _held_out_metrics(
    config: TrainConfig, targets: np.ndarray, probabilities: np.ndarray
) -> tuple[dict[str, Any], dict[str, float]]:
    """Per-finding metrics on the held-out studies, at Youden's J cut-offs chosen on them."""
    per_finding, thresholds = {}, {}
    for j, key in enumerate(config.findings):
        known = ~np.isnan(targets[:, j])
        threshold = youden_threshold(targets[known, j], probabilities[known, j])
        thresholds[key] = threshold
        per_finding[key] = finding_metrics(targets[:, j], probabilities[:, j], threshold).as_dict()
    return per_finding, thresholds


def _fit(ctx: Context, plan: _Plan, version: str) -> TrainResult:
    """Fit the plan's phases in order; each writes its targets and checkpoint beside the
    model (``step1/model.pt`` before the last phase's ``model.pt``)."""
    folder = ctx.paths.models / version
    result: TrainResult | None = None
    for number, (config, keys, targets) in enumerate(plan.phases, start=1):
        last = number == len(plan.phases)
        name = "" if last else f"-step{number}"
        write_targets(
            folder / f"targets{name}.csv",
            config.findings,
            (keys, targets),
            (plan.held_keys, plan.held_targets),
        )
        with ctx.progress.step(f"training {version}{name}", config.epochs) as bar:

            def on_batch(step: int, total: int, loss: float) -> None:
                if step == total:
                    bar.advance()

            result = fit(
                config,
                PixelCache(ctx.paths.cache, config.image_size),
                keys,
                targets,
                plan.held_keys,
                folder / ("model.pt" if last else f"step{number}/model.pt"),
                manifest_hash=plan.manifest,
                code_version=code_version(),
                progress=on_batch,
            )
    assert result is not None  # a plan has at least one phase
    return result


def _failed(session: Session, run: TrainingRun, error: str) -> None:
    session.rollback()  # whatever the failure left half-done; the run row is committed
    run.status, run.error, run.finished_at = RunStatus.FAILED, error, utcnow()
    audit(session, "train.failed", reason=error)
    session.commit()


def _register(ctx: Context, run: TrainingRun, plan: _Plan, result: TrainResult) -> Model:
    """The registry row of the trained model, with its held-out metrics and cut-offs
    (a candidate until the gate says otherwise) and the commands that train it again."""
    config = plan.phases[-1][0]
    per_finding, thresholds = _held_out_metrics(
        config, plan.held_targets, result.held_out_probabilities
    )
    metrics = {
        "held_out": per_finding,
        "final_loss": result.final_loss,
        "evaluated_against": plan.scored_against,
    }
    folder = result.checkpoint.parent.resolve()  # the commands work from any folder
    commands = [
        training_command(
            phase,
            ctx.paths.cache.resolve(),
            folder / ("targets.csv" if n == len(plan.phases) else f"targets-step{n}.csv"),
            folder / (f"step{n}" if n < len(plan.phases) else ""),
        )
        for n, (phase, _, _) in enumerate(plan.phases, start=1)
    ]
    return Model(
        version=folder.name,
        architecture="resnet18",
        mode=plan.mode,
        task=ctx.task.name,
        findings=list(config.findings),
        path=str(result.checkpoint.relative_to(ctx.paths.root)),
        # the same training without the daemon (the targets are beside the model)
        config={**config.as_dict(), "commands": commands},
        manifest_hash=run.manifest_hash,
        code_version=code_version(),
        metrics=metrics,
        thresholds=thresholds,
        training_run_id=run.id,
    )


def _record_splits(ctx: Context, session: Session, row: Model, plan: _Plan) -> None:
    """Which split each study was in for ``row`` (the human test set included), and its
    held-out figures as rows."""
    sides = [(Split.HUMAN_TEST, test_studies(ctx, session)), (Split.HELD_OUT, plan.held_keys)]
    sides.append((Split.TRAIN, [key for _, keys, _ in plan.phases for key in keys]))
    splits: dict[str, Split] = {}
    for split, keys in sides:
        for key in keys:
            splits.setdefault(key, split)
    found = session.execute(select(Study.study_uid, Study.id).where(Study.study_uid.in_(splits)))
    ids = {uid: study_id for uid, study_id in found}
    record_model_studies(session, row, {ids[k]: s for k, s in splits.items() if k in ids})
    record_model_metrics(session, row, Split.HELD_OUT, row.metrics["held_out"])


def _close(session: Session, run: TrainingRun, result: TrainResult, row: Model) -> None:
    run.status, run.finished_at = RunStatus.SUCCEEDED, utcnow()
    run.epochs_done, run.metrics = result.epochs_done, row.metrics
    audit(
        session,
        "train.succeeded",
        model=row.version,
        n_train=run.n_train,
        n_held_out=run.n_held_out,
    )


def _comparison(
    ctx: Context,
    session: Session,
    current: Model,
    new: Model,
    held: tuple[list[str], np.ndarray, np.ndarray],
) -> Comparison:
    """Both models on the new model's held-out studies (those the current model's image
    size can be cached at)."""
    keys, targets, probabilities = held
    size = int(current.config.get("image_size", ctx.settings.training.image_size))
    kept, kept_targets = cached_at(ctx, session, keys, targets, size)
    theirs = model_probabilities(ctx, current, kept)
    ours = probabilities[[keys.index(k) for k in kept]]
    return compare(current.version, new.version, kept_targets, (theirs, ours), list(new.findings))


def _gate(
    ctx: Context, session: Session, row: Model, held: tuple[list[str], np.ndarray, np.ndarray]
) -> None:
    """Promote the newly registered ``row`` or leave it a candidate, with the reason."""
    settings = ctx.settings.training
    current = current_image_model(session, ctx.task.name)
    if current is None:
        promote_model(session, row, "the task's first image model")
        return
    if list(current.findings) != list(row.findings):
        promote_model(session, row, f"{current.version} was trained for other findings")
        return
    if settings.promotion == "manual":
        row.status_reason = 'promotion is manual (training.promotion = "manual")'
        return
    if settings.promotion == "always":
        promote_model(session, row, 'every new model is promoted (training.promotion = "always")')
        return
    comparison = _comparison(ctx, session, current, row, held)
    row.metrics = {**row.metrics, "promotion": comparison.as_record()}
    promoted, reason = comparison.verdict(settings.promotion_tolerance)
    if promoted:
        promote_model(session, row, reason)
    else:
        row.status_reason = reason
        audit(session, "model.candidate", model=row.version, reason=reason)
        logger.warning("model %s stays a candidate: %s", row.version, reason)


@dataclass(frozen=True)
class _Plan:
    """What one training run fits, in order (a later phase starts from the one before),
    and what scores it."""

    mode: ModelMode
    phases: list[tuple[TrainConfig, list[str], np.ndarray]]
    held_keys: list[str]
    held_targets: np.ndarray
    manifest: str
    scored_against: str


def _warm(ctx: Context, session: Session, config: TrainConfig) -> TrainConfig:
    """``config`` starting from the current model when ``training.warm_start`` asks and the
    current model has the same findings and image size."""
    current = current_image_model(session, ctx.task.name)
    if (
        not ctx.settings.training.warm_start
        or current is None
        or list(current.findings) != list(config.findings)
        or current.config.get("image_size") != config.image_size
    ):
        return config
    checkpoint = (ctx.paths.root / current.path).resolve()
    return dataclasses.replace(config, init_checkpoint=str(checkpoint))


def _plan(ctx: Context, session: Session, config: TrainConfig) -> _Plan:
    """The run the settings ask for (``training.mode``) on today's corpus."""
    settings = ctx.settings.training
    config = _warm(ctx, session, config)
    keys, targets = without(*corpus_targets(ctx, session), test_studies(ctx, session))
    keys, targets = cached_at(ctx, session, keys, targets, config.image_size)
    if settings.mode == "1step":
        train, train_y, held, held_y = split_held_out(keys, targets, settings.held_out_fraction)
        manifest = _manifest(keys, targets, config, ctx)
        against = f"report labels ({ctx.labeller.version})"
        return _Plan(ModelMode.ONE_STEP, [(config, train, train_y)], held, held_y, manifest,
                     against)  # fmt: skip
    human, human_y = human_image_targets(ctx, session, config.image_size)
    train, train_y, held, held_y = split_held_out(human, human_y, settings.held_out_fraction)
    against = f"human image labels ({settings.human_image_labels})"
    fine = dataclasses.replace(
        config, epochs=settings.fine_tune_epochs, learning_rate=settings.fine_tune_learning_rate
    )
    manifest = _manifest(keys + human, np.vstack([targets, human_y]), fine, ctx, settings.mode)
    if settings.mode == "step2only":
        return _Plan(ModelMode.STEP2_ONLY, [(config, train, train_y)], held, held_y, manifest,
                     against)  # fmt: skip
    first = without(keys, targets, set(held))  # human held-out: unseen in both phases
    folder = ctx.paths.models / f"{ctx.task.name}-resnet18-{manifest[:12]}"
    step1 = str((folder / "step1" / "model.pt").resolve())
    phases = [(config, *first), (dataclasses.replace(fine, init_checkpoint=step1), train, train_y)]
    return _Plan(ModelMode.TWO_STEPS, phases, held, held_y, manifest, against)


def train_model(ctx: Context) -> TrainOutcome:
    """Train a new model when the corpus changed; register it with its metrics.

    A run that fails is recorded as failed with its error: a :class:`TrainerError` (too
    little data, a bad checkpoint) is the outcome of the pass; anything else, after it
    is recorded, goes on up (a bug).

    Raises
    ------
    UsageError
        ``training.device`` cannot be used here (checked before anything else).
    """
    device = ctx.settings.training.device
    try:
        resolve_device(device)
    except DeviceUnavailable as exc:
        raise UsageError(f"training.device = {device!r}: {exc}") from None
    with Session(ctx.engine) as session:
        plan = _plan(ctx, session, _config(ctx))
        same = image_model_by_manifest(session, ctx.task.name, plan.manifest)
        if same is not None:  # the newest, or an earlier one (the corpus came back to it)
            reason = f"nothing new since model {same.version}"
            return TrainOutcome(TrainStatus.SKIPPED, reason, same.version, same.metrics)
        first_keys = plan.phases[0][1]
        if len(first_keys) + len(plan.held_keys) < ctx.settings.training.min_studies:
            return TrainOutcome(
                TrainStatus.SKIPPED,
                f"{len(first_keys) + len(plan.held_keys)} labelled studies; training needs "
                f"{ctx.settings.training.min_studies} (training.min_studies)",
            )
        version = f"{ctx.task.name}-resnet18-{plan.manifest[:12]}"
        final = plan.phases[-1][0]
        run = TrainingRun(
            status=RunStatus.RUNNING,
            mode=plan.mode,
            config=final.as_dict(),
            manifest_hash=plan.manifest,
            n_train=len(plan.phases[-1][1]),
            n_held_out=len(plan.held_keys),
        )
        session.add(run)
        session.commit()
        try:
            result = _fit(ctx, plan, version)
        except TrainerError as exc:
            _failed(session, run, str(exc))
            return TrainOutcome(TrainStatus.FAILED, str(exc))
        except BaseException as exc:
            _failed(session, run, f"{type(exc).__name__}: {exc}")
            raise
        row = _register(ctx, run, plan, result)
        session.add(row)
        session.flush()
        _record_splits(ctx, session, row, plan)
        _gate(ctx, session, row, (plan.held_keys, plan.held_targets, result.held_out_probabilities))
        _close(session, run, result, row)
        session.commit()
        return TrainOutcome(TrainStatus.TRAINED, row.status_reason or "", version, row.metrics)
