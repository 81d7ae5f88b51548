"""Images with and without burned-in identifiers, made apart from the simulator.

Issue 27's evidence that is not the detector's own reflection. Nothing here comes from
:mod:`simhospital`: the ground is a radiograph-like field of its own (a body outline,
a column of bright blocks, soft blobs, a collimation border, grain), the people and
institutions are other names, and the text is set in other fonts (Liberation Serif,
Sans and Mono, DejaVu Serif and Condensed), in any corner or across the middle, rotated
by a few degrees or standing on its side, low in contrast, noisy, blurred, partly
covered by a lead marker or a bar, over the anatomy. Clean images carry what a
radiograph carries and identifies no one: laterality markers, rulers with numbers,
technique (``81 kV 20 mAs``), projection and posture words.

:func:`make_set` draws one part: ``dev`` (seed 1) may be looked at while working;
``sealed`` (seed 2) is scored once, at the end (``bench/burned_in.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SEEDS = {"dev": 1, "sealed": 2}

_FONTS = [
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
]
_FAMILIES = [
    "LOCATELLI",
    "SCOGNAMIGLIO",
    "ZANETTI",
    "PIRAS",
    "MELIS",
    "TRAVERSO",
    "BONFANTI",
    "CASTELLANI",
    "DE SANTIS",
    "VILLANI",
    "ORLANDO",
    "DAMIANI",
    "SCHIAVONE",
    "COPPOLA",
    "LUCARELLI",
    "BERTOLINI",
    "QUARTA",
    "OLIVIERI",
    "GATTI",
    "PELLEGRINI",
    "PALUMBO",
    "SANNA",
    "FARINA",
    "RIZZI",
    "MONTI",
    "CATTANEO",
    "MORELLI",
    "AMATO",
    "SILVESTRI",
    "MAZZA",
    "TESTA",
    "GRASSI",
    "PELLEGRINO",
    "CARBONE",
    "GIULIANI",
    "BENEDETTI",
    "D'ANGELO",
]
_GIVENS = [
    "ALESSANDRO",
    "ORNELLA",
    "LORENZO",
    "LETIZIA",
    "MATTEO",
    "SILVIA",
    "GIORGIO",
    "NOEMI",
    "GUALTIERO",
    "VALENTINA",
    "STEFANO",
    "ROBERTA",
    "DAVIDE",
    "SIMONA",
    "FABIO",
    "MONICA",
    "RICCARDO",
    "PATRIZIA",
    "EMANUELE",
    "DANIELA",
    "TOMMASO",
    "ILARIA",
]
_INSTITUTIONS = [
    "Policlinico Umberto Primo",
    "Azienda Ospedaliera Careggi",
    "Istituto Ortopedico Rizzoli",
    "ASST Grande Ospedale Metropolitano",
    "Clinica San Gaudenzio",
    "Presidio Ospedaliero Sant'Anna",
    "Casa di Cura Villa Maria",
    "Ospedale Civile di Padova",
]
_CLEAN_WORDS = [
    "AP",
    "LL",
    "PA",
    "LAT",
    "STANDING",
    "ORTOSTATISMO",
    "SUPINO",
    "ERECT",
    "FLEX",
    "EXT",
]


@dataclass(frozen=True)
class Known:
    """What the header of a made image would hold (the detector's linkage identifiers)."""

    name: str
    """``FAMILY^GIVEN``."""
    patient_id: str
    birth_date: str
    """``YYYYMMDD``."""
    accession: str
    institution: str
    referring: str


@dataclass(frozen=True)
class Case:
    """One made image: 12-bit stored values (MONOCHROME2), its header's identity, and
    whether identifying text was burned into it (what, for the figures by kind)."""

    pixels: np.ndarray
    known: Known
    identifying: bool
    what: str


def _font(rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    present = [path for path in _FONTS if Path(path).is_file()]
    if not present:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(rng.choice(present)), size)


def _ground(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A radiograph-like field in [0, 1] (bright = dense), not the simulator's."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cx, _cy = cols * rng.uniform(0.4, 0.6), rows * rng.uniform(0.45, 0.55)
    body = np.exp(-(((x - cx) / (cols * rng.uniform(0.28, 0.4))) ** 4))
    field = 0.15 + 0.45 * body
    column = np.abs(x - cx) < cols * rng.uniform(0.07, 0.11)
    for k in range(int(rng.integers(4, 7))):  # blocks down the middle
        top = rows * (0.12 + 0.14 * k) + rng.normal(0, rows * 0.01)
        block = column & (y > top) & (y < top + rows * 0.1)
        field = field + 0.25 * block
    for _ in range(int(rng.integers(3, 9))):  # soft blobs (bowel gas, soft tissue)
        bx, by = rng.uniform(0, cols), rng.uniform(0, rows)
        radius = rng.uniform(0.03, 0.12) * cols
        field -= rng.uniform(0.05, 0.15) * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / radius**2)
    small = Image.fromarray((np.clip(field, 0, 1) * 255).astype(np.uint8))
    field = np.asarray(small.filter(ImageFilter.GaussianBlur(rows / 200)), np.float32) / 255
    margin = int(rows * rng.uniform(0.0, 0.06))
    if margin:  # a collimation border, bright
        border = np.ones_like(field, dtype=bool)
        border[margin:-margin, margin:-margin] = False
        field = np.where(border, rng.uniform(0.8, 0.95), field)
    return np.clip(field + rng.normal(0, rng.uniform(0.005, 0.02), field.shape), 0, 1)


def _draw(
    layer: Image.Image,
    lines: list[str],
    rng: np.random.Generator,
    where: str,
    size: int,
    angle: float,
) -> None:
    """Draw ``lines`` as one block onto the mask ``layer`` (L mode), at ``where``."""
    font = _font(rng, size)
    width = int(max(font.getlength(line) for line in lines)) + 8
    height = int(len(lines) * size * 1.25) + 8
    block = Image.new("L", (width, height), 0)
    pen = ImageDraw.Draw(block)
    for n, line in enumerate(lines):
        pen.text((4, 4 + n * size * 1.25), line, fill=255, font=font)
    if angle:
        block = block.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    cols, rows = layer.size
    bw, bh = block.size
    pad = int(rng.uniform(0.01, 0.04) * cols)
    spots = {
        "top-left": (pad, pad),
        "top-right": (cols - bw - pad, pad),
        "bottom-left": (pad, rows - bh - pad),
        "bottom-right": (cols - bw - pad, rows - bh - pad),
        "middle": (int(cols * rng.uniform(0.2, 0.5)), int(rows * rng.uniform(0.3, 0.6))),
        "bottom": ((cols - bw) // 2, rows - bh - pad),
    }
    x, y = spots[where]
    layer.paste(block, (max(0, x), max(0, y)), block)


def _date(value: str, rng: np.random.Generator) -> str:
    day = dt.datetime.strptime(value, "%Y%m%d").date()
    months = ["GEN", "FEB", "MAR", "APR", "MAG", "GIU", "LUG", "AGO", "SET", "OTT", "NOV", "DIC"]
    forms = [
        day.strftime("%d/%m/%Y"),
        day.strftime("%d-%m-%y"),
        day.strftime("%Y.%m.%d"),
        f"{day.day} {months[day.month - 1]} {day.year}",
        day.strftime("%d.%m.%Y"),
    ]
    return str(rng.choice(forms))


def _codice_fiscale(rng: np.random.Generator) -> str:
    letters = "ABCDEFGHLMNPRSTVZ"
    pick = lambda n: "".join(rng.choice(list(letters), n))  # noqa: E731
    parts = [pick(6), rng.integers(10, 99), pick(1), rng.integers(10, 70), pick(1)]
    parts += [rng.integers(100, 999), pick(1)]
    return "".join(str(part) for part in parts)


def _known(rng: np.random.Generator) -> Known:
    born = dt.date(1935, 1, 1) + dt.timedelta(days=int(rng.integers(0, 25000)))
    return Known(
        name=f"{rng.choice(_FAMILIES)}^{rng.choice(_GIVENS)}",
        patient_id=f"{rng.integers(10**6, 10**7)}",
        birth_date=born.strftime("%Y%m%d"),
        accession=f"RX{rng.integers(10**5, 10**6)}",
        institution=str(rng.choice(_INSTITUTIONS)),
        referring=f"{rng.choice(_FAMILIES)}^{rng.choice(_GIVENS)}",
    )


def _identifying_lines(known: Known, rng: np.random.Generator) -> tuple[list[str], str]:
    family, given = known.name.split("^")
    name = str(
        rng.choice(
            [
                f"{family} {given}",
                f"{given} {family}",
                f"{family}, {given}",
                f"{family.title()} {given.title()}",
                f"{family}^{given}",
            ]
        )
    )
    kinds = {
        "name": name,
        "birth date": str(rng.choice(["DOB ", "Nato il ", "n. ", ""]))
        + _date(known.birth_date, rng),
        "patient ID": f"{rng.choice(['ID ', 'PID: ', 'Cod. '])}{known.patient_id}",
        "accession": f"{rng.choice(['Acc ', 'N. ', ''])}{known.accession}",
        "institution": known.institution,
        "codice fiscale": f"CF {_codice_fiscale(rng)}",
        "referring": f"Dr. {known.referring.split('^')[0].title()}",
    }
    chosen = [k for k in kinds if rng.random() < 0.45] or [str(rng.choice(list(kinds)))]
    return [kinds[k] for k in chosen], "+".join(chosen)


def _clean_marks(layer: Image.Image, rng: np.random.Generator, rows: int) -> None:
    cols = layer.size[0]
    pen = ImageDraw.Draw(layer)
    marker = _font(rng, int(rows * rng.uniform(0.03, 0.06)))
    pen.text(
        (int(cols * rng.uniform(0.03, 0.15)), int(rows * rng.uniform(0.03, 0.2))),
        str(rng.choice(["L", "R", "SX", "DX", "D", "S"])),
        fill=255,
        font=marker,
    )
    if rng.random() < 0.6:  # a ruler with centimetre numbers
        x0, y0 = int(cols * rng.uniform(0.85, 0.93)), int(rows * 0.2)
        step = rows // 40
        small = _font(rng, max(10, step))
        for k in range(16):
            length = step if k % 5 == 0 else step // 2
            pen.line([(x0, y0 + k * step), (x0 + length, y0 + k * step)], fill=255, width=2)
            if k % 5 == 0:
                pen.text((x0 + step + 3, y0 + k * step - step // 2), str(k), fill=255, font=small)
    words = [
        f"{rng.integers(60, 110)} kV",
        f"{rng.integers(5, 60)} mAs",
        str(rng.choice(_CLEAN_WORDS)),
    ]
    if rng.random() < 0.7:
        size = int(rows * rng.uniform(0.012, 0.025))
        _draw(
            layer,
            [" ".join(words[: int(rng.integers(1, 4))])],
            rng,
            str(rng.choice(["bottom-left", "bottom-right", "top-right"])),
            max(12, size),
            0.0,
        )


def make_case(rng: np.random.Generator, identifying: bool) -> Case:
    rows = int(rng.integers(1200, 2337))
    cols = int(rows * rng.uniform(0.75, 1.0))
    ground = _ground(rng, rows, cols)
    known = _known(rng)
    layer = Image.new("L", (cols, rows), 0)
    _clean_marks(layer, rng, rows)
    what = "clean"
    if identifying:
        lines, what = _identifying_lines(known, rng)
        where = str(
            rng.choice(["top-left", "top-right", "bottom-left", "bottom-right", "middle", "bottom"])
        )
        angle = float(
            rng.choice([0, 0, 0, rng.uniform(-6, 6), 90, -90], p=[0.4, 0.15, 0.15, 0.2, 0.05, 0.05])
        )
        size = max(12, int(rows * rng.uniform(0.01, 0.035)))
        _draw(layer, lines, rng, where, size, angle)
        what = f"{what}@{where}" + (f"/rot{angle:.0f}" if angle else "")
    mask = np.asarray(layer, np.float32) / 255.0
    if identifying and rng.random() < 0.2:  # a lead marker or bar across part of the text
        _, xs = np.nonzero(mask > 0.5)
        if len(xs):
            x = int(rng.choice(xs))
            mask[:, max(0, x - rows // 60) : x + rows // 60] *= 0.0
            what += "/occluded"
    level = float(rng.choice([1.0, 1.0, 0.85, 0.6, 0.0]))  # white, light, grey, black
    if rng.random() < 0.15:  # low contrast: a little above the ground around it
        image = np.clip(ground + 0.12 * mask, 0, 1)
        what += "/low-contrast"
    else:
        image = ground * (1 - mask) + level * mask
    if rng.random() < 0.3:
        image = (
            np.asarray(
                Image.fromarray((image * 255).astype(np.uint8)).filter(
                    ImageFilter.GaussianBlur(0.8)
                ),
                np.float32,
            )
            / 255
        )
    image = np.clip(image + rng.normal(0, rng.uniform(0.0, 0.02), image.shape), 0, 1)
    return Case((image * 4095).astype(np.uint16), known, identifying, what)


def make_set(part: str, identifying: int, clean: int) -> list[Case]:
    """The ``part`` (``dev`` or ``sealed``): ``identifying`` images with identifiers burned
    in, ``clean`` without."""
    rng = np.random.default_rng([SEEDS[part], 27])
    cases = [make_case(rng, True) for _ in range(identifying)]
    return cases + [make_case(rng, False) for _ in range(clean)]
