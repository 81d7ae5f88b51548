"""Measuring free-text de-identification against identifiers known to be in the text."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from pacsbridge.deid.identifiers import _NAME_PARTICLES
from pacsbridge.deid.text import _GENERIC, _JOINING

__all__ = ["DeidCase", "identifier_recall"]


@dataclass(frozen=True, slots=True)
class DeidCase:
    """One report: the text before and after de-identification, and the identifiers in it."""

    before: str
    after: str
    planted: tuple[tuple[str, str], ...]
    """(type, value) of each identifier written into ``before``."""


#: Words of an identifier that identify no one on their own (titles, particles, "per",
#: "Radiologia"): their staying in the text is not a leak.
_COMMON = {"SIG", "SIG.RA", "VIA"} | {
    word.upper() for word in (*_GENERIC, *_JOINING, *_NAME_PARTICLES)
}


def _removed(value: str, after: str) -> bool:
    """Whether no identifying part of ``value`` (its words of 3+ letters that identify on
    their own, or the whole when it holds digits) is left in ``after``."""
    text = after.upper()
    words = [w for w in re.split(r"[\s,.]+", value.upper()) if len(w) >= 3 and w not in _COMMON]
    if not words or any(ch.isdigit() for ch in value):  # then only the whole identifies
        return value.upper() not in text
    return not any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text) for w in words)


def identifier_recall(cases: Iterable[DeidCase]) -> dict[str, tuple[int, int]]:
    """Per identifier type: (removed, planted)."""
    planted: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for case in cases:
        for kind, value in case.planted:
            planted[kind] += 1
            removed[kind] += _removed(value, case.after)
    return {kind: (removed[kind], planted[kind]) for kind in sorted(planted)}
