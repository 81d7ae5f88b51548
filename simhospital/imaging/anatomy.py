"""A patient's lumbar spine, laid out once and drawn in every view.

:func:`build_spine` turns a :class:`~simhospital.truth.findings.Truth`
into geometry (T12–L5 bodies, discs, slips, wedges, curves, implants) in
millimetres; :func:`draw_ap` and :func:`draw_lateral` draw it on a
:class:`~simhospital.imaging.canvas.Canvas` for a posture (standing,
supine, flexion, extension). A listhesis is larger in the dynamic view
that provokes it than standing, as the reference study observed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simhospital.imaging.canvas import Canvas, Point, box_corners, lerp
from simhospital.truth.findings import FINDINGS, Truth

__all__ = ["LEVELS", "Spine", "build_spine", "draw_ap", "draw_lateral"]

LEVELS = ("T12", "L1", "L2", "L3", "L4", "L5")
_METAL = 4.0
_POSTURE_LORDOSIS = {"standing": 0.0, "supine": -2.0, "flexion": -16.0, "extension": 7.0}


@dataclass
class Spine:
    """Geometry of one patient's spine; level index 0 is T12, 5 is L5."""

    truth: Truth
    heights: list[float]
    discs: list[float]
    widths: list[float]
    depths: list[float]
    wedge: dict[int, float]
    slips: list[float]
    """Full slip (mm, + anterior) of each vertebra over the one below, in its provoking view."""
    standing_slip: float
    lordosis: float
    scoliosis: float
    trabecular: float
    cortex: float
    cortex_mm: float
    top: float
    ap_x: float
    lat_x: float
    gas: list[tuple[float, float, float, float]] = field(default_factory=list)
    osteophytes: list[tuple[int, int, float]] = field(default_factory=list)
    """(level, corner 0–3, size mm) of each marginal osteophyte."""
    fused: tuple[int, ...] = ()

    def slip(self, level: int, posture: str) -> float:
        full = self.slips[level]
        if posture == "flexion":
            return full if full > 0 else 0.3 * full
        if posture == "extension":
            return full if full < 0 else 0.3 * full
        return self.standing_slip * full

    def pair_truth(self) -> dict[str, int]:
        """What the standing AP + lateral pair shows, per finding (0 = not visible)."""
        shown = dict(self.truth.severity)
        for key, sign in (("anterolisthesis", 1.0), ("retrolisthesis", -1.0)):
            worst = max((sign * self.slip(i, "standing") for i in range(6)), default=0.0)
            shown[key] = 0 if worst < 2.5 else 1 if worst < 5 else 2 if worst < 8 else 3
        return {key: shown.get(key, 0) for key in FINDINGS}


