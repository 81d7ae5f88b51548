"""Drawing attenuation in millimetres, and turning it into detector pixels.

:class:`Canvas` holds an attenuation map (line integral of the attenuation
coefficient, dimensionless) at a *render* resolution; shapes are convex
polygons, ellipses and strokes with anti-aliased edges, each touching only
its bounding box. :func:`expose` turns the map into the stored pixel values
of a detector at its own (finer) resolution: exposure and heel effect,
log transfer, quantum noise, bit depth, collimation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Canvas", "Geometry", "box_corners", "expose", "lerp"]

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Geometry:
    """A detector: ``rows`` × ``cols`` square pixels of ``spacing`` mm."""

    rows: int
    cols: int
    spacing: float

    @property
    def height_mm(self) -> float:
        return self.rows * self.spacing

    @property
    def width_mm(self) -> float:
        return self.cols * self.spacing

    def scaled(self, factor: float) -> Geometry:
        """The same field of view with ``factor`` times the pixels per side."""
        rows = max(round(self.rows * factor), 32)
        return Geometry(rows, max(round(self.cols * factor), 32), self.height_mm / rows)


def box_corners(cx: float, cy: float, w: float, h: float, angle: float) -> list[Point]:
    """Corners of a ``w`` × ``h`` rectangle centred on (cx, cy), rotated by ``angle`` rad."""
    ca, sa = math.cos(angle), math.sin(angle)
    return [
        (cx + du * ca - dv * sa, cy + du * sa + dv * ca)
        for du, dv in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    ]


def lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


class Canvas:
    """An attenuation map covering a field of view, in mm, at ``mm`` per pixel."""

    def __init__(self, height_mm: float, width_mm: float, mm: float) -> None:
        self.mm = mm
        self.rows = max(math.ceil(height_mm / mm), 8)
        self.cols = max(math.ceil(width_mm / mm), 8)
        self.att = np.zeros((self.rows, self.cols), dtype=np.float32)

    def _window(
        self, xs: Sequence[float], ys: Sequence[float]
    ) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        pad = 2 * self.mm
        r0 = max(int((min(ys) - pad) / self.mm), 0)
        r1 = min(int((max(ys) + pad) / self.mm) + 1, self.rows)
        c0 = max(int((min(xs) - pad) / self.mm), 0)
        c1 = min(int((max(xs) + pad) / self.mm) + 1, self.cols)
        if r0 >= r1 or c0 >= c1:
            return None
        y = (np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5) * self.mm
        x = (np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5) * self.mm
        return slice(r0, r1), slice(c0, c1), x, y

    def polygon(self, points: Sequence[Point], value: float) -> None:
        """Add ``value`` inside a convex polygon (corners in either winding)."""
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        window = self._window(xs, ys)
        if window is None:
            return
        rs, cs, x, y = window
        n = len(points)
        area = sum(xs[i - 1] * ys[i] - xs[i] * ys[i - 1] for i in range(n))
        sign = 1.0 if area > 0 else -1.0
        inside = np.full((rs.stop - rs.start, cs.stop - cs.start), np.inf, dtype=np.float32)
        for i in range(n):
            (x0, y0), (x1, y1) = points[i - 1], points[i]
            length = math.hypot(x1 - x0, y1 - y0) or 1.0
            distance = sign * ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / length
            np.minimum(inside, distance, out=inside)
        self.att[rs, cs] += value * np.clip(0.5 + inside / self.mm, 0.0, 1.0)

    def box(self, cx: float, cy: float, w: float, h: float, angle: float, value: float) -> None:
        self.polygon(box_corners(cx, cy, w, h, angle), value)

    def stroke(self, a: Point, b: Point, width: float, value: float) -> None:
        """A straight band of ``width`` mm from ``a`` to ``b``."""
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        if length == 0:
            return
        angle = math.atan2(b[1] - a[1], b[0] - a[0])
        self.box((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, length, width, angle, value)

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, angle: float, value: float
    ) -> None:
        reach = max(rx, ry)
        window = self._window([cx - reach, cx + reach], [cy - reach, cy + reach])
        if window is None:
            return
        rs, cs, x, y = window
        ca, sa = math.cos(angle), math.sin(angle)
        u = ((x - cx) * ca + (y - cy) * sa) / rx
        v = (-(x - cx) * sa + (y - cy) * ca) / ry
        edge = (1.0 - np.sqrt(u * u + v * v)) * (min(rx, ry) / self.mm)
        self.att[rs, cs] += value * np.clip(0.5 + edge, 0.0, 1.0)

    def ring(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        angle: float,
        thickness: float,
        value: float,
    ) -> None:
        """An elliptical shell (a cortex seen end-on, a pedicle)."""
        self.ellipse(cx, cy, rx, ry, angle, value)
        self.ellipse(cx, cy, max(rx - thickness, 0.3), max(ry - thickness, 0.3), angle, -value)

    def texture(self, mask_threshold: float, strength: float, rng: np.random.Generator) -> None:
        """Trabecular-like texture where attenuation exceeds ``mask_threshold``."""
        coarse = rng.standard_normal(
            (max(self.rows // 4, 2), max(self.cols // 4, 2)), dtype=np.float32
        )
        tensor = torch.from_numpy(coarse)[None, None]
        noise = F.interpolate(
            tensor, size=(self.rows, self.cols), mode="bicubic", align_corners=False
        )[0, 0].numpy()
        bone = np.clip((self.att - mask_threshold) * 4.0, 0.0, 1.0)
        self.att += strength * noise * bone


def expose(
    canvas: Canvas,
    geometry: Geometry,
    rng: np.random.Generator,
    *,
    bits: int,
    monochrome1: bool,
    collimation_mm: tuple[float, float, float, float],
    dose: float = 1.0,
) -> np.ndarray:
    """Stored pixel values of ``geometry`` for the attenuation on ``canvas``.

    The log transfer, tone curve, collimation and the noise level are computed
    on the canvas grid and interpolated to the detector grid, where the
    quantum noise is added (a triangular-distributed stand-in for Gaussian
    noise, built from random bytes: ten times cheaper at five megapixels).

    Parameters
    ----------
    collimation_mm
        Margins (top, right, bottom, left) outside the collimated field.
    dose
        Relative exposure: lower dose, more noise.
    """
    top, right, bottom, left = collimation_mm
    yy = (np.arange(canvas.rows, dtype=np.float32)[:, None] + 0.5) * canvas.mm
    xx = (np.arange(canvas.cols, dtype=np.float32)[None, :] + 0.5) * canvas.mm
    outside = (
        (yy < top)
        | (yy > geometry.height_mm - bottom)
        | (xx < left)
        | (xx > geometry.width_mm - right)
    )
    heel = 1.0 + 0.12 * (yy / geometry.height_mm - 0.5)  # anode heel: more dose one end
    transmitted = np.exp(-canvas.att * 0.85) * heel * dose
    signal = -np.log(np.clip(transmitted, 1e-4, None))  # log transfer, bone bright
    inside = signal[::3, ::3][~outside[::3, ::3]]
    low, high = np.percentile(inside, [0.2, 99.8]) if inside.size else (0.0, 1.0)
    image = np.clip((signal - low) / max(float(high - low), 1e-3), 0.0, 1.6)
    image = (1.0 - np.exp(-1.6 * image)) / (1.0 - math.exp(-1.6 * 1.6))  # tone curve
    image = np.ascontiguousarray(image, dtype=np.float32)
    image[outside] = 0.97
    peak = (1 << bits) - 1
    gain = peak * rng.uniform(0.9, 1.0)
    # Noise level per pixel (std of the stand-in noise is 104.5), in stored units.
    sigma = (gain * 0.012 / math.sqrt(dose) / 104.5) * np.sqrt(1.05 - np.clip(image, 0.0, 1.0))
    sigma[outside] = 0.0
    image *= gain
    if monochrome1:
        image = peak - image  # the noise is symmetric: invert before adding it
    size = (geometry.rows, geometry.cols)
    full = F.interpolate(
        torch.from_numpy(image)[None, None], size=size, mode="bilinear", align_corners=False
    )[0, 0].numpy()
    level = F.interpolate(torch.from_numpy(sigma)[None, None], size=size, mode="nearest")[
        0, 0
    ].numpy()
    random = np.frombuffer(rng.bytes(2 * geometry.rows * geometry.cols), dtype=np.int8)
    random = random.reshape(2, geometry.rows, geometry.cols)
    noise = random[0].astype(np.int16)
    noise += random[1]
    full += noise * level
    np.clip(full, 0, peak, out=full)
    return full.astype(np.uint16)
