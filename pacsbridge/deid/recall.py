"""Measuring free-text de-identification against identifiers known to be in the text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DeidCase", "identifier_recall"]


@dataclass(frozen=True, slots=True)
class DeidCase:
    """One report: the text before and after de-identification, and the identifiers in it."""

    before: str
    after: str
    planted: tuple[tuple[str, str], ...]
    """(type, value) of each identifier written into ``before``."""


def _removed(value: str, after: str) -> bool:
    """Whether no identifying part of ``value`` (words of 3+ letters, or the whole) is left."""
    text = after.upper()
    words = [w for w in re.split(r"[\s,.]+", value.upper()) if len(w) >= 3]
    if not words or any(ch.isdigit() for ch in value):
        return value.upper() not in text
    return not any(
        re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text)
        for w in words
        if w not in ("SIG", "SIG.RA", "VIA")
    )


def identifier_recall(cases: Iterable[DeidCase]) -> dict[str, tuple[int, int]]:
    """Per identifier type: (removed, planted)."""
    planted: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for case in cases:
        for kind, value in case.planted:
            planted[kind] += 1
            removed[kind] += _removed(value, case.after)
    return {kind: (removed[kind], planted[kind]) for kind in sorted(planted)}