def build_spine(truth: Truth, rng: np.random.Generator, field_mm: tuple[float, float]) -> Spine:
    """Lay out the spine of ``truth`` in a field of view (height, width) in mm."""
    s = truth.severity
    size = rng.normal(1.05 if truth.sex == "M" else 0.97, 0.05)
    heights = [(24 + 0.8 * i) * size for i in range(6)]
    discs = [(7.5 + 0.7 * i) * size for i in range(6)]
    widths = [(40 + 2.4 * i) * size for i in range(6)]
    depths = [(30 + 1.2 * i) * size for i in range(6)]
    wedge: dict[int, float] = {}
    if s["fractures"]:
        level = truth.level["fractures"] + 1 if rng.random() < 0.85 else 0  # T12 too
        wedge[level] = 0.12 + 0.13 * s["fractures"]
        if s["fractures"] == 3 and rng.random() < 0.4:
            wedge[min(level + 1, 5)] = 0.15
    if s["disc_narrowing"]:
        k = truth.level["disc_narrowing"] + 1
        discs[k] *= 1 - 0.22 * s["disc_narrowing"]
        if s["disc_narrowing"] >= 2 and k > 1:
            discs[k - 1] *= 0.8
    if s["diffuse_degeneration"]:
        discs = [d * (1 - 0.06 * s["diffuse_degeneration"]) for d in discs]
    slips = [0.0] * 6
    if s["anterolisthesis"]:
        slips[truth.level["anterolisthesis"] + 1] = 3.0 + 3.5 * s["anterolisthesis"]
    if s["retrolisthesis"]:
        slips[truth.level["retrolisthesis"] + 1] = -(3.5 + 3.0 * s["retrolisthesis"])
    lordosis = rng.normal(15, 2.5)
    if s["loss_of_lordosis"]:
        lordosis *= [1.0, 0.45, 0.08, -0.45][s["loss_of_lordosis"]]
    scoliosis = 0.0
    if s["scoliosis"]:
        scoliosis = (5 + 8 * s["scoliosis"] + rng.normal(0, 1.5)) * rng.choice([-1, 1])
    else:
        scoliosis = rng.normal(0, 1.0)
    porosis = s["osteoporosis"]
    age_loss = max(truth.age - 40, 0) / 500
    osteo = max(s["osteophytosis"], s["diffuse_degeneration"] - 1)
    osteophytes = []
    if osteo:
        count = int(rng.integers(2, 4 + 3 * osteo))
        for _ in range(count):
            osteophytes.append(
                (
                    int(rng.integers(1, 6)),
                    int(rng.integers(0, 4)),
                    1.8 + 1.7 * osteo * rng.uniform(0.6, 1.2),
                )
            )
    fused: tuple[int, ...] = ()
    if truth.implant:
        k = truth.level["instrumentation"] + 1
        span = 1 + s["instrumentation"] // 2
        fused = tuple(range(max(k - span, 1), min(k, 5) + 1))
    height_mm, width_mm = field_mm
    top = height_mm * rng.uniform(0.07, 0.14)
    gas = [
        (
            rng.uniform(0.15, 0.85) * width_mm,
            rng.uniform(0.25, 0.75) * height_mm,
            rng.uniform(4, 22),
            rng.uniform(3, 12),
        )
        for _ in range(int(rng.integers(3, 14)))
    ]
    return Spine(
        truth=truth,
        heights=heights,
        discs=discs,
        widths=widths,
        depths=depths,
        wedge=wedge,
        slips=slips,
        standing_slip=rng.uniform(0.4, 0.7),
        lordosis=lordosis,
        scoliosis=scoliosis,
        trabecular=0.5 * (1 - 0.16 * porosis - age_loss),
        cortex=0.55 * (1 - 0.12 * porosis),
        cortex_mm=1.7 - 0.38 * porosis,
        top=top,
        ap_x=width_mm * rng.uniform(0.46, 0.54),
        lat_x=width_mm * rng.uniform(0.50, 0.58),
        gas=gas,
        osteophytes=osteophytes,
        fused=fused,
    )


def _tops(spine: Spine) -> list[float]:
    tops, y = [], spine.top
    for i in range(6):
        tops.append(y)
        y += spine.heights[i] + spine.discs[i]
    return tops


def _body(canvas: Canvas, corners: list[Point], spine: Spine, sclerosis: float) -> None:
    """A vertebral body: cortical shell, trabecular core, optional endplate sclerosis."""
    cx = sum(p[0] for p in corners) / 4
    cy = sum(p[1] for p in corners) / 4
    canvas.polygon(corners, spine.cortex)
    height = math.dist(corners[0], corners[3]) or 1.0
    width = math.dist(corners[0], corners[1]) or 1.0
    fy = 1 - 2 * spine.cortex_mm / height
    fx = 1 - 2 * spine.cortex_mm / width
    inner = [(cx + (x - cx) * fx, cy + (y - cy) * fy) for x, y in corners]
    canvas.polygon(inner, spine.trabecular - spine.cortex)
    if sclerosis:
        top = [
            corners[0],
            corners[1],
            lerp(corners[1], corners[2], 0.13),
            lerp(corners[0], corners[3], 0.13),
        ]
        bottom = [
            lerp(corners[0], corners[3], 0.87),
            lerp(corners[1], corners[2], 0.87),
            corners[2],
            corners[3],
        ]
        canvas.polygon(top, sclerosis)
        canvas.polygon(bottom, sclerosis)


def _spur(
    canvas: Canvas, corner: Point, outward: float, down: float, size: float, spine: Spine
) -> None:
    """A marginal osteophyte: a triangle from a body corner, outward and towards the disc."""
    tip = (corner[0] + outward * size, corner[1] + down * size * 0.7)
    base = (corner[0], corner[1] - down * size * 0.9)
    canvas.polygon(
        [base, tip, (corner[0] - outward * 0.5, corner[1] + down * 0.4)], spine.cortex * 1.5
    )


