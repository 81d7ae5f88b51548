"""Which simulated studies humans annotated, in the reference study's proportions.

Galbusera et al. annotated 4490 of 14,777 reports (4288 to train the NLP
models, 202 to test them) and, among the remaining image pairs, 481 (the
"2steps" tuning set) and 204 (the test set) at image level. The simulated
hospital keeps the same shares by default; each size is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ANNOTATION_SETS", "AnnotationPlan", "assign_sets"]

ANNOTATION_SETS = ("report_train", "report_test", "image_tuning", "image_test", "corpus")

_PAPER_TOTAL = 14777


@dataclass(frozen=True, slots=True)
class AnnotationPlan:
    """Shares of the archive in each annotation set (the rest is the unannotated corpus)."""

    report_train: float = 4288 / _PAPER_TOTAL
    report_test: float = 202 / _PAPER_TOTAL
    image_tuning: float = 481 / _PAPER_TOTAL
    image_test: float = 204 / _PAPER_TOTAL

    def sizes(self, count: int) -> dict[str, int]:
        """How many studies of an archive of ``count`` go in each set (at least 1 each when
        the archive has room, so small archives still have every set)."""
        shares = {
            "report_train": self.report_train,
            "report_test": self.report_test,
            "image_tuning": self.image_tuning,
            "image_test": self.image_test,
        }
        sizes = {name: round(share * count) for name, share in shares.items()}
        if count >= 20:
            sizes = {name: max(size, 1) for name, size in sizes.items()}
        if sum(sizes.values()) > count:
            raise ValueError(
                f"the annotation sets ({sum(sizes.values())}) exceed the archive ({count})"
            )
        return sizes


PAPER_PLAN = AnnotationPlan()


def assign_sets(count: int, seed: int, plan: AnnotationPlan = PAPER_PLAN) -> list[str]:
    """The annotation set of each study index ``0 … count-1`` (deterministic by seed)."""
    order = np.random.default_rng([seed, 7919]).permutation(count)
    labels = ["corpus"] * count
    start = 0
    for name, size in plan.sizes(count).items():
        for index in order[start : start + size]:
            labels[int(index)] = name
        start += size
    return labels
