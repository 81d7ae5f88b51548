"""Procedural AP and lateral radiographs of a lumbar spine.

Anatomy is laid out in millimetres (L1–L5 bodies with cortex and endplates,
discs, pedicles, transverse and spinous processes, facets, sacrum, iliac
wings and sacroiliac joints, soft tissue), turned into an attenuation map,
then into a 12-bit detector image with exposure variation and quantum noise.
Each finding of :mod:`pacsbridge.simulator.findings` changes the anatomy the
way it shows on a radiograph, with its severity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pacsbridge.simulator.findings import Truth

__all__ = ["FIELD_OF_VIEW_MM", "render_ap", "render_lateral"]

FIELD_OF_VIEW_MM = (360.0, 300.0)  # height, width

_BODY_H = 27.0
_DISC_H = 9.5
_TOP = 62.0
_METAL = 3.5


class _Canvas:
    """An attenuation map with anti-aliased convex shapes, coordinates in mm."""

    def __init__(self, rows: int, cols: int) -> None:
        self.att = np.zeros((rows, cols), dtype=np.float32)
        self.mm = FIELD_OF_VIEW_MM[0] / rows  # square pixels
        self.rows, self.cols = rows, cols

    def _window(
        self, xs: list[float], ys: list[float], pad: float
    ) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
        r0 = max(int((min(ys) - pad) / self.mm), 0)
        r1 = min(int((max(ys) + pad) / self.mm) + 1, self.rows)
        c0 = max(int((min(xs) - pad) / self.mm), 0)
        c1 = min(int((max(xs) + pad) / self.mm) + 1, self.cols)
        if r0 >= r1 or c0 >= c1:
            return None
        y = (np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5) * self.mm
        x = (np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5) * self.mm
        return slice(r0, r1), slice(c0, c1), x, y

    def polygon(self, points: list[tuple[float, float]], value: float) -> None:
        """A convex polygon, corners counter-clockwise or clockwise."""
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        win = self._window(xs, ys, 2 * self.mm)
        if win is None:
            return
        rs, cs, x, y = win
        area = sum(xs[i - 1] * ys[i] - xs[i] * ys[i - 1] for i in range(len(points)))
        sign = 1.0 if area > 0 else -1.0  # inside is on the left of every edge
        inside = np.full((rs.stop - rs.start, cs.stop - cs.start), np.inf, dtype=np.float32)
        for i in range(len(points)):
            (x0, y0), (x1, y1) = points[i - 1], points[i]
            length = math.hypot(x1 - x0, y1 - y0) or 1.0
            distance = sign * ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / length
            inside = np.minimum(inside, distance)
        self.att[rs, cs] += value * np.clip(0.5 + inside / self.mm, 0.0, 1.0)

    def box(self, cx: float, cy: float, w: float, h: float, angle: float, value: float) -> None:
        """A rectangle centred on (cx, cy), rotated by ``angle`` radians."""
        self.polygon(_box_corners(cx, cy, w, h, angle), value)

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, angle: float, value: float
    ) -> None:
        reach = max(rx, ry)
        win = self._window([cx - reach, cx + reach], [cy - reach, cy + reach], 2 * self.mm)
        if win is None:
            return
        rs, cs, x, y = win
        ca, sa = math.cos(angle), math.sin(angle)
        u = ((x - cx) * ca + (y - cy) * sa) / rx
        v = (-(x - cx) * sa + (y - cy) * ca) / ry
        r = np.sqrt(u * u + v * v)
        edge = (1.0 - r) * min(rx, ry) / self.mm
        self.att[rs, cs] += value * np.clip(0.5 + edge, 0.0, 1.0)


def _box_corners(
    cx: float, cy: float, w: float, h: float, angle: float
) -> list[tuple[float, float]]:
    ca, sa = math.cos(angle), math.sin(angle)
    corners = []
    for du, dv in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        corners.append((cx + du * ca - dv * sa, cy + du * sa + dv * ca))
    return corners


@dataclass(frozen=True, slots=True)
class _Bone:
    """Bone densities of one patient (osteoporosis thins and lightens them)."""

    trabecular: float
    cortex: float
    cortex_mm: float


def _bone(truth: Truth) -> _Bone:
    s = truth.severity["osteoporosis"]
    age_loss = max(truth.age - 40, 0) / 400
    return _Bone(
        trabecular=0.55 * (1 - 0.17 * s - age_loss),
        cortex=0.55 * (1 - 0.12 * s),
        cortex_mm=1.6 - 0.35 * s,
    )


def _vertebral_body(
    canvas: _Canvas, corners: list[tuple[float, float]], bone: _Bone, endplate_sclerosis: float
) -> None:
    """Body with cortex: outer polygon at cortex density, inner at trabecular."""
    cx = sum(p[0] for p in corners) / 4
    cy = sum(p[1] for p in corners) / 4
    canvas.polygon(corners, bone.cortex)
    inner = [
        (cx + (x - cx) * 0.86, cy + (y - cy) * (1 - 2 * bone.cortex_mm / _BODY_H))
        for x, y in corners
    ]
    canvas.polygon(inner, bone.trabecular - bone.cortex)
    if endplate_sclerosis:
        top = [
            corners[0],
            corners[1],
            _lerp(corners[1], corners[2], 0.12),
            _lerp(corners[0], corners[3], 0.12),
        ]
        bottom = [
            _lerp(corners[0], corners[3], 0.88),
            _lerp(corners[1], corners[2], 0.88),
            corners[2],
            corners[3],
        ]
        canvas.polygon(top, endplate_sclerosis)
        canvas.polygon(bottom, endplate_sclerosis)


def _lerp(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _levels(truth: Truth, rng: np.random.Generator) -> tuple[list[float], list[float]]:
    """Top y and height of each body L1–L5 (fractures shorten, narrowing closes discs)."""
    heights = [_BODY_H * (0.95 + 0.03 * i) for i in range(5)]
    discs = [_DISC_H * (0.9 + 0.06 * i) for i in range(5)]  # disc below each body
    if truth.present("fractures"):
        k = truth.level["fractures"]
        heights[k] *= 1 - 0.12 * truth.severity["fractures"]
    for key, factor in (("disc_narrowing", 0.22), ("diffuse_degeneration", 0.10)):
        s = truth.severity[key]
        if s:
            k = truth.level.get(key, int(rng.integers(2, 5)))
            discs[k] *= max(1 - factor * s, 0.2)
            if key == "diffuse_degeneration":
                for j in range(5):
                    discs[j] *= 1 - 0.05 * s
    tops = []
    y = _TOP
    for i in range(5):
        tops.append(y)
        y += heights[i] + discs[i]
    return tops, heights


def _to_detector(att: np.ndarray, rng: np.random.Generator, bits: int) -> np.ndarray:
    exposure = rng.uniform(0.75, 1.3)
    transmitted = np.exp(-att * 0.9 * exposure)
    signal = 1.0 - transmitted
    noise = rng.normal(0.0, 1.0, att.shape).astype(np.float32) * 0.012 * np.sqrt(transmitted + 0.05)
    top = (1 << bits) - 1
    values = np.clip((signal + noise) * top * rng.uniform(0.85, 1.0), 0, top)
    return values.astype(np.uint16)


def _soft_tissue(canvas: _Canvas, cx: float, width: float) -> None:
    h = FIELD_OF_VIEW_MM[0]
    canvas.ellipse(cx, h * 0.55, width, h * 0.75, 0.0, 0.45)
    canvas.ellipse(cx, h * 0.55, width * 0.8, h * 0.7, 0.0, 0.25)


def _osteophyte(
    canvas: _Canvas, x: float, y: float, direction: float, up: bool, size: float, bone: _Bone
) -> None:
    """A marginal spur at a body corner, pointing sideways and towards the disc."""
    dy = size * (0.6 if up else -0.6)
    canvas.polygon([(x, y), (x + direction * size, y + dy), (x, y + 2.2 * dy)], bone.cortex * 1.4)


def render_ap(
    truth: Truth, rows: int, cols: int, rng: np.random.Generator, bits: int = 12
) -> np.ndarray:
    """A standing AP (coronal) radiograph; returns unsigned ``bits``-bit pixels (bone bright)."""
    canvas = _Canvas(rows, cols)
    width_mm = cols * canvas.mm
    cx0 = width_mm / 2 + rng.normal(0, 6)
    _soft_tissue(canvas, cx0, width_mm * 0.5)
    bone = _bone(truth)
    tops, heights = _levels(truth, rng)
    sc = truth.severity["scoliosis"]
    amplitude = (7 + 9 * sc) * (1 if rng.random() < 0.5 else -1) if sc else rng.normal(0, 1.2)
    sclerosis = 0.12 * truth.severity["diffuse_degeneration"]

    def center(y: float) -> float:
        return cx0 + amplitude * math.sin(math.pi * (y - _TOP) / 230.0)

    def tilt(y: float) -> float:
        return math.atan(amplitude * math.pi / 230.0 * math.cos(math.pi * (y - _TOP) / 230.0)) * 0.8

    # Sacrum, iliac wings, sacroiliac joints.
    sacrum_top = tops[4] + heights[4] + _DISC_H
    cs = center(sacrum_top)
    canvas.polygon(
        [
            (cs - 52, sacrum_top),
            (cs + 52, sacrum_top),
            (cs + 20, sacrum_top + 95),
            (cs - 20, sacrum_top + 95),
        ],
        bone.trabecular * 0.9,
    )
    for side in (-1, 1):
        canvas.ellipse(cs + side * 88, sacrum_top + 10, 62, 58, side * 0.25, bone.trabecular * 0.7)
        canvas.ellipse(
            cs + side * 88, sacrum_top + 10, 58, 54, side * 0.25, -bone.trabecular * 0.25
        )
        joint = [
            (cs + side * 40, sacrum_top + 2),
            (cs + side * 44, sacrum_top + 2),
            (cs + side * 30, sacrum_top + 68),
            (cs + side * 26, sacrum_top + 68),
        ]
        canvas.polygon(joint, -bone.trabecular * 0.6)  # the joint space
        sij = truth.severity["sij_degeneration"]
        if sij:
            band = [
                (cs + side * 37, sacrum_top + 4),
                (cs + side * 41, sacrum_top + 4),
                (cs + side * 27, sacrum_top + 64),
                (cs + side * 23, sacrum_top + 64),
            ]
            canvas.polygon(band, 0.28 * sij)
            canvas.polygon([(x + side * 7, y) for x, y in band], 0.22 * sij)

    for i in range(5):
        top, h = tops[i], heights[i]
        y_mid = top + h / 2
        c = center(y_mid)
        a = tilt(y_mid)
        w = 44 + 2.2 * i
        corners = _box_corners(c, y_mid, w, h, a)
        _vertebral_body(canvas, corners, bone, sclerosis)
        for side in (-1, 1):  # pedicles: cortical rings
            px, py = c + side * (w / 2 - 10) * math.cos(a), y_mid - h * 0.18
            canvas.ellipse(px, py, 4.5, 6.5, a, bone.cortex * 0.8)
            canvas.ellipse(px, py, 3.0, 4.8, a, -bone.cortex * 0.45)
            length = 22 if i == 2 else 17
            canvas.box(
                c + side * (w / 2 + length / 2 - 4),
                py - 1,
                length,
                7,
                a + side * 0.08,
                bone.trabecular * 0.55,
            )
            fs = truth.severity["facet_sclerosis"]
            if fs:
                canvas.ellipse(c + side * 9, top + h + 2, 4 + fs, 5 + fs, a, 0.16 * fs)
        canvas.ellipse(c, y_mid + h * 0.2, 4.5, 8.0, a, bone.cortex * 0.6)  # spinous process
        osteo = max(truth.severity["osteophytosis"], truth.severity["diffuse_degeneration"] - 1)
        if osteo and rng.random() < 0.35 + 0.2 * osteo:
            for side in (-1, 1):
                x_edge = c + side * w / 2
                _osteophyte(canvas, x_edge, top + 0.5, side, True, 2.5 + 2.0 * osteo, bone)
                _osteophyte(canvas, x_edge, top + h - 0.5, side, False, 2.5 + 2.0 * osteo, bone)

    if truth.present("instrumentation"):
        _implants_ap(canvas, truth, tops, heights, center, tilt)
    return _to_detector(canvas.att, rng, bits)


def _implants_ap(
    canvas: _Canvas,
    truth: Truth,
    tops: list[float],
    heights: list[float],
    cfun: Callable[[float], float],
    tfun: Callable[[float], float],
) -> None:
    k = truth.level["instrumentation"]
    span = 1 + truth.severity["instrumentation"] // 2  # levels fused
    first, last = max(k - span + 1, 0), min(k + 1, 4)
    ys = []
    for i in range(first, last + 1):
        y = tops[i] + heights[i] * 0.35
        ys.append(y)
        c, a = cfun(y), tfun(y)
        for side in (-1, 1):
            canvas.box(c + side * 14, y, 26, 5.5, a + side * 0.35, _METAL)
    for side in (-1, 1):
        x0 = cfun(ys[0]) + side * 24
        x1 = cfun(ys[-1]) + side * 24
        canvas.polygon(
            [
                (x0 - 2.5, ys[0] - 8),
                (x0 + 2.5, ys[0] - 8),
                (x1 + 2.5, ys[-1] + 8),
                (x1 - 2.5, ys[-1] + 8),
            ],
            _METAL * 0.8,
        )
    if truth.severity["instrumentation"] >= 2:
        y = tops[last] - 5
        canvas.box(cfun(y), y, 26, 7, tfun(y), _METAL * 0.45)


def render_lateral(
    truth: Truth, rows: int, cols: int, rng: np.random.Generator, bits: int = 12
) -> np.ndarray:
    """A standing lateral (sagittal) radiograph, anterior to the left."""
    canvas = _Canvas(rows, cols)
    width_mm = cols * canvas.mm
    base = width_mm * 0.52 + rng.normal(0, 5)
    _soft_tissue(canvas, base + 10, width_mm * 0.45)
    bone = _bone(truth)
    tops, heights = _levels(truth, rng)
    lordosis = 14.0 + rng.normal(0, 2)
    ll = truth.severity["loss_of_lordosis"]
    if ll:
        lordosis *= [1.0, 0.45, 0.05, -0.5][ll]
    mid, half = (_TOP + tops[4] + heights[4]) / 2, (tops[4] + heights[4] - _TOP) / 2

    def center(y: float) -> float:  # anterior is smaller x: lordosis brings L3 forward
        t = (y - mid) / half
        return base - lordosis * (1 - t * t)

    def angle(y: float) -> float:
        t = (y - mid) / half
        return math.atan(lordosis * 2 * t / half)

    slip = [0.0] * 5
    if truth.present("anterolisthesis"):
        slip[truth.level["anterolisthesis"]] -= 2.5 + 2.5 * truth.severity["anterolisthesis"]
    if truth.present("retrolisthesis"):
        slip[truth.level["retrolisthesis"]] += 2.0 + 1.5 * truth.severity["retrolisthesis"]
    sclerosis = 0.12 * truth.severity["diffuse_degeneration"]
    osteo = max(truth.severity["osteophytosis"], truth.severity["diffuse_degeneration"] - 1)
    wedge_level = truth.level["fractures"] if truth.present("fractures") else -1

    sacrum_top = tops[4] + heights[4] + _DISC_H
    cs = center(sacrum_top) + 4
    canvas.polygon(
        [
            (cs - 22, sacrum_top),
            (cs + 24, sacrum_top - 6),
            (cs + 55, sacrum_top + 80),
            (cs + 25, sacrum_top + 92),
        ],
        bone.trabecular * 0.95,
    )
    canvas.ellipse(cs + 35, sacrum_top + 10, 75, 55, 0.3, bone.trabecular * 0.45)  # ilium overlap

    for i in range(5):
        top, h = tops[i], heights[i]
        y_mid = top + h / 2
        c = center(y_mid) + slip[i]
        a = angle(y_mid)
        depth = 34 + 1.5 * i
        corners = _box_corners(c, y_mid, depth, h, a)
        if i == wedge_level:  # anterior height lost: move the anterior-top corner down
            s = truth.severity["fractures"]
            corners[0] = _lerp(corners[0], corners[3], 0.12 + 0.12 * s)
        _vertebral_body(canvas, corners, bone, sclerosis)
        ca, sa = math.cos(a), math.sin(a)
        back = (c + (depth / 2) * ca, y_mid + (depth / 2) * sa)
        canvas.box(back[0] + 7 * ca, back[1] - 4 + 7 * sa, 15, 9, a, bone.cortex * 0.75)  # pedicle
        facet = (back[0] + 18 * ca - (h / 2 + 2) * sa, back[1] + (h / 2 + 2) * ca + 18 * sa)
        fs = truth.severity["facet_sclerosis"]
        canvas.ellipse(facet[0], facet[1], 6, 8, a, bone.cortex * 0.6 + 0.2 * fs)
        canvas.box(
            back[0] + 36 * ca, back[1] + 4 + 36 * sa, 28, 10, a + 0.25, bone.trabecular * 0.8
        )  # spinous process
        if osteo and rng.random() < 0.35 + 0.2 * osteo:
            _osteophyte(
                canvas, corners[0][0], corners[0][1] + 0.5, -1, True, 2.5 + 2.0 * osteo, bone
            )
            _osteophyte(
                canvas, corners[3][0], corners[3][1] - 0.5, -1, False, 2.5 + 2.0 * osteo, bone
            )

    if truth.present("instrumentation"):
        k = truth.level["instrumentation"]
        span = 1 + truth.severity["instrumentation"] // 2
        levels = range(max(k - span + 1, 0), min(k + 1, 4) + 1)
        ys = [tops[i] + heights[i] * 0.4 for i in levels]
        for y in ys:
            c, a = center(y), angle(y)
            canvas.box(c + 6, y, 42, 5.5, a - 0.05, _METAL)
        x_rod = [center(y) + 30 for y in ys]
        canvas.polygon(
            [
                (x_rod[0] - 2.5, ys[0] - 8),
                (x_rod[0] + 2.5, ys[0] - 8),
                (x_rod[-1] + 2.5, ys[-1] + 8),
                (x_rod[-1] - 2.5, ys[-1] + 8),
            ],
            _METAL * 0.8,
        )
    return _to_detector(canvas.att, rng, bits)