def _soft_tissue(
    canvas: Canvas, cx: float, half_width: float, height: float, rng: np.random.Generator
) -> None:
    canvas.ellipse(cx, height * 0.55, half_width, height * 0.8, 0.0, 0.55)
    canvas.ellipse(cx, height * 0.55, half_width * 0.82, height * 0.75, 0.0, 0.35)
    canvas.ellipse(cx + rng.normal(0, 5), height * 0.5, half_width * 0.55, height * 0.6, 0.0, 0.2)


def _marker(canvas: Canvas, x: float, y: float, letter: str) -> None:
    """A lead side marker (L/R/DX/SX) drawn with strokes, 14 mm tall."""
    h, w = 14.0, 9.0
    strokes: dict[str, list[tuple[Point, Point]]] = {
        "L": [((0, 0), (0, h)), ((0, h), (w, h))],
        "R": [
            ((0, 0), (0, h)),
            ((0, 0), (w, 0)),
            ((w, 0), (w, h / 2)),
            ((w, h / 2), (0, h / 2)),
            ((0, h / 2), (w, h)),
        ],
        "D": [
            ((0, 0), (0, h)),
            ((0, 0), (w * 0.7, 0)),
            ((w * 0.7, 0), (w, h / 2)),
            ((w, h / 2), (w * 0.7, h)),
            ((w * 0.7, h), (0, h)),
        ],
        "X": [((0, 0), (w, h)), ((w, 0), (0, h))],
        "S": [
            ((w, 0), (0, 0)),
            ((0, 0), (0, h / 2)),
            ((0, h / 2), (w, h / 2)),
            ((w, h / 2), (w, h)),
            ((w, h), (0, h)),
        ],
    }
    for i, char in enumerate(letter):
        for (x0, y0), (x1, y1) in strokes[char]:
            ox = x + i * (w + 4)
            canvas.stroke((ox + x0, y + y0), (ox + x1, y + y1), 2.2, _METAL)


