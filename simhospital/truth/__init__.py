"""The simulated hospital's ground truth: which findings a patient has
(:mod:`~simhospital.truth.findings`) and which studies humans annotated
(:mod:`~simhospital.truth.annotations`)."""

from simhospital.truth.annotations import ANNOTATION_SETS, AnnotationPlan, assign_sets
from simhospital.truth.findings import FINDINGS, IMPLANT_KINDS, Truth, draw_findings

__all__ = [
    "ANNOTATION_SETS",
    "FINDINGS",
    "IMPLANT_KINDS",
    "AnnotationPlan",
    "Truth",
    "assign_sets",
    "draw_findings",
]
