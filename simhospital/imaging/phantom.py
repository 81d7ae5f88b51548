"""Procedural lumbar spine radiographs: a spine drawn in a view, exposed on a detector.

Anatomy is drawn at 0.5 mm (or the detector's pixel size when coarser) and
exposed onto the detector's own grid, where the quantum noise is added, so a
2500 × 2000 image costs about as much as its noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from simhospital.imaging.anatomy import Spine, draw_ap, draw_lateral
from simhospital.imaging.canvas import Canvas, Geometry, expose

__all__ = ["Exposure", "Posture", "View", "render_view"]

View = Literal["ap", "lateral"]
Posture = Literal["standing", "supine", "flexion", "extension"]

_RENDER_MM = 0.5


@dataclass(frozen=True, slots=True)
class Exposure:
    """How the detector stores the image."""

    bits: int = 12
    monochrome1: bool = False
    marker: str = ""


def render_view(
    spine: Spine,
    view: View,
    geometry: Geometry,
    rng: np.random.Generator,
    *,
    posture: Posture = "standing",
    exposure: Exposure = Exposure(),
) -> np.ndarray:
    """One radiograph of ``spine``: ``geometry.rows`` × ``geometry.cols`` stored values."""
    canvas = Canvas(geometry.height_mm, geometry.width_mm, max(geometry.spacing, _RENDER_MM))
    if view == "ap":
        draw_ap(canvas, spine, rng, posture=posture, marker=exposure.marker)
    else:
        draw_lateral(canvas, spine, rng, posture=posture, marker=exposure.marker)
    canvas.texture(1.3, 0.06, rng)
    margins = tuple(float(m) for m in rng.uniform(3, 22, size=4))
    return expose(
        canvas,
        geometry,
        rng,
        bits=exposure.bits,
        monochrome1=exposure.monochrome1,
        collimation_mm=(margins[0], margins[1], margins[2], margins[3]),
        dose=float(rng.uniform(0.6, 1.4)),
    )
