"""Training and inference, in torchvision's reference shape.

``load_data`` packs the cached pairs, ``build`` makes the model, optimiser and
schedule of a :class:`~trainer.config.TrainConfig`, ``resume`` continues the run
that wrote a checkpoint (and refuses one of another configuration),
``train_one_epoch`` and ``evaluate`` do one pass each; :func:`fit` composes
them, writes a resumable checkpoint after each epoch (model, optimiser, epoch,
configuration, data manifest hash, code version), and returns the held-out
probabilities; :func:`load_model` and :func:`predict` serve inference.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from trainer.batches import BatchLoader, PairSource
from trainer.cache import PAPER_CHANNELS, PixelCache
from trainer.config import TrainConfig
from trainer.errors import CheckpointError, DeviceUnavailable, NotEnoughData
from trainer.files import write_atomically
from trainer.model import build_model
from trainer.shards import ShardStore

__all__ = [
    "TrainResult",
    "Training",
    "build",
    "evaluate",
    "fit",
    "load_data",
    "load_model",
    "predict",
    "resolve_device",
    "resume",
    "train_one_epoch",
]

logger = logging.getLogger(__name__)

BatchCallback = Callable[[int, int, float], None]
"""Called after each training batch with (step, steps in the epoch, running mean loss)."""


@dataclass(frozen=True)
class TrainResult:
    """What :func:`fit` produced."""

    checkpoint: Path
    held_out_probabilities: np.ndarray
    epochs_done: int
    final_loss: float


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available (under ``torchrun``, this process's GPU), else CPU.

    Raises
    ------
    DeviceUnavailable
        A CUDA device is asked for and none is usable, or the name is no device.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceUnavailable(
            f"{name!r} is not a device (cpu, cuda, cuda:N, auto): {exc}"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"{name} was asked for but no CUDA device is usable here (driver, "
                "CUDA build of PyTorch): train on cpu or auto"
            )
        if distributed()[1] > 1:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailable(f"{name}: only {torch.cuda.device_count()} CUDA devices")
    return device


def distributed() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless a process group is running
    (``torchrun``; :func:`fit` then trains with DistributedDataParallel)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _masked_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    mask = ~torch.isnan(targets)
    if not mask.any():
        return logits.sum() * 0.0
    loss = nn.functional.binary_cross_entropy_with_logits(
        logits[mask], targets[mask], reduction="mean"
    )
    return loss


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader[Any] | BatchLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    progress: BatchCallback | None = None,
    autocast: torch.dtype | None = None,
) -> float:
    """One pass over ``loader``; returns the mean loss. With ``autocast`` the forward
    pass runs in that type (the loss and the weights stay fp32)."""
    model.train()
    total, count = 0.0, 0
    memory = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    for step, (images, targets) in enumerate(loader, start=1):
        images = images.to(device).contiguous(memory_format=memory)
        targets = targets.to(device)
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=bool(autocast)):
            logits = model(images)
        loss = _masked_bce(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(images)
        count += len(images)
        if progress is not None:
            progress(step, len(loader), total / count)
    return total / max(count, 1)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader[Any] | BatchLoader, device: torch.device
) -> np.ndarray:
    """Sigmoid probabilities for every item of ``loader``, shape ``(n, findings)``."""
    model.eval()
    outputs = [torch.sigmoid(model(images.to(device))).cpu() for images, _ in loader]
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), np.float32)


def _in_order(
    cache: PairSource,
    keys: Sequence[str],
    batch_size: int,
    device: torch.device,
    channels: tuple[int, int],
) -> BatchLoader:
    """Batches in key order, not augmented (its own generators: iterating it draws
    nothing from the global random state)."""
    return BatchLoader(cache, keys, device=device, batch_size=batch_size, channels=channels)


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Write the checkpoint atomically. It is serialised in memory first and written with
    plain file I/O, so a full or read-only disk raises the ``OSError`` that says so (torch
    writing to a file would raise a ``RuntimeError`` that does not)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomically(path, lambda partial: partial.write_bytes(buffer.getbuffer()))


def _start_from(model: nn.Module, checkpoint: Path, device: torch.device) -> None:
    """Load a pacslabel checkpoint's weights into ``model``.

    Raises
    ------
    CheckpointError
        Missing, not a pacslabel checkpoint, or another architecture or finding count.
    """
    if not checkpoint.is_file():
        raise CheckpointError(f"checkpoint {checkpoint} to start from does not exist")
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{checkpoint} is not a pacslabel checkpoint")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{checkpoint} does not fit this model: {exc}") from None


def load_data(cache: PixelCache, keys: Sequence[str]) -> ShardStore:
    """The cached pairs of ``keys`` packed into shards for training (only what is new since
    the last run; batches then read memory maps). Under ``torchrun`` process 0 packs and
    the others wait for it."""
    rank, world = distributed()
    if rank == 0:
        ShardStore(cache).append(keys)
    if world > 1:
        torch.distributed.barrier()
    return ShardStore(cache)


@dataclass
class Training:
    """What :func:`build` makes for a configuration: the model (whose weights the
    checkpoints hold), its optimiser and learning-rate schedule."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    device: torch.device


