"""Which findings a simulated patient has: prevalence that rises with age, as in
degenerative disease, and the co-occurrences a lumbar clinic sees."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FINDINGS", "IMPLANT_KINDS", "Truth", "draw_findings"]

#: The lumbar spine task's findings, in the task's order. The simulator knows
#: how each one looks and how radiologists word it; a test checks these keys
#: against the task definition.
FINDINGS = (
    "instrumentation",
    "loss_of_lordosis",
    "facet_sclerosis",
    "sij_degeneration",
    "osteophytosis",
    "osteoporosis",
    "diffuse_degeneration",
    "scoliosis",
    "fractures",
    "disc_narrowing",
    "anterolisthesis",
    "retrolisthesis",
)

IMPLANT_KINDS = ("screws_rods", "screws_rods_cages", "disc_prosthesis", "interspinous")

# Log-odds at age 50 and per decade of age (degenerative findings rise with age).
_BASE = {
    "instrumentation": (-2.6, 0.25),
    "loss_of_lordosis": (-1.2, 0.25),
    "facet_sclerosis": (-1.0, 0.45),
    "sij_degeneration": (-1.6, 0.35),
    "osteophytosis": (-0.6, 0.55),
    "osteoporosis": (-2.0, 0.60),
    "diffuse_degeneration": (-0.7, 0.60),
    "scoliosis": (-1.6, 0.30),
    "fractures": (-2.6, 0.45),
    "disc_narrowing": (-0.8, 0.50),
    "anterolisthesis": (-1.6, 0.35),
    "retrolisthesis": (-2.2, 0.25),
}

#: Share of retrolistheses whose own disc is narrowed (degenerative retrolisthesis).
_RETRO_WITH_NARROW_DISC = 0.7


@dataclass(frozen=True, slots=True)
class Truth:
    """What one simulated patient's spine really has (the disease, all views together).

    ``severity[key]`` is 0 when the finding is absent, else 1 (mild) to 3
    (severe); ``level[key]`` is the vertebra (0 = L1 … 4 = L5) where a focal
    finding sits; ``implant`` names the kind of instrumentation.
    What the standing AP + lateral pair shows can be less (a listhesis seen
    only in flexion): see :meth:`simhospital.imaging.anatomy.Spine.pair_truth`.
    """

    age: int
    sex: str
    severity: dict[str, int]
    level: dict[str, int]
    implant: str = ""

    def present(self, key: str) -> bool:
        return self.severity.get(key, 0) > 0


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def draw_findings(rng: np.random.Generator) -> Truth:
    """Draw age, sex and findings for one patient."""
    age = int(np.clip(rng.normal(58, 16), 18, 95))
    sex = str(rng.choice(["F", "M"], p=[0.56, 0.44]))
    decades = (age - 50) / 10
    severity: dict[str, int] = {}
    for key in FINDINGS:
        base, slope = _BASE[key]
        if key == "osteoporosis" and sex == "F":
            base += 0.6
        p = _sigmoid(base + slope * decades)
        severity[key] = int(rng.integers(1, 4)) if rng.random() < p else 0
    # Co-occurrence: degeneration brings its companions; osteoporosis brings fractures.
    if severity["diffuse_degeneration"]:
        for key in ("osteophytosis", "disc_narrowing", "facet_sclerosis"):
            if not severity[key] and rng.random() < 0.5:
                severity[key] = int(rng.integers(1, 3))
    if severity["osteoporosis"] and not severity["fractures"] and rng.random() < 0.25:
        severity["fractures"] = int(rng.integers(1, 4))
    if severity["anterolisthesis"] and severity["retrolisthesis"] and rng.random() < 0.7:
        severity["retrolisthesis"] = 0
    if severity["anterolisthesis"] and not severity["instrumentation"] and rng.random() < 0.15:
        severity["instrumentation"] = int(rng.integers(1, 4))  # fused for the slip
    level = {
        "fractures": int(rng.choice([0, 0, 0, 1, 1, 2, 3])),
        "anterolisthesis": int(rng.choice([3, 3, 3, 4, 2])),
        "retrolisthesis": int(rng.choice([1, 2, 2, 3])),
        "disc_narrowing": int(rng.choice([2, 3, 3, 4, 4])),
        "instrumentation": int(rng.choice([2, 3, 3, 4])),
    }
    # A retrolisthesis is degenerative: the disc under the slipped vertebra has
    # usually lost height too (it is the same disc in both findings' levels).
    if severity["retrolisthesis"] and rng.random() < _RETRO_WITH_NARROW_DISC:
        severity["disc_narrowing"] = max(severity["disc_narrowing"], int(rng.integers(1, 4)))
        level["disc_narrowing"] = level["retrolisthesis"]
    implant = ""
    if severity["instrumentation"]:
        implant = str(rng.choice(IMPLANT_KINDS, p=[0.5, 0.3, 0.1, 0.1]))
    return Truth(age=age, sex=sex, severity=severity, level=level, implant=implant)
