"""Pixel cache, metrics and the training loop (tiny, on the CPU)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer import (
    BatchLoader,
    PixelCache,
    TrainConfig,
    auc_interval,
    augment_batch,
    compose_rgb,
    finding_metrics,
    fit,
    load_model,
    predict,
    stratified_auc,
    youden_threshold,
)
from trainer.errors import CheckpointError, NotEnoughData


def _fill(cache: PixelCache, n: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    keys, targets = [], []
    for i in range(n):
        bright = i % 2
        ap = rng.random((40, 30)).astype(np.float32) * 0.3 + 0.6 * bright
        lateral = rng.random((50, 35)).astype(np.float32) * 0.3
        cache.put(f"s{i}", ap, lateral)
        keys.append(f"s{i}")
        targets.append([bright, np.nan if i == 0 else 0.0])
    return keys, np.array(targets, dtype=np.float32)


def test_cache_round_trip_and_channels(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path, 16)
    cache.put("a", np.ones((30, 20), np.float32), np.zeros((25, 40), np.float32))
    pair = cache.get("a")
    assert pair.shape == (2, 16, 16) and pair.dtype == np.uint8
    rgb = compose_rgb(pair)
    assert rgb[0].min() == 255 and rgb[1].max() == 0 and rgb[2].max() == 0  # AP red, LAT blue
    assert "a" in cache and "b" not in cache


def test_the_task_chooses_the_channels(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path, 16)
    cache.put("a", np.ones((30, 20), np.float32), np.zeros((25, 40), np.float32))
    swapped = compose_rgb(cache.get("a"), (2, 1))  # AP blue, lateral green
    assert swapped[2].min() == 255 and swapped[0].max() == 0 and swapped[1].max() == 0
    (images, _), *_ = BatchLoader(cache, ["a"], device=torch.device("cpu"), channels=(1, 0))
    image = images[0]
    assert image[1].min() == 1.0 and image[0].max() == 0.0 and image[2].max() == 0.0
    with pytest.raises(ValueError, match="two different channels"):
        compose_rgb(cache.get("a"), (0, 0))
    assert TrainConfig.from_dict({"findings": ["x"]}).channels == (0, 2)  # older checkpoints


def test_batches_are_augmented_per_sample_and_reproducibly(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path, 32)
    keys, targets = _fill(cache, 16)

    def batches(seed: int) -> list[torch.Tensor]:
        loader = BatchLoader(
            cache, keys, targets, device=torch.device("cpu"), batch_size=8, augment=True, seed=seed
        )
        return [images for images, _ in loader]

    first, again, other = batches(1), batches(1), batches(2)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    plain = [images for images, _ in BatchLoader(cache, keys, device=torch.device("cpu"))]
    changed = [not torch.equal(a, p) for a, p in zip(first[0], plain[0][:8], strict=True)]
    assert 0 < sum(changed) <= 8  # per sample: some images changed, drawn independently
    assert first[0].min() >= 0.0 and first[0].max() <= 1.0 and first[0].dtype == torch.float32
    # every augmentation keeps the shape; a flipped image is the mirror of its source
    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 32).repeat(4, 3, 32, 1)
    out = augment_batch(ramp.clone(), generator)
    assert out.shape == ramp.shape


def test_youden_and_confusion() -> None:
    y = np.array([0, 0, 1, 1, np.nan])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.9])
    threshold = youden_threshold(y[:4], s[:4])
    metrics = finding_metrics(y, s, threshold)
    assert metrics.n == 4 and metrics.positives == 2  # the NaN label is left out
    assert metrics.auc == pytest.approx(0.75)
    assert metrics.tp + metrics.fn == 2 and metrics.tn + metrics.fp == 2
    assert metrics.sensitivity is not None and metrics.specificity is not None
    assert finding_metrics(np.zeros(3), np.ones(3), 0.5).auc is None  # one class only
    assert youden_threshold(np.zeros(3), np.ones(3)) == 0.5


def test_auc_interval_brackets_the_auc() -> None:
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(60), np.zeros(240)]
    informative = y * 0.8 + rng.normal(0, 1, len(y))
    low, high = auc_interval(y, informative) or (0.0, 0.0)
    auc = finding_metrics(y, informative, 0.5).auc
    assert auc is not None and low < auc < high and high - low < 0.25 and low > 0.5
    low, high = auc_interval(y, rng.normal(0, 1, len(y))) or (1.0, 0.0)
    assert low < 0.5 < high  # noise: chance is inside the interval
    assert auc_interval(np.ones(5), np.arange(5.0)) is None
    assert auc_interval(np.r_[0.0, 1.0, np.nan], np.r_[0.1, 0.9, 0.5]) == (1.0, 1.0)


def test_stratified_auc_removes_what_a_confounder_explains() -> None:
    rng = np.random.default_rng(5)
    confounder = rng.random(4000) < 0.5
    y = (rng.random(4000) < np.where(confounder, 0.3, 0.05)).astype(float)
    shortcut = confounder + rng.normal(0, 0.1, len(y))  # knows the confounder only
    plain = finding_metrics(y, shortcut, 0.5).auc
    assert plain is not None and plain > 0.7
    within = stratified_auc(y, shortcut, confounder)
    assert within is not None and abs(within - 0.5) < 0.05
    low, high = auc_interval(y, shortcut, strata=confounder) or (1.0, 0.0)
    assert low < 0.5 < high
    seeing = shortcut + 1.5 * y  # knows the finding itself too
    low, high = auc_interval(y, seeing, strata=confounder) or (0.0, 0.0)
    assert low > 0.75
    one = np.zeros(len(y))
    assert stratified_auc(y, seeing, one) == pytest.approx(finding_metrics(y, seeing, 0.5).auc)
    assert stratified_auc(y, seeing, np.arange(len(y))) is None  # no stratum has both


def test_fit_resume_reload_and_predict(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path / "cache", 32)
    keys, targets = _fill(cache, 12)
    config = TrainConfig(
        findings=("bright", "never"),
        image_size=32,
        epochs=2,
        batch_size=4,
        learning_rate=0.01,
        device="cpu",
    )
    checkpoint = tmp_path / "model.pt"
    torch_state, python_state = torch.random.get_rng_state(), random.getstate()
    result = fit(
        config,
        cache,
        keys[:8],
        targets[:8],
        keys[8:],
        checkpoint,
        manifest_hash="m1",
        code_version="test",
    )
    # Seeded without touching the caller's random state (library code keeps its RNG local).
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert random.getstate() == python_state
    assert result.held_out_probabilities.shape == (4, 2)
    assert np.isfinite(result.final_loss)
    state = torch.load(checkpoint, weights_only=True)
    assert (
        state["epoch"] == 2 and state["manifest_hash"] == "m1" and state["code_version"] == "test"
    )

    model, loaded = load_model(checkpoint, device="cpu")
    assert loaded == config
    again = predict(model, cache, keys[8:], batch_size=3, device="cpu")
    np.testing.assert_allclose(again, result.held_out_probabilities, rtol=1e-5, atol=1e-6)

    # A run that finds its own finished checkpoint resumes after the last epoch:
    # it trains nothing more and scores the held-out studies the same.
    steps: list[int] = []
    again_result = fit(
        config,
        cache,
        keys[:8],
        targets[:8],
        keys[8:],
        checkpoint,
        manifest_hash="m1",
        code_version="test",
        progress=lambda step, total, loss: steps.append(step),
    )
    assert steps == []
    assert again_result.final_loss == result.final_loss  # kept, not NaN (issue 18)
    np.testing.assert_allclose(
        again_result.held_out_probabilities, result.held_out_probabilities, rtol=1e-5, atol=1e-6
    )
    # Another data manifest does not resume: it trains from the start.
    fit(
        config,
        cache,
        keys[:8],
        targets[:8],
        keys[8:],
        checkpoint,
        manifest_hash="m2",
        code_version="test",
        progress=lambda step, total, loss: steps.append(step),
    )
    assert steps
    # A checkpoint of another configuration is refused, not trained over.
    before = checkpoint.read_bytes()
    other = dataclasses.replace(config, learning_rate=0.02, epochs=3)
    with pytest.raises(CheckpointError, match=r"another configuration \(epochs, learning_rate"):
        fit(
            other,
            cache,
            keys[:8],
            targets[:8],
            keys[8:],
            checkpoint,
            manifest_hash="m2",
            code_version="test",
        )
    assert checkpoint.read_bytes() == before


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path / "cache", 32)
    keys, targets = _fill(cache, 12)
    config = TrainConfig(
        findings=("bright", "never"),
        image_size=32,
        epochs=3,
        batch_size=4,
        learning_rate=0.01,
        device="cpu",
    )
    whole = fit(
        config,
        cache,
        keys[:8],
        targets[:8],
        keys[8:],
        tmp_path / "whole.pt",
        manifest_hash="m",
        code_version="t",
    )
    # the same run killed in its second epoch (after the first epoch's checkpoint), resumed
    calls: list[int] = []

    def killed(step: int, total: int, loss: float) -> None:
        calls.append(step)
        if len(calls) > total:  # the first batch of the second epoch
            raise KeyboardInterrupt

    stopped = tmp_path / "stopped.pt"
    with pytest.raises(KeyboardInterrupt):
        fit(
            config,
            cache,
            keys[:8],
            targets[:8],
            keys[8:],
            stopped,
            manifest_hash="m",
            code_version="t",
            progress=killed,
        )
    assert torch.load(stopped, weights_only=True)["epoch"] == 1
    resumed = fit(
        config, cache, keys[:8], targets[:8], keys[8:], stopped, manifest_hash="m", code_version="t"
    )
    np.testing.assert_allclose(
        resumed.held_out_probabilities, whole.held_out_probabilities, rtol=1e-5, atol=1e-6
    )


def test_bf16_on_a_cpu_and_a_scaled_learning_rate(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path / "cache", 32)
    keys, targets = _fill(cache, 12)
    config = TrainConfig(
        findings=("bright", "never"),
        image_size=32,
        epochs=1,
        batch_size=4,
        device="cpu",
        precision="bf16",
        scale_learning_rate=True,
    )
    assert config.effective_learning_rate == pytest.approx(0.001 * 4 / 32)
    assert config.autocast_dtype(torch.device("cpu")) is torch.bfloat16
    assert TrainConfig(findings=("x",)).autocast_dtype(torch.device("cpu")) is None
    assert TrainConfig(findings=("x",)).autocast_dtype(torch.device("cuda")) is torch.bfloat16
    result = fit(
        config,
        cache,
        keys[:8],
        targets[:8],
        keys[8:],
        tmp_path / "m.pt",
        manifest_hash="m",
        code_version="t",
    )
    assert np.isfinite(result.final_loss) and result.held_out_probabilities.shape == (4, 2)
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["initial_lr"] == pytest.approx(0.000125)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(findings=("x",), precision="fp8").autocast_dtype(torch.device("cpu"))


def test_too_little_data(tmp_path: Path) -> None:
    cache = PixelCache(tmp_path, 32)
    config = TrainConfig(findings=("a",), image_size=32, epochs=1, device="cpu")
    with pytest.raises(NotEnoughData):
        fit(
            config,
            cache,
            ["x"],
            np.zeros((1, 1)),
            ["y"],
            tmp_path / "m.pt",
            manifest_hash="m",
            code_version="t",
        )


def test_missing_checkpoint_and_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "nothing.pt")
    from trainer import build_model

    with pytest.raises(CheckpointError, match="do not exist"):
        build_model(3, tmp_path / "imagenet.pth")
