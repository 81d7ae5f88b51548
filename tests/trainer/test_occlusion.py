"""Occlusion maps point at the region and the view a prediction comes from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from trainer import default_patch, occlusion_maps, render_occlusion


class _RegionModel(nn.Module):
    """Finding 0 reads the AP view's top-left quarter; finding 1 the lateral's bottom-right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ap = x[:, 0, :16, :16].mean(dim=(1, 2))
        lateral = x[:, 2, 16:, 16:].mean(dim=(1, 2))
        return torch.stack([4 * (ap - 0.3), 4 * (lateral - 0.3)], dim=1)


def _pair() -> np.ndarray:
    pair = np.full((2, 32, 32), 40, dtype=np.uint8)
    pair[0, :16, :16] = 230  # bright where finding 0 looks, in the AP view
    pair[1, 16:, 16:] = 230  # and where finding 1 looks, in the lateral view
    return pair


def test_maps_point_at_the_region_and_the_view() -> None:
    probabilities, maps = occlusion_maps(_RegionModel(), _pair(), patch=8, stride=4)
    assert probabilities.shape == (2,) and (probabilities > 0.5).all()
    assert set(maps) == {"ap", "lateral"} and maps["ap"].shape == (2, 32, 32)
    ap0, lateral1 = maps["ap"][0], maps["lateral"][1]
    # Patches reach 4 px past the region they overlap; beyond that nothing changes.
    assert ap0[:16, :16].mean() > 0.02 and abs(ap0[20:, 20:]).max() < 1e-6
    assert lateral1[16:, 16:].mean() > 0.02 and abs(lateral1[:12, :12]).max() < 1e-6
    # Each finding ignores the other view entirely.
    assert abs(maps["lateral"][0]).max() < 1e-6 and abs(maps["ap"][1]).max() < 1e-6


def test_patch_size_and_bad_input() -> None:
    assert default_patch(512) == 80 and default_patch(256) == 40 and default_patch(4) == 1
    with pytest.raises(ValueError, match="pair"):
        occlusion_maps(_RegionModel(), np.zeros((3, 32, 32), np.uint8), patch=8)
    # A patch that does not divide the image still covers every pixel.
    _, maps = occlusion_maps(_RegionModel(), _pair(), patch=10, stride=7)
    assert maps["ap"][0][:16, :16].min() > 0


def test_render_writes_one_row_per_finding(tmp_path: Path) -> None:
    pair = _pair()
    probabilities, maps = occlusion_maps(_RegionModel(), pair, patch=8)
    path = render_occlusion(
        pair, probabilities, maps, ["a", "b"], tmp_path / "out" / "map.png", title="study"
    )
    with Image.open(path) as image:
        assert image.size == (600, 600)  # 6 × 6 inches at 100 dpi: two findings
