"""Datasets of cached pairs and their targets, with the paper's augmentations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from trainer.cache import PAPER_CHANNELS, PixelCache, compose_rgb

__all__ = ["PairDataset", "augment"]


def augment(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left–right flip, Gaussian noise, Gaussian blur and contrast change
    (the augmentations of the reference study), on a ``(3, H, W)`` float image."""

    def chance(p: float) -> bool:
        return bool(torch.rand((), generator=generator) < p)

    if chance(0.5):
        image = image.flip(-1)
    if chance(0.5):
        factor = 0.75 + 0.5 * torch.rand((), generator=generator)
        mean = image.mean(dim=(-2, -1), keepdim=True)
        image = (image - mean) * factor + mean
    if chance(0.3):
        sigma = 0.5 + 1.0 * float(torch.rand((), generator=generator))
        radius = max(int(2 * sigma), 1)
        x = torch.arange(-radius, radius + 1, dtype=image.dtype)
        kernel = torch.exp(-(x**2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        channels = image.shape[0]
        horizontal = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
        vertical = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
        blurred = F.conv2d(image[None], horizontal, padding=(0, radius), groups=channels)
        image = F.conv2d(blurred, vertical, padding=(radius, 0), groups=channels)[0]
    if chance(0.5):
        std = 0.03 * float(torch.rand((), generator=generator))
        image = image + torch.randn(image.shape, generator=generator) * std
    return image.clamp(0.0, 1.0)


class PairDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Cached pairs as ``(3, H, W)`` float tensors with a target vector.

    Parameters
    ----------
    cache
        Where the pairs are.
    keys
        The studies, by cache key.
    targets
        ``(len(keys), n_findings)`` floats: 1, 0, or NaN where the label is
        ignored (masked out of the loss).
    train
        Whether to augment.
    seed
        Seed of the augmentation stream.
    channels
        The input channels of the AP and the lateral view (:func:`compose_rgb`).
    """

    def __init__(
        self,
        cache: PixelCache,
        keys: Sequence[str],
        targets: np.ndarray | None = None,
        *,
        train: bool = False,
        seed: int = 0,
        channels: tuple[int, int] = PAPER_CHANNELS,
    ) -> None:
        self.cache = cache
        self.keys = list(keys)
        n = len(self.keys)
        self.targets = (
            np.zeros((n, 0), np.float32) if targets is None else targets.astype(np.float32)
        )
        if len(self.targets) != n:
            raise ValueError(f"{n} keys but {len(self.targets)} target rows")
        self.train = train
        self.channels = channels
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rgb = compose_rgb(self.cache.get(self.keys[index]), self.channels)
        image = torch.from_numpy(rgb).float() / 255.0
        if self.train:
            image = augment(image, self.generator)
        return image, torch.from_numpy(self.targets[index])