def build(config: TrainConfig) -> Training:
    """The model (seeded, from the pretrained weights or the checkpoint to start from) on
    its device, SGD as the reference study, and the schedule.

    Raises
    ------
    DeviceUnavailable
        The configured device cannot be used.
    CheckpointError
        The pretrained weights or the checkpoint to start from cannot be loaded.
    """
    device = resolve_device(config.device)
    weights = Path(config.pretrained_weights) if config.pretrained_weights else None
    with torch.random.fork_rng(devices=[]):  # seeded initial weights; the caller's RNG untouched
        torch.manual_seed(config.seed)
        model = build_model(len(config.findings), weights).to(device)
    if config.init_checkpoint:
        _start_from(model, Path(config.init_checkpoint), device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.effective_learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        if config.lr_schedule == "cosine"
        else None
    )
    return Training(model, optimizer, scheduler, device)


def resume(
    training: Training, checkpoint: Path, config: TrainConfig, manifest_hash: str
) -> tuple[int, float]:
    """Continue the run that wrote ``checkpoint``: its weights, optimiser and schedule are
    loaded into ``training``; returns (epochs it finished, its last loss). No checkpoint,
    or one of the same configuration trained on other data (another manifest): (0, NaN),
    and the run starts from the beginning.

    Raises
    ------
    CheckpointError
        ``checkpoint`` is not a pacslabel checkpoint, or was written by a training of
        another configuration (the message names what differs): it is not trained over.
    """
    if not checkpoint.is_file():
        return 0, float("nan")
    state = torch.load(checkpoint, map_location=training.device, weights_only=True)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise CheckpointError(f"{checkpoint} is not a pacslabel checkpoint")
    if state["config"] != config.as_dict():
        theirs, ours = state["config"], config.as_dict()
        differ = sorted(k for k in {*theirs, *ours} if theirs.get(k) != ours.get(k))
        raise CheckpointError(
            f"{checkpoint} was written by a training of another configuration "
            f"({', '.join(differ)} differ): write to another folder or remove it"
        )
    if state.get("manifest_hash") != manifest_hash:
        return 0, float("nan")
    training.model.load_state_dict(state["model"])
    training.optimizer.load_state_dict(state["optimizer"])
    if training.scheduler is not None and state.get("scheduler") is not None:
        training.scheduler.load_state_dict(state["scheduler"])
    logger.info("resuming training at epoch %d", int(state["epoch"]) + 1)
    return int(state["epoch"]), float(state.get("loss", float("nan")))


def _for_steps(training: Training, config: TrainConfig) -> nn.Module:
    """What runs the steps: the model, under DistributedDataParallel when ``torchrun``
    started several processes (gradients averaged; batch statistics over the global batch
    on GPUs), compiled when the configuration asks."""
    model, device = training.model, training.device
    stepped: nn.Module = model
    if distributed()[1] > 1:
        ids = [device.index] if device.type == "cuda" else None
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        stepped = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if config.compile:
        stepped = torch.compile(stepped)  # type: ignore[assignment]
    return stepped


