"""Training and inference, in torchvision's reference shape.

``train_one_epoch`` and ``evaluate`` do one pass each; :func:`fit` runs
the epochs, writes a resumable checkpoint after each (model, optimiser,
epoch, configuration, data manifest hash, code version), and returns the
held-out probabilities; :func:`load_model` and :func:`predict` serve
inference.
"""

from __future__ import annotations

import dataclasses
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
from trainer.errors import CheckpointError, DeviceUnavailable, NotEnoughData
from trainer.files import write_atomically
from trainer.model import build_model
from trainer.shards import ShardStore

__all__ = [
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "fit",
    "load_model",
    "predict",
    "resolve_device",
    "train_one_epoch",
]

logger = logging.getLogger(__name__)

BatchCallback = Callable[[int, int, float], None]
"""Called after each training batch with (step, steps in the epoch, running mean loss)."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that determines a training run (saved in every checkpoint)."""

    findings: tuple[str, ...]
    image_size: int = 512
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0
    augment: bool = True
    device: str = "auto"
    pretrained_weights: str | None = None
    lr_schedule: str = "cosine"
    """``constant`` (the paper) or ``cosine`` (decay to 0 over the epochs)."""
    channels: tuple[int, int] = PAPER_CHANNELS
    """The input channels of the AP and the lateral view (0 red, 1 green, 2 blue)."""
    precision: str = "auto"
    """``auto`` (bf16 autocast on CUDA, fp32 on a CPU), ``fp32`` or ``bf16``."""
    compile: bool = False
    """Compile the model with ``torch.compile`` (worth it on a GPU for long runs)."""
    scale_learning_rate: bool = False
    """Scale the learning rate with the batch: ``learning_rate × batch_size / 32``."""
    workers: int = 0
    """DataLoader processes that read the cache (0: the training process)."""
    init_checkpoint: str | None = None
    """A pacslabel checkpoint to start from (fine-tuning, warm starts) instead of
    ``pretrained_weights`` or random weights."""

    @property
    def effective_learning_rate(self) -> float:
        if self.scale_learning_rate:
            return self.learning_rate * self.batch_size / 32
        return self.learning_rate

    def autocast_dtype(self, device: torch.device) -> torch.dtype | None:
        """The autocast type on ``device``, or None for fp32."""
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"unknown precision {self.precision!r}")
        if self.precision == "bf16" or (self.precision == "auto" and device.type == "cuda"):
            return torch.bfloat16
        return None

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["findings"] = list(self.findings)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The inverse of :meth:`as_dict` (a checkpoint written before ``channels``
        existed used the paper's)."""
        raw = dict(data)
        raw["findings"] = tuple(raw["findings"])
        raw["channels"] = tuple(raw.get("channels", PAPER_CHANNELS))
        return cls(**raw)


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
    """Train a model and score the held-out studies.

    An existing checkpoint at ``checkpoint`` with the same configuration
    and manifest is resumed from its last finished epoch.

    Raises
    ------
    NotEnoughData
        Fewer than two training studies or no held-out study.
    CheckpointError
        The pretrained weights cannot be loaded.
    """
    if len(train_keys) < 2 or not held_out_keys:
        raise NotEnoughData(
            f"{len(train_keys)} training and {len(held_out_keys)} held-out studies: too few"
        )
    device = resolve_device(config.device)
    weights = Path(config.pretrained_weights) if config.pretrained_weights else None
    with torch.random.fork_rng(devices=[]):  # seeded initial weights; the caller's RNG untouched
        torch.manual_seed(config.seed)
        model = build_model(len(config.findings), weights).to(device)
    if config.init_checkpoint:
        _start_from(model, Path(config.init_checkpoint), device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    autocast = config.autocast_dtype(device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.effective_learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    if config.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"unknown learning-rate schedule {config.lr_schedule!r}")
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        if config.lr_schedule == "cosine"
        else None
    )
    start, loss = 0, float("nan")
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        if state.get("config") == config.as_dict() and state.get("manifest_hash") == manifest_hash:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and "scheduler" in state:
                scheduler.load_state_dict(state["scheduler"])
            start = int(state["epoch"])
            loss = float(state.get("loss", float("nan")))  # a finished run keeps its loss
            logger.info("resuming training at epoch %d", start + 1)
    rank, world = distributed()
    stepped: nn.Module = model
    if world > 1:  # gradients averaged over the processes; each sees its share of batches
        ids = [device.index] if device.type == "cuda" else None
        if device.type == "cuda":  # batch statistics over the global batch (GPUs only)
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        stepped = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if config.compile:
        stepped = torch.compile(stepped)  # type: ignore[assignment]
    # Packed once per run (only what is new since the last run): batches read memory maps.
    if rank == 0:
        ShardStore(cache).append([*train_keys, *held_out_keys])
    if world > 1:
        torch.distributed.barrier()
    store = ShardStore(cache)
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
        loss = train_one_epoch(stepped, loader, optimizer, device, progress, autocast)
        if scheduler is not None:
            scheduler.step()
        logger.info("epoch %d/%d: loss %.4f", epoch + 1, config.epochs, loss)
        if rank != 0:
            continue  # one process writes the checkpoint
        _save(
            checkpoint,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch + 1,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "config": config.as_dict(),
                "manifest_hash": manifest_hash,
                "code_version": code_version,
                "loss": loss,
            },
        )
    held_out = _in_order(store, held_out_keys, config.batch_size, device, config.channels)
    probabilities = evaluate(model, held_out, device)
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
