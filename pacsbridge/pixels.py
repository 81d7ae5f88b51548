"""Display-ready pixels of a radiograph (PS3.3 C.11: Modality LUT, VOI LUT, Presentation)."""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from pacsbridge.errors import InvalidInstance

__all__ = ["DecodedPixels", "decode_pixels", "display_pixels"]

#: What decoders and LUTs raise on pixel data they cannot make sense of.
_DECODE_ERRORS = (
    ValueError,
    RuntimeError,
    NotImplementedError,
    AttributeError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    struct.error,
    UserWarning,
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _check_end_of_codestream(ds: Dataset, where: str) -> None:
    """A JPEG or JPEG 2000 frame ends with its end-of-codestream marker (FFD9); one that
    does not was cut or damaged, and a decoder may return noise rather than fail."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None or not syntax.is_compressed or syntax.is_deflated:
        return
    if syntax in (uid.RLELossless,):
        return
    fragments = list(generate_fragments(ds.PixelData))
    if not fragments or bytes(fragments[-1]).rstrip(b"\0")[-2:] != b"\xff\xd9":
        raise InvalidInstance(where, "compressed pixel data is cut or damaged (no end marker)")


@dataclass(frozen=True)
class DecodedPixels:
    """One decode of a radiograph, two views of it."""

    display: np.ndarray
    """As a radiologist sees it: float32 in [0, 1], bone bright (:func:`display_pixels`)."""
    values: np.ndarray
    """The Modality LUT's output (before any window)."""
    inverted: bool
    """MONOCHROME1: high values are dark."""

    @cached_property
    def full_range(self) -> np.ndarray:
        """Every stored value in view (no window: what a window clips away is kept, burned-in
        text at the top of the range too), uint8, bright as displayed."""
        low, high = float(self.values.min()), float(self.values.max())
        scaled = (self.values - low) * (255.0 / max(high - low, 1e-6))
        out = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
        return 255 - out if self.inverted else out


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
    return decode_pixels(ds, where).display


def decode_pixels(ds: Dataset, where: str = "image") -> DecodedPixels:
    """Decode once: the display pixels (:func:`display_pixels`) and the values behind them.

    Raises
    ------
    InvalidInstance
        As :func:`display_pixels`.
    """
    if "PixelData" not in ds:
        raise InvalidInstance(where, "no pixel data")
    try:
        single = (
            int(ds.get("SamplesPerPixel", 1)) == 1 and int(ds.get("NumberOfFrames", 1) or 1) == 1
        )
    except (TypeError, ValueError):
        single = False
    if not single:
        raise InvalidInstance(where, "not a single-frame greyscale image")
    _check_end_of_codestream(ds, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a decoder that warns has guessed: refuse it
            raw = ds.pixel_array
            modality = apply_modality_lut(raw, ds).astype(np.float32)
            values = modality
            has_voi = "WindowCenter" in ds or "VOILUTSequence" in ds
            if has_voi:
                values = apply_voi_lut(modality, ds, index=0).astype(np.float32)
    except _DECODE_ERRORS as exc:
        raise InvalidInstance(where, f"pixel data cannot be decoded: {_first_line(exc)}") from None
    low, high = np.percentile(values, [0.5, 99.5]) if not has_voi else (values.min(), values.max())
    if high <= low:
        raise InvalidInstance(where, "the image is blank (no contrast)")
    image = np.clip((values - low) / (high - low), 0.0, 1.0)
    inverted = str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1"
    if inverted:
        image = 1.0 - image
    return DecodedPixels(image.astype(np.float32), modality, inverted)
