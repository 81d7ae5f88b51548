"""Display-ready pixels of a radiograph (PS3.3 C.11: Modality LUT, VOI LUT, Presentation)."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from pacsbridge.errors import InvalidInstance

__all__ = ["display_pixels"]


def display_pixels(ds: Dataset, where: str = "image") -> np.ndarray:
    """The image as a radiologist sees it: float32 in [0, 1], bone bright.

    The Modality LUT (rescale), then the first VOI window or VOI LUT are
    applied; MONOCHROME1 is inverted; when the header has no VOI, the
    0.5th–99.5th percentiles set the window.

    Raises
    ------
    InvalidInstance
        No pixel data, more than one frame or sample, or undecodable pixels
        (the message names ``where``).
    """
    if "PixelData" not in ds:
        raise InvalidInstance(where, "no pixel data")
    if int(ds.get("SamplesPerPixel", 1)) != 1 or int(ds.get("NumberOfFrames", 1) or 1) != 1:
        raise InvalidInstance(where, "not a single-frame greyscale image")
    try:
        raw = ds.pixel_array
    except (ValueError, RuntimeError, NotImplementedError, AttributeError) as exc:
        raise InvalidInstance(where, f"pixel data cannot be decoded: {exc}") from None
    values = apply_modality_lut(raw, ds).astype(np.float32)
    has_voi = "WindowCenter" in ds or "VOILUTSequence" in ds
    if has_voi:
        values = apply_voi_lut(values, ds, index=0).astype(np.float32)
    low, high = np.percentile(values, [0.5, 99.5]) if not has_voi else (values.min(), values.max())
    if high <= low:
        raise InvalidInstance(where, "the image is blank (no contrast)")
    image = np.clip((values - low) / (high - low), 0.0, 1.0)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        image = 1.0 - image
    return image.astype(np.float32)