def draw_ap(
    canvas: Canvas,
    spine: Spine,
    rng: np.random.Generator,
    posture: str = "standing",
    marker: str = "",
) -> None:
    """An AP (coronal) view; ``posture`` "supine" straightens a postural curve."""
    height_mm = canvas.rows * canvas.mm
    width_mm = canvas.cols * canvas.mm
    _soft_tissue(canvas, spine.ap_x, width_mm * 0.48, height_mm, rng)
    for x, y, rx, ry in spine.gas:
        canvas.ellipse(x, y, rx, ry, rng.uniform(0, math.pi), -0.18)
    tops = _tops(spine)
    bottom = tops[5] + spine.heights[5]
    amplitude = spine.scoliosis * (0.75 if posture == "supine" else 1.0)
    span = bottom - spine.top

    def centre(y: float) -> float:
        return spine.ap_x + amplitude * math.sin(math.pi * (y - spine.top) / span)

    def tilt(y: float) -> float:
        slope = amplitude * math.pi / span * math.cos(math.pi * (y - spine.top) / span)
        return -math.atan(slope)

    degeneration = spine.truth.severity["diffuse_degeneration"]
    _pelvis_ap(canvas, spine, centre(bottom), bottom + spine.discs[5], rng)
    rib_y = tops[0] + spine.heights[0] * 0.3
    for side in (-1, 1):  # the 12th ribs
        start = (centre(rib_y) + side * 30, rib_y)
        canvas.stroke(start, (start[0] + side * 70, start[1] + 45), 7, spine.trabecular * 0.5)
    facet = spine.truth.severity["facet_sclerosis"]
    for i in range(6):
        top, h = tops[i], spine.heights[i] * (1 - 0.45 * spine.wedge.get(i, 0.0))
        yc = top + h / 2
        c, a = centre(yc), tilt(yc)
        w = spine.widths[i]
        bevel = 3.0
        corners = box_corners(c, yc, w, h, a)
        octagon = [
            lerp(corners[0], corners[1], bevel / w),
            lerp(corners[0], corners[1], 1 - bevel / w),
            lerp(corners[1], corners[2], bevel / h),
            lerp(corners[1], corners[2], 1 - bevel / h),
            lerp(corners[2], corners[3], bevel / w),
            lerp(corners[2], corners[3], 1 - bevel / w),
            lerp(corners[3], corners[0], bevel / h),
            lerp(corners[3], corners[0], 1 - bevel / h),
        ]
        _body(canvas, octagon, spine, 0.1 * degeneration)
        if spine.wedge.get(i):  # the compacted, denser body of a compression fracture
            canvas.box(c, top + h * 0.3, w * 0.85, h * 0.35, a, 0.3 * spine.wedge[i] / 0.25)
        rotation = -amplitude / 40.0  # vertebral rotation moves pedicles to the convex side
        ca, sa = math.cos(a), math.sin(a)
        for side in (-1, 1):
            offset = side * (w / 2 - 9) + rotation * 6
            px, py = c + offset * ca - (-h * 0.2) * sa, yc - h * 0.2 + offset * sa
            canvas.ring(px, py, 4.5, 6.5, a, 1.6, spine.cortex * 0.9)
            length = (22 if i == 3 else 17 if i > 0 else 12) * (1 + 0.1 * rng.standard_normal())
            tp = (c + side * (w / 2 + length / 2 - 3) * ca, py - 1 + side * (w / 2) * sa)
            canvas.box(tp[0], tp[1], length, 6.5, a + side * 0.1, spine.trabecular * 0.55)
            if i < 5:
                fy = top + h + spine.discs[i] / 2
                extra = 0.13 * facet * rng.uniform(0.7, 1.3)
                canvas.ellipse(
                    c + side * (w * 0.21) - rotation * 3,
                    fy,
                    3.5 + facet,
                    6 + facet,
                    a,
                    spine.cortex * 0.45 + extra,
                )
        canvas.ellipse(c - rotation * 5, yc + h * 0.22, 4.5, 9.0, a, spine.cortex * 0.65)
        for level, corner, size in spine.osteophytes:
            if level == i:
                side = -1 if corner in (0, 3) else 1
                point = (
                    octagon[1]
                    if corner == 1
                    else octagon[0]
                    if corner == 0
                    else (octagon[4] if corner == 2 else octagon[5])
                )
                _spur(
                    canvas,
                    (point[0] + side * 1.0, point[1]),
                    side,
                    1 if corner < 2 else -1,
                    size,
                    spine,
                )
    if spine.truth.implant:
        _implants_ap(canvas, spine, tops, centre, tilt)
    if marker:
        _marker(canvas, width_mm * 0.08, height_mm * 0.06, marker)


def _pelvis_ap(
    canvas: Canvas, spine: Spine, cs: float, s_top: float, rng: np.random.Generator
) -> None:
    canvas.polygon(
        [(cs - 50, s_top), (cs + 50, s_top), (cs + 16, s_top + 100), (cs - 16, s_top + 100)],
        spine.trabecular * 0.85,
    )
    for row in range(4):
        for side in (-1, 1):
            canvas.ellipse(
                cs + side * (20 - row * 2.5),
                s_top + 18 + row * 20,
                4.5,
                3.5,
                0,
                -spine.trabecular * 0.35,
            )
    sij = spine.truth.severity["sij_degeneration"]
    for side in (-1, 1):
        centre = (cs + side * 95, s_top + 15)
        canvas.ellipse(centre[0], centre[1], 72, 68, side * 0.3, spine.trabecular * 0.55)
        canvas.ring(centre[0], centre[1], 72, 68, side * 0.3, 2.5, spine.cortex * 0.6)
        upper, lower = (cs + side * 43, s_top + 2), (cs + side * 29, s_top + 80)
        canvas.stroke(upper, lower, 2.6, -spine.trabecular * 0.55)  # the joint space
        if sij:
            for t in np.linspace(0.05, 0.95, 9):
                x, y = lerp(upper, lower, float(t))
                for bank in (-1, 1):
                    canvas.ellipse(
                        x + bank * side * (3.5 + rng.uniform(0, 1.5)),
                        y,
                        1.8 + 0.8 * sij,
                        6 + 2 * sij,
                        0.2 * side,
                        0.12 * sij * rng.uniform(0.7, 1.3),
                    )


