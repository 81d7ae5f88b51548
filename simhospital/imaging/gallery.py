"""A gallery of simulated pairs: one normal spine and one per finding (severe), as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from simhospital.imaging.anatomy import build_spine
from simhospital.imaging.canvas import Geometry
from simhospital.imaging.phantom import Exposure, Posture, View, render_view
from simhospital.truth.findings import FINDINGS, Truth

__all__ = ["render_gallery"]

_LEVELS = {
    "fractures": 0,
    "anterolisthesis": 3,
    "retrolisthesis": 2,
    "disc_narrowing": 3,
    "instrumentation": 3,
}


def _tile(pixels: np.ndarray, width: int) -> Image.Image:
    low, high = np.percentile(pixels, [0.5, 99.5])
    scaled = np.clip((pixels - low) / max(high - low, 1) * 255, 0, 255).astype(np.uint8)
    image = Image.fromarray(scaled)
    return image.resize((width, int(width * pixels.shape[0] / pixels.shape[1])))


def render_gallery(path: Path, *, tile_width: int = 220, seed: int = 5) -> Path:
    """Write a PNG: for "normal" and each finding, the AP and lateral view side by side
    (a listhesis adds the flexion or extension view that shows it best)."""
    geometry = Geometry(2200, 1800, 0.18).scaled(0.3)
    cases: list[tuple[str, dict[str, int], str]] = [("normal", {}, "")]
    for key in FINDINGS:
        implant = "screws_rods_cages" if key == "instrumentation" else ""
        cases.append((key, {key: 3}, implant))
    rows = []
    for number, (name, severity, implant) in enumerate(cases):
        rng = np.random.default_rng([seed, number])
        truth = Truth(
            age=65,
            sex="F",
            severity={k: severity.get(k, 0) for k in FINDINGS},
            level=dict(_LEVELS),
            implant=implant,
        )
        spine = build_spine(truth, rng, (geometry.height_mm, geometry.width_mm))
        views: list[tuple[View, Posture]] = [("ap", "standing"), ("lateral", "standing")]
        if name == "anterolisthesis":
            views.append(("lateral", "flexion"))
        if name == "retrolisthesis":
            views.append(("lateral", "extension"))
        tiles = [
            _tile(
                render_view(
                    spine,
                    view,
                    geometry,
                    rng,
                    posture=posture,
                    exposure=Exposure(12, False, ""),
                ),
                tile_width,
            )
            for view, posture in views
        ]
        rows.append((f"{name}" + (" (+ dynamic)" if len(views) > 2 else ""), tiles))
    label_height, gap = 18, 10
    tile_height = max(tile.height for _, tiles in rows for tile in tiles)
    row_width = 8 * tile_width + 3 * gap
    places, x, y = [], 0, 0
    for _label, tiles in rows:  # flow the cells left to right, wrapping
        width = len(tiles) * tile_width
        if x + width > row_width:
            x, y = 0, y + tile_height + label_height + gap
        places.append((x, y))
        x += width + gap
    grid = Image.new("L", (row_width, y + tile_height + label_height), 255)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for (label, tiles), (x, y) in zip(rows, places, strict=True):
        draw.text((x + 4, y + 2), label, fill=0, font=font)
        for offset, tile in enumerate(tiles):
            grid.paste(tile, (x + offset * tile_width, y + label_height))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path
