"""The promotion gate: a worse model stays a candidate; promote and rollback by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sqlalchemy.orm import Session

from db import Model, ModelMode, ModelStatus, upgrade
from db.queries import current_image_model
from pacslabel.cli import main
from pacslabel.comparison import Comparison
from pacslabel.context import Context, open_context
from pacslabel.errors import ExitCode
from pacslabel.pipeline.stages.train import _gate, _warm
from pacslabel.settings import Settings
from trainer import PixelCache, TrainConfig, finding_metrics, fit

FINDINGS = ("bright", "tall")


def _corpus(cache: PixelCache, n: int) -> tuple[list[str], np.ndarray]:
    """Pairs whose AP brightness says ``bright`` and whose lateral brightness says ``tall``."""
    rng = np.random.default_rng(0)
    keys, targets = [], []
    for i in range(n):
        bright, tall = i % 2, (i // 2) % 2
        ap = rng.random((40, 30)).astype(np.float32) * 0.3 + 0.6 * bright
        lateral = rng.random((40, 30)).astype(np.float32) * 0.3 + 0.6 * tall
        cache.put(f"2.25.{i}", ap, lateral)
        keys.append(f"2.25.{i}")
        targets.append([bright, tall])
    return keys, np.array(targets, dtype=np.float32)


def _register(
    ctx: Context, session: Session, name: str, targets: np.ndarray, keys: list[str]
) -> tuple[Model, np.ndarray]:
    config = TrainConfig(
        findings=FINDINGS, image_size=32, epochs=6, batch_size=4, learning_rate=0.05, device="cpu"
    )
    checkpoint = ctx.paths.models / name / "model.pt"
    result = fit(
        config,
        PixelCache(ctx.paths.cache, 32),
        keys[:24],
        targets[:24],
        keys[24:],
        checkpoint,
        manifest_hash=name,
        code_version="test",
    )
    row = Model(
        version=name,
        architecture="resnet18",
        mode=ModelMode.ONE_STEP,
        task=ctx.task.name,
        findings=list(FINDINGS),
        path=str(checkpoint.relative_to(ctx.paths.root)),
        config=config.as_dict(),
        manifest_hash=name,
        code_version="test",
        metrics={"held_out": {}},
        thresholds={},
    )
    session.add(row)
    session.flush()
    return row, result.held_out_probabilities


def test_verdicts() -> None:
    def comparison(**findings: tuple[float, float]) -> Comparison:
        """finding → (the new model's AUC, the current model's)."""
        return Comparison("m1", "m2", 40, {k: (old, new) for k, (new, old) in findings.items()})

    assert comparison(a=(0.7, 0.65)).verdict(0.05)[0]
    promoted, reason = comparison(a=(0.561, 0.614)).verdict(0.05)
    assert not promoted and "mean AUC 0.561 < 0.614" in reason and "40 held-out" in reason
    promoted, reason = comparison(a=(0.9, 0.6), b=(0.5, 0.78)).verdict(0.05)
    assert not promoted and reason.startswith("b AUC 0.280 lower")
    assert comparison(a=(0.74, 0.6), b=(0.66, 0.70)).verdict(0.05)[0]
    assert comparison(a=(0.7, 0.65)).as_record()["mean_auc"] == {"new": 0.7, "current": 0.65}


def test_a_worse_model_stays_a_candidate_and_rollback_restores(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(settings.resolved_database_url)
    settings = settings.model_copy(
        update={"training": settings.training.model_copy(update={"device": "cpu"})}
    )
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        keys, targets = _corpus(PixelCache(ctx.paths.cache, 32), 40)
        good, _ = _register(ctx, session, "good", targets, keys)
        _gate(ctx, session, good, (keys[24:], targets[24:], np.zeros((16, 2))))
        assert good.status is ModelStatus.CURRENT
        assert good.status_reason == "the task's first image model"
        # the shuffled-label control: labels that say nothing about the images (a plain
        # permutation can, by chance, correlate with what separates these images perfectly)
        index = np.arange(len(targets))
        shuffled = np.stack([(index // 4) % 2, (index // 8) % 2], axis=1).astype(np.float32)
        worse, probabilities = _register(ctx, session, "shuffled", shuffled, keys)
        _gate(ctx, session, worse, (keys[24:], targets[24:], probabilities))
        session.commit()
        assert worse.status is ModelStatus.CANDIDATE
        assert worse.status_reason is not None and "< " in worse.status_reason
        assert worse.metrics["promotion"]["against"] == "good"
        assert current_image_model(session, ctx.task.name).version == "good"

    data = ["--data-dir", str(settings.data_dir)]
    assert main([*data, "model", "list"]) == ExitCode.OK
    listed = capsys.readouterr().out
    assert "good  current" in listed and "shuffled  candidate" in listed
    assert main([*data, "model", "promote", "shuffled"]) == ExitCode.OK
    assert "shuffled is the current model (was good)" in capsys.readouterr().out
    assert main([*data, "model", "rollback", "--reason", "worse"]) == ExitCode.OK
    assert "shuffled withdrawn; good is the current model again" in capsys.readouterr().out
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        assert current_image_model(session, ctx.task.name).version == "good"
    assert main([*data, "model", "promote", "nothing"]) == ExitCode.USAGE


def test_a_warm_start_begins_from_the_current_model(settings: Settings) -> None:
    upgrade(settings.resolved_database_url)
    training = settings.training.model_copy(update={"device": "cpu", "warm_start": True})
    settings = settings.model_copy(update={"training": training})
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        keys, targets = _corpus(PixelCache(ctx.paths.cache, 32), 40)
        config = TrainConfig(findings=FINDINGS, image_size=32)
        assert _warm(ctx, session, config).init_checkpoint is None  # no current model yet
        good, _ = _register(ctx, session, "good", targets, keys)
        _gate(ctx, session, good, (keys[24:], targets[24:], np.zeros((16, 2))))
        warm = _warm(ctx, session, config)
        assert warm.init_checkpoint == str((ctx.paths.root / good.path).resolve())
        other_size = TrainConfig(findings=FINDINGS, image_size=64)
        assert _warm(ctx, session, other_size).init_checkpoint is None
        # it trains from those weights: before any step it predicts what the model does
        result = fit(
            dataclasses.replace(warm, epochs=1, learning_rate=1e-12, device="cpu", augment=False),
            PixelCache(ctx.paths.cache, 32),
            keys[:24],
            targets[:24],
            keys[24:],
            ctx.paths.models / "warm" / "model.pt",
            manifest_hash="w",
            code_version="t",
        )
        auc = finding_metrics(targets[24:, 0], result.held_out_probabilities[:, 0], 0.5).auc
        assert auc == 1.0