def _implants_ap(
    canvas: Canvas,
    spine: Spine,
    tops: list[float],
    centre: Callable[[float], float],
    tilt: Callable[[float], float],
) -> None:
    kind = spine.truth.implant
    levels = spine.fused or (4, 5)
    ys = [tops[i] + spine.heights[i] * 0.35 for i in levels]
    if kind == "disc_prosthesis":
        k = levels[-1]
        y = tops[k] + spine.heights[k] + spine.discs[k] / 2
        canvas.box(centre(y), y - 3, 34, 2.5, tilt(y), _METAL)
        canvas.box(centre(y), y + 3, 34, 2.5, tilt(y), _METAL)
        return
    if kind == "interspinous":
        k = levels[-1]
        y = tops[k] + spine.heights[k] + spine.discs[k] / 2
        canvas.box(centre(y), y, 12, 14, tilt(y), _METAL * 0.6)
        return
    for y in ys:
        c, a = centre(y), tilt(y)
        for side in (-1, 1):
            canvas.box(c + side * 13, y, 28, 5.5, a + side * 0.35, _METAL)
    for side in (-1, 1):
        points = [(centre(y) + side * 25, y) for y in ys]
        for start, end in itertools.pairwise(points):
            canvas.stroke((start[0], start[1] - 6), (end[0], end[1] + 6), 5.0, _METAL * 0.8)
    if kind == "screws_rods_cages":
        for i in levels[:-1]:
            y = tops[i] + spine.heights[i] + spine.discs[i] / 2
            canvas.box(centre(y), y, 24, max(spine.discs[i] - 1, 3), tilt(y), 0.25)
            for side in (-1, 1):
                canvas.ellipse(centre(y) + side * 10, y, 1.3, 1.3, 0, _METAL)


def draw_lateral(
    canvas: Canvas,
    spine: Spine,
    rng: np.random.Generator,
    posture: str = "standing",
    marker: str = "",
) -> None:
    """A lateral (sagittal) view, anterior to the left, in ``posture``."""
    height_mm = canvas.rows * canvas.mm
    width_mm = canvas.cols * canvas.mm
    _soft_tissue(canvas, spine.lat_x + 10, width_mm * 0.45, height_mm, rng)
    tops = _tops(spine)
    bottom = tops[5] + spine.heights[5]
    mid, half = (spine.top + bottom) / 2, (bottom - spine.top) / 2
    lordosis = spine.lordosis + _POSTURE_LORDOSIS[posture]
    if spine.fused:
        lordosis = spine.lordosis  # a fused segment does not move
    offsets = [0.0] * 6
    for i in range(5, -1, -1):  # a slip carries every vertebra above it
        offsets[i] = (offsets[i + 1] if i < 5 else 0.0) - spine.slip(i, posture)

    def centre(y: float) -> float:
        t = (y - mid) / half
        return spine.lat_x - lordosis * (1 - t * t)

    def angle(y: float) -> float:
        t = (y - mid) / half
        return -math.atan(2 * lordosis * t / half)

    degeneration = spine.truth.severity["diffuse_degeneration"]
    facet = spine.truth.severity["facet_sclerosis"]
    s_top = bottom + spine.discs[5]
    cs = centre(s_top) + 4
    slope = angle(s_top) - 0.45
    sacrum = box_corners(cs + 30, s_top + 42, 48, 92, slope)
    canvas.polygon(
        [sacrum[0], sacrum[1], lerp(sacrum[1], sacrum[2], 1.0), lerp(sacrum[3], sacrum[2], 0.55)],
        spine.trabecular * 0.9,
    )
    canvas.ellipse(cs + 45, s_top + 10, 80, 58, 0.25, spine.trabecular * 0.45)  # ilia
    for i in range(6):
        top, h = tops[i], spine.heights[i]
        yc = top + h / 2
        c, a = centre(yc) + offsets[i], angle(yc)
        d = spine.depths[i]
        corners = box_corners(c, yc, d, h, a)
        wedge = spine.wedge.get(i, 0.0)
        if wedge:  # anterior height lost: the anterior-superior corner comes down
            corners[0] = lerp(corners[0], corners[3], wedge)
            corners[1] = lerp(corners[1], corners[2], wedge * 0.25)
        _body(canvas, corners, spine, 0.1 * degeneration)
        if wedge:  # compacted trabeculae: a sclerotic band under the collapsed endplate
            band = [
                corners[0],
                corners[1],
                lerp(corners[1], corners[2], 0.35),
                lerp(corners[0], corners[3], 0.35),
            ]
            canvas.polygon(band, 0.35 * wedge / 0.25)
        ca, sa = math.cos(a), math.sin(a)

        def at(
            u: float, v: float, c: float = c, yc: float = yc, ca: float = ca, sa: float = sa
        ) -> Point:
            return (c + u * ca - v * sa, yc + u * sa + v * ca)

        canvas.polygon(
            [
                at(d / 2, -h * 0.45),
                at(d / 2 + 13, -h * 0.4),
                at(d / 2 + 13, -h * 0.02),
                at(d / 2, -h * 0.02),
            ],
            spine.cortex * 0.8,
        )  # pedicle
        if i < 5:
            canvas.ellipse(
                *at(d / 2 + 6, h / 2 + spine.discs[i] / 2), 5.5, 8.5, a, -spine.trabecular * 0.25
            )  # foramen
            joint = at(d / 2 + 19, h / 2 + 1)
            canvas.ellipse(joint[0], joint[1], 6, 9, a - 0.3, spine.cortex * 0.55 + 0.14 * facet)
        canvas.polygon(
            [
                at(d / 2 + 22, -h * 0.1),
                at(d / 2 + 50, h * 0.25),
                at(d / 2 + 48, h * 0.55),
                at(d / 2 + 22, h * 0.45),
            ],
            spine.trabecular * 0.8,
        )  # spinous process
        for level, corner, size in spine.osteophytes:
            if level == i and corner in (0, 3):
                _spur(canvas, corners[corner], -1, 1 if corner == 0 else -1, size * 1.1, spine)
        if i < 5 and degeneration >= 2 and rng.random() < 0.3 * degeneration:
            gap = at(0, h / 2 + spine.discs[i] / 2)
            canvas.box(gap[0], gap[1], d * 0.5, 1.2, a, -0.2)  # vacuum phenomenon
    if spine.truth.implant:
        _implants_lateral(canvas, spine, tops, centre, angle, offsets)
    if marker:
        _marker(canvas, width_mm * 0.08, height_mm * 0.06, marker)