def _checkpoint(
    training: Training, config: TrainConfig, epoch: int, loss: float, **recorded: str
) -> dict[str, Any]:
    scheduler = training.scheduler
    return {
        "model": training.model.state_dict(),
        "optimizer": training.optimizer.state_dict(),
        "epoch": epoch,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "config": config.as_dict(),
        "loss": loss,
        **recorded,
    }


def fit(
    config: TrainConfig,
    cache: PixelCache,
    train_keys: Sequence[str],
    train_targets: np.ndarray,
    held_out_keys: Sequence[str],
    checkpoint: Path,
    *,
    manifest_hash: str,
    code_version: str,
    progress: BatchCallback | None = None,
) -> TrainResult:
    """Train a model and score the held-out studies: :func:`build`, :func:`resume` from
    ``checkpoint`` when an earlier run of the same training wrote it, :func:`load_data`,
    then one :func:`train_one_epoch` and one checkpoint per remaining epoch.

    Raises
    ------
    NotEnoughData
        Fewer than two training studies or no held-out study.
    CheckpointError
        The pretrained weights cannot be loaded, or ``checkpoint`` is another training's.
    """
    if len(train_keys) < 2 or not held_out_keys:
        raise NotEnoughData(
            f"{len(train_keys)} training and {len(held_out_keys)} held-out studies: too few"
        )
    training = build(config)
    device, autocast = training.device, config.autocast_dtype(training.device)
    start, loss = resume(training, checkpoint, config, manifest_hash)
    stepped = _for_steps(training, config)
    store = load_data(cache, [*train_keys, *held_out_keys])
    rank, world = distributed()
    for epoch in range(start, config.epochs):
        # Order and augmentations seeded per epoch: a resumed run sees the same batches.
        loader = BatchLoader(
            store,
            train_keys,
            train_targets,
            device=device,
            batch_size=max(1, config.batch_size // world),  # the batch is the global one
            shuffle=True,
            drop_last=len(train_keys) > config.batch_size,
            augment=config.augment,
            seed=config.seed + epoch,
            channels=config.channels,
            workers=config.workers,
            replicas=(rank, world),
        )
        loss = train_one_epoch(stepped, loader, training.optimizer, device, progress, autocast)
        if training.scheduler is not None:
            training.scheduler.step()
        logger.info("epoch %d/%d: loss %.4f", epoch + 1, config.epochs, loss)
        if rank == 0:  # one process writes the checkpoint
            recorded = {"manifest_hash": manifest_hash, "code_version": code_version}
            _save(checkpoint, _checkpoint(training, config, epoch + 1, loss, **recorded))
    held_out = _in_order(store, held_out_keys, config.batch_size, device, config.channels)
    probabilities = evaluate(training.model, held_out, device)
    return TrainResult(checkpoint, probabilities, config.epochs, loss)


def load_model(checkpoint: Path, device: str = "auto") -> tuple[nn.Module, TrainConfig]:
    """A trained model (in eval mode) and its configuration.

    Raises
    ------
    CheckpointError
        Missing file or not a pacslabel checkpoint.
    """
    if not checkpoint.is_file():
        raise CheckpointError(f"checkpoint {checkpoint} does not exist")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise CheckpointError(f"{checkpoint} is not a pacslabel checkpoint")
    config = TrainConfig.from_dict(state["config"])
    model = build_model(len(config.findings))
    model.load_state_dict(state["model"])
    model.to(resolve_device(device)).eval()
    return model, config


def predict(
    model: nn.Module,
    cache: PixelCache,
    keys: Sequence[str],
    *,
    batch_size: int = 32,
    device: str = "auto",
    channels: tuple[int, int] = PAPER_CHANNELS,
) -> np.ndarray:
    """Probabilities ``(len(keys), findings)`` for cached pairs, composed with the
    model's ``channels`` (its :attr:`TrainConfig.channels`)."""
    if not keys:
        return np.zeros((0, 0), np.float32)
    where = resolve_device(device)
    return evaluate(model, _in_order(cache, keys, batch_size, where, channels), where)
