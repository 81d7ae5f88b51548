"""The pixel cache: each study's AP + lateral pair, resized, as uint8 on disk.

A cached pair is a ``(2, size, size)`` uint8 array (AP first, lateral
second) in ``<root>/<size>/<key>.npy``; :func:`compose_rgb` makes the
model's three-channel image from it (by default the paper's: AP → red,
lateral → blue, green empty; the task file chooses).
Writes are atomic, so a killed process never leaves a half-written entry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from trainer.files import write_atomically

__all__ = ["PAPER_CHANNELS", "PixelCache", "compose_rgb", "resize_view"]


def resize_view(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a float [0, 1] image to ``size`` × ``size`` (aspect ratio not kept, as in
    the paper), with area averaging when shrinking; returns uint8."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    mode = "area" if min(image.shape) >= size else "bilinear"
    resized = F.interpolate(tensor, size=(size, size), mode=mode)
    return (resized[0, 0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


#: The reference study's channels: AP in red (0), lateral in blue (2).
PAPER_CHANNELS = (0, 2)


def compose_rgb(pair: np.ndarray, channels: tuple[int, int] = PAPER_CHANNELS) -> np.ndarray:
    """``(2, H, W)`` AP/lateral → ``(3, H, W)``: the AP in channel ``channels[0]``, the
    lateral in ``channels[1]``, the third channel zero."""
    ap, lateral = channels
    if ap == lateral or not {ap, lateral} <= {0, 1, 2}:
        raise ValueError(f"channels {channels}: two different channels of 0, 1, 2")
    rgb = np.zeros((3, *pair.shape[1:]), dtype=pair.dtype)
    rgb[ap] = pair[0]
    rgb[lateral] = pair[1]
    return rgb


class PixelCache:
    """Cached pairs at one image size.

    Parameters
    ----------
    root
        The cache folder (under the data folder); one subfolder per size.
    size
        Side of the square images.
    """

    def __init__(self, root: Path, size: int) -> None:
        self.folder = root / str(size)
        self.size = size

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def put(self, key: str, ap: np.ndarray, lateral: np.ndarray) -> Path:
        """Resize and store one pair (float [0, 1] images of any size)."""
        pair = np.stack([resize_view(ap, self.size), resize_view(lateral, self.size)])

        def save(partial: Path) -> None:
            with partial.open("wb") as fh:
                np.save(fh, pair, allow_pickle=False)

        return write_atomically(self.path(key), save)

    def get(self, key: str) -> np.ndarray:
        """The ``(2, size, size)`` uint8 pair.

        Raises
        ------
        FileNotFoundError
            The pair is not cached.
        """
        pair = np.load(self.path(key), allow_pickle=False)
        if pair.shape != (2, self.size, self.size) or pair.dtype != np.uint8:
            raise ValueError(f"cache entry {key} has shape {pair.shape} {pair.dtype}")
        return pair