def _implants_lateral(
    canvas: Canvas,
    spine: Spine,
    tops: list[float],
    centre: Callable[[float], float],
    angle: Callable[[float], float],
    offsets: list[float],
) -> None:
    kind = spine.truth.implant
    levels = spine.fused or (4, 5)
    if kind in ("disc_prosthesis", "interspinous"):
        k = levels[-1]
        y = tops[k] + spine.heights[k] + spine.discs[k] / 2
        c, a = centre(y) + offsets[k], angle(y)
        if kind == "disc_prosthesis":
            canvas.box(c, y - 3, spine.depths[k] * 0.8, 2.5, a, _METAL)
            canvas.box(c, y + 3, spine.depths[k] * 0.8, 2.5, a, _METAL)
        else:
            canvas.box(c + spine.depths[k] / 2 + 38, y, 16, 12, a, _METAL * 0.6)
        return
    heads = []
    for i in levels:
        y = tops[i] + spine.heights[i] * 0.4
        c, a = centre(y) + offsets[i], angle(y)
        d = spine.depths[i]
        head = (c + (d / 2 + 18) * math.cos(a), y + (d / 2 + 18) * math.sin(a))
        tip = (c - (d / 2 - 6) * math.cos(a), y - (d / 2 - 6) * math.sin(a) + 3)
        canvas.stroke(head, tip, 5.5, _METAL)
        heads.append(head)
    for start, end in itertools.pairwise(heads):
        canvas.stroke((start[0], start[1] - 6), (end[0], end[1] + 6), 5.0, _METAL * 0.8)
    if kind == "screws_rods_cages":
        for i in levels[:-1]:
            y = tops[i] + spine.heights[i] + spine.discs[i] / 2
            c, a = centre(y) + offsets[i], angle(y)
            canvas.box(c, y, spine.depths[i] * 0.7, max(spine.discs[i] - 1, 3), a, 0.25)
            for u in (-spine.depths[i] * 0.3, spine.depths[i] * 0.3):
                canvas.ellipse(c + u * math.cos(a), y + u * math.sin(a), 1.3, 1.3, 0, _METAL)
