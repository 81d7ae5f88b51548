"""Batches that keep the data path off the critical path.

Cached pairs are read as uint8 (in DataLoader workers when there are any),
stacked, pinned when the model is on CUDA and moved to the model's device
as uint8; only there are they converted to float, composed into the
model's three channels and augmented — per sample, on the whole batch at
once (:func:`augment_batch`). A CPU-only machine runs the same path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from trainer.cache import PAPER_CHANNELS

__all__ = ["BatchLoader", "PairSource", "augment_batch", "compose_batch"]

_BLUR_RADIUS = 3  # the largest sigma drawn (1.5) needs 2 sigma on each side


def compose_batch(pairs: torch.Tensor, channels: tuple[int, int] = PAPER_CHANNELS) -> torch.Tensor:
    """``(B, 2, H, W)`` uint8 AP/lateral → ``(B, 3, H, W)`` float in [0, 1]: the AP in
    channel ``channels[0]``, the lateral in ``channels[1]``, the third zero."""
    ap, lateral = channels
    if ap == lateral or not {ap, lateral} <= {0, 1, 2}:
        raise ValueError(f"channels {channels}: two different channels of 0, 1, 2")
    batch, _, height, width = pairs.shape
    images = torch.zeros((batch, 3, height, width), dtype=torch.float32, device=pairs.device)
    images[:, ap] = pairs[:, 0].float()
    images[:, lateral] = pairs[:, 1].float()
    return images.div_(255.0)


def _blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per sample: a weighted sum of shifted
    copies (edges replicated), faster than a grouped convolution on a CPU."""
    x = torch.arange(-_BLUR_RADIUS, _BLUR_RADIUS + 1, dtype=images.dtype, device=images.device)
    weights = torch.exp(-(x[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    weights = (weights / weights.sum(dim=1, keepdim=True)).view(-1, 2 * _BLUR_RADIUS + 1, 1, 1, 1)
    for dim in (-1, -2):
        length = images.shape[dim]
        padded = torch.cat(
            [
                images.narrow(dim, 0, 1).expand_as(images.narrow(dim, 0, _BLUR_RADIUS)),
                images,
                images.narrow(dim, length - 1, 1).expand_as(images.narrow(dim, 0, _BLUR_RADIUS)),
            ],
            dim=dim,
        )
        out = torch.zeros_like(images)
        for tap in range(2 * _BLUR_RADIUS + 1):
            out.add_(padded.narrow(dim, tap, length) * weights[:, tap])
        images = out
    return images


def augment_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The reference study's augmentations, drawn per sample, on a ``(B, 3, H, W)``
    float batch on its device: left–right flip (p 0.5), contrast × 0.75–1.25 (p 0.5),
    Gaussian blur sigma 0.5–1.5 (p 0.3), Gaussian noise of sd up to 0.03 (p 0.5).
    Each is computed on the samples it was drawn for only. ``images`` is changed in
    place and returned; ``generator`` must live on the batch's device.
    """
    batch, device = images.shape[0], images.device
    draws = torch.rand((8, batch), generator=generator, device=device)
    chosen = draws[:4] < torch.tensor([[0.5], [0.5], [0.3], [0.5]], device=device)
    flip, contrast, blur, noise = (c.nonzero().flatten() for c in chosen)
    if len(flip):
        images[flip] = images[flip].flip(-1)
    if len(contrast):
        part = images[contrast]
        mean = part.mean(dim=(-2, -1), keepdim=True)
        factor = (0.75 + 0.5 * draws[4, contrast]).view(-1, 1, 1, 1)
        images[contrast] = (part - mean) * factor + mean
    if len(blur):
        images[blur] = _blur(images[blur], 0.5 + draws[5, blur])
    if len(noise):
        part = images[noise]
        std = (0.03 * draws[6, noise]).view(-1, 1, 1, 1)
        sample = torch.randn(part.shape, generator=generator, device=device, dtype=part.dtype)
        images[noise] = part + sample * std
    return images.clamp_(0.0, 1.0)


class PairSource(Protocol):
    """Where pairs come from: a :class:`PixelCache` or, faster, a :class:`ShardStore`."""

    size: int

    def get(self, key: str) -> np.ndarray: ...


class _Batches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Whole batches of uint8 pairs with their target rows (what workers read): a shard
    store gathers a batch shard by shard, a per-study cache file by file."""

    def __init__(self, source: PairSource, keys: Sequence[str], targets: np.ndarray) -> None:
        self.source, self.keys, self.targets = source, list(keys), targets

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        keys = [self.keys[i] for i in indices]
        gather = getattr(self.source, "gather", None)
        pairs = gather(keys) if gather is not None else np.stack([self.source.get(k) for k in keys])
        return torch.from_numpy(pairs), torch.from_numpy(self.targets[indices])


class BatchLoader:
    """Batches ``(images, targets)`` on ``device``: images ``(B, 3, H, W)`` float,
    composed with ``channels`` and, when ``augment``, augmented per sample.

    Parameters
    ----------
    cache, keys, targets
        Where the pairs are (a :class:`PixelCache` or a :class:`ShardStore`), which,
        and their ``(len(keys), findings)`` targets (NaN: not labelled).
    batch_size, shuffle, drop_last
        As a DataLoader's.
    seed
        Seeds the order of the batches and the augmentations.
    workers
        DataLoader worker processes that read the cache (0: in this process).
    replicas
        (rank, world size) under DistributedDataParallel: this process's share of the
        batches (``batch_size`` is then per process).
    """

    def __init__(
        self,
        cache: PairSource,
        keys: Sequence[str],
        targets: np.ndarray | None = None,
        *,
        device: torch.device,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        augment: bool = False,
        seed: int = 0,
        channels: tuple[int, int] = PAPER_CHANNELS,
        workers: int = 0,
        replicas: tuple[int, int] = (0, 1),
    ) -> None:
        n = len(keys)
        rows = np.zeros((n, 0), np.float32) if targets is None else targets.astype(np.float32)
        if len(rows) != n:
            raise ValueError(f"{n} keys but {len(rows)} target rows")
        self.device, self.augment, self.channels = device, augment, channels
        dataset = _Batches(cache, keys, rows)
        rank, world = replicas
        order: Sampler[int]
        if world > 1:  # this process's share, drawn from the same seeded order as the others
            order = DistributedSampler(
                dataset, world, rank, shuffle=shuffle, seed=seed, drop_last=drop_last
            )
        elif shuffle:
            order = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
        else:
            order = SequentialSampler(dataset)
        self.loader = DataLoader(
            dataset,
            sampler=BatchSampler(order, batch_size, drop_last),
            batch_size=None,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            # its own generator: iterating draws nothing from the global random state
            generator=torch.Generator().manual_seed(seed),
        )
        self.generator = torch.Generator(device=device).manual_seed(seed + 1_000_003 * rank)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        blocking = self.device.type != "cuda"
        for pairs, targets in self.loader:
            pairs = pairs.to(self.device, non_blocking=not blocking)
            images = compose_batch(pairs, self.channels)
            if self.augment:
                images = augment_batch(images, self.generator)
            yield images, targets.to(self.device, non_blocking=not blocking)
