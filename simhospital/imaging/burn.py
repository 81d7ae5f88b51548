"""Text burned into the pixels, as some devices, film digitisers and PACS exports do.

:func:`burn_annotation` writes, into a radiograph's stored values, a corner block
(the patient's name, birth date and accession or ID), an institution strip along the
bottom edge, or both — in one of a few fonts, sizes and grey levels (white as displayed,
grey, or dark on the bright border), with MONOCHROME1's inverted values. What was
burned is returned (:class:`BurnIn`) for the truth table; the text itself is the
patient's, as on a real device.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["BurnIn", "burn_annotation"]

#: Fonts a device might use, where the system has them (else Pillow's own, in sizes).
_FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)


@dataclass(frozen=True, slots=True)
class BurnIn:
    """What was burned into one image."""

    layout: str
    """``corner``, ``strip`` or ``corner+strip``."""
    font: str
    text_height: int
    """Pixels."""
    level: str
    """``white``, ``grey`` or ``dark`` (as displayed)."""


def _font(rng: np.random.Generator, size: int) -> tuple[ImageFont.FreeTypeFont, str]:
    choices = [f for f in _FONT_FILES if Path(f).is_file()] + ["pillow"]
    choice = str(rng.choice(choices))
    if choice == "pillow":
        return ImageFont.load_default(size=size), "pillow"  # type: ignore[return-value]
    return ImageFont.truetype(choice, size), Path(choice).stem


def _date(value: str, rng: np.random.Generator) -> str:
    date = dt.datetime.strptime(value, "%Y%m%d").date()
    pattern = str(rng.choice(["%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d", "%d-%b-%Y"]))
    return date.strftime(pattern).upper()


def _draw(
    pixels: np.ndarray, lines: list[str], x: int, y: int, font: ImageFont.FreeTypeFont, value: int
) -> None:
    """Draw ``lines`` from (x, y) into ``pixels`` (stored values), anti-aliased."""
    rows, cols = pixels.shape
    mask = Image.new("L", (cols, rows), 0)
    draw = ImageDraw.Draw(mask)
    size = font.size
    for n, line in enumerate(lines):
        draw.text((x, y + round(n * size * 1.3)), line, fill=255, font=font)
    alpha = np.asarray(mask, dtype=np.float32) / 255.0
    touched = alpha > 0
    blended = pixels[touched] * (1 - alpha[touched]) + value * alpha[touched]
    pixels[touched] = np.round(blended).astype(pixels.dtype)


def burn_annotation(
    pixels: np.ndarray,
    *,
    name: str,
    birth_date: str,
    accession: str,
    patient_id: str,
    institution: str,
    bits: int,
    monochrome1: bool,
    rng: np.random.Generator,
) -> BurnIn:
    """Burn a device's annotation into ``pixels`` (stored values, rows × columns), in
    place; returns what was burned."""
    rows, cols = pixels.shape
    peak = (1 << bits) - 1
    layout = str(rng.choice(["corner", "strip", "corner+strip"], p=[0.5, 0.15, 0.35]))
    size = max(12, round(rows * float(rng.uniform(0.014, 0.03))))  # legible at any scale
    font, font_name = _font(rng, size)
    level = str(rng.choice(["white", "grey", "dark"], p=[0.7, 0.2, 0.1]))
    shown = {"white": 1.0, "grey": 0.75, "dark": 0.0}[level]
    value = round((1.0 - shown if monochrome1 else shown) * peak)
    family, _, given = name.partition("^")
    person = f"{family} {given}".strip()
    person = person.upper() if rng.random() < 0.6 else person.title()
    margin = max(4, cols // 60)
    if "corner" in layout:
        code = accession if rng.random() < 0.6 else patient_id
        block = [person, _date(birth_date, rng), code]
        right = rng.random() < 0.3
        x = cols - margin - round(max(font.getlength(t) for t in block)) if right else margin
        _draw(pixels, block, max(0, x), margin, font, value)
    if "strip" in layout:
        strip = institution.upper() if rng.random() < 0.5 else institution
        _draw(pixels, [strip], margin * 3, rows - margin - round(size * 1.4), font, value)
    return BurnIn(layout, font_name, size, level)
