"""Occlusion maps: where in each view a prediction comes from (the reference study's Fig. 4).

A grey patch slides over one channel at a time — the AP view (red) or the
lateral view (blue) — and the drop of each finding's probability is spread
over the pixels the patch covered. The reference study used an 80-pixel patch
on 512-pixel images; :func:`default_patch` scales that to other sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainer.cache import PAPER_CHANNELS, compose_rgb

__all__ = ["VIEWS", "default_patch", "occlusion_maps", "render_occlusion"]

#: The RGB channel of each view in a composed pair (green is empty).
VIEWS = ("ap", "lateral")
"""The views of a pair, in the order of the cache (AP first)."""


def default_patch(image_size: int) -> int:
    """The reference study's 80-pixel patch at 512 px, scaled to ``image_size``."""
    return max(round(80 * image_size / 512), 1)


def _starts(size: int, patch: int, stride: int) -> list[int]:
    starts = list(range(0, max(size - patch, 0) + 1, stride))
    if starts[-1] + patch < size:  # the last patch reaches the edge
        starts.append(size - patch)
    return starts


@torch.no_grad()
def occlusion_maps(
    model: nn.Module,
    pair: np.ndarray,
    *,
    patch: int,
    stride: int | None = None,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    channels: tuple[int, int] = PAPER_CHANNELS,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Probabilities of an AP/lateral pair and, per view, the drop each region causes.

    Parameters
    ----------
    model
        A trained classifier (logits per finding), as :func:`trainer.load_model` gives.
    pair
        The ``(2, H, W)`` uint8 pair from the pixel cache (AP, lateral).
    patch
        Side of the square grey patch, in pixels.
    stride
        Step between patch positions (default: half the patch).
    channels
        The model's input channels of the AP and the lateral view.

    Returns
    -------
    probabilities, maps
        ``probabilities`` has one value per finding; ``maps[view]`` is
        ``(findings, H, W)``: the mean probability drop when the patch covered
        that pixel of that view (positive: the region supports the finding).
    """
    if pair.ndim != 3 or pair.shape[0] != 2:
        raise ValueError(f"expected a (2, H, W) pair, got shape {pair.shape}")
    stride = stride or max(patch // 2, 1)
    model = model.to(device).eval()
    image = torch.from_numpy(compose_rgb(pair, channels)).float().div(255.0)
    _, height, width = image.shape
    base = torch.sigmoid(model(image[None].to(device))).cpu()[0]
    places = [(y, x) for y in _starts(height, patch, stride) for x in _starts(width, patch, stride)]
    maps: dict[str, np.ndarray] = {}
    for view, channel in zip(VIEWS, channels, strict=True):
        grey = float(image[channel].mean())  # neutral for this view: its own mean level
        drop = torch.zeros(len(base), height, width)
        covered = torch.zeros(height, width)
        for start in range(0, len(places), batch_size):
            chunk = places[start : start + batch_size]
            batch = image.repeat(len(chunk), 1, 1, 1)
            for i, (y, x) in enumerate(chunk):
                batch[i, channel, y : y + patch, x : x + patch] = grey
            probabilities = torch.sigmoid(model(batch.to(device))).cpu()
            for (y, x), row in zip(chunk, probabilities, strict=True):
                drop[:, y : y + patch, x : x + patch] += (base - row)[:, None, None]
                covered[y : y + patch, x : x + patch] += 1
        maps[view] = (drop / covered.clamp(min=1)).numpy()
    return base.numpy(), maps


def render_occlusion(
    pair: np.ndarray,
    probabilities: np.ndarray,
    maps: dict[str, np.ndarray],
    findings: Sequence[str],
    path: Path,
    *,
    title: str = "",
) -> Path:
    """A PNG: one row per finding, the AP and lateral views with their maps over them.

    Red marks regions whose occlusion lowers the probability (evidence for the
    finding), blue regions that raise it; one colour scale per finding.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    rows = len(findings)
    figure = Figure(figsize=(6, 3 * rows))
    axes = figure.subplots(rows, 2, squeeze=False)
    for row, key in enumerate(findings):
        limit = max(float(np.abs(maps[view][row]).max()) for view in VIEWS) or 1e-6
        for column, (view, index) in enumerate(zip(VIEWS, (0, 1), strict=True)):
            axis = axes[row][column]
            axis.imshow(pair[index], cmap="gray", vmin=0, vmax=255)
            axis.imshow(maps[view][row], cmap="bwr", vmin=-limit, vmax=limit, alpha=0.45)
            axis.set_axis_off()
            axis.set_title(f"{key} p={probabilities[row]:.2f} — {view}", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
