"""Tolerance to typing and speech-recognition errors, against a lexicon's own words.

:class:`SpellingRepair` knows the words and stems of a lexicon (``osteofit*``,
``lordosi``…). A report word that is none of them but is one edit (insertion,
deletion, substitution or swap of two letters) from one — two for words of ten
letters or more — is replaced by it; two words that speech recognition split
("antero listesi", "inter somatico") are joined when the join is a lexicon word.
Short words and words of the language's ordinary vocabulary are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["SpellingRepair", "edit_distance"]

_WORD = re.compile(r"[^\W\d_]+")


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal string alignment distance (Damerau–Levenshtein without repeated edits),
    stopping early beyond ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


class SpellingRepair:
    """Repairs misspelt and split lexicon words in normalised (lower-case) text.

    Parameters
    ----------
    terms
        Lexicon terms (``stem*``, words, ``a ... b``); raw regular expressions are skipped.
    keep
        Words that are right as they are (triggers, ordinary words): never changed.
    """

    def __init__(self, terms: Iterable[str], keep: Iterable[str] = ()) -> None:
        words: set[str] = set()
        stems: set[str] = set()
        for term in terms:
            if term.startswith("re:"):
                continue
            for token in term.split():
                if token != "...":
                    (stems if token.endswith("*") else words).add(token.rstrip("*").lower())
        self._fixed = {k.lower() for term in keep for k in term.split()}
        self._keep = self._fixed | words
        self._stems = tuple(sorted(s for s in stems if len(s) >= 5))
        self._stem_set = frozenset(self._stems)
        # Candidates by first letter (a typo in the first letter is left alone).
        self._by_letter: dict[str, list[tuple[str, bool]]] = {}
        for target, is_stem in [
            *((w, False) for w in words if len(w) >= 5),
            *((s, True) for s in self._stems),
        ]:
            self._by_letter.setdefault(target[0], []).append((target, is_stem))
        self._cache: dict[str, str] = {}

    def _known(self, word: str) -> bool:
        return word in self._keep or word.startswith(self._stems)

    def _reach(self, word: str) -> int:
        """How much of ``word`` a lexicon word or stem accounts for (0: none)."""
        if word in self._keep:
            return len(word)
        for length in range(len(word), 4, -1):
            if word[:length] in self._stem_set:
                return length
        return 0

    def _join(self, word: str, following: str) -> str | None:
        """The word speech recognition split into ``word`` and ``following``, if any:
        the join is a lexicon word, or one edit from one, and says more of it than
        ``word`` alone ("disco patia", "spazia tore", "facce te")."""
        if len(word) < 3 or word in self._fixed or following in self._fixed:
            return None
        joined = word + following
        if not self._known(joined):
            # A misspelt join only of fragments: "facce te", not "discreta riduzione",
            # nor a whole word and the next ("lordosi appare").
            if len(following) > 6 or self._reach(following) or word in self._keep:
                return None
            repaired = self._repair(joined)
            if repaired == joined:
                return None
            joined = repaired
        return joined if self._reach(joined) > self._reach(word) else None

    def _repair(self, word: str) -> str:
        if len(word) < 5 or self._known(word):
            return word
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        limit = 2 if len(word) >= 10 else 1
        best, best_distance = word, limit + 1
        for target, is_stem in self._by_letter.get(word[0], ()):
            if not is_stem:
                if abs(len(word) - len(target)) <= limit:
                    distance = edit_distance(word, target, limit)
                    if distance < best_distance:
                        best, best_distance = target, distance
                continue
            for cut in (len(target) - 1, len(target), len(target) + 1):
                if cut <= len(word):
                    distance = edit_distance(word[:cut], target, limit)
                    if distance < best_distance:
                        best, best_distance = target + word[cut:], distance
        self._cache[word] = best
        return best

    def __call__(self, text: str) -> str:
        """``text`` with split words joined and misspelt ones repaired."""
        pieces: list[str] = []
        position = 0
        tokens = list(_WORD.finditer(text))
        skip = False
        for index, current in enumerate(tokens):
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if skip:
                skip = False
                continue
            pieces.append(text[position : current.start()])
            word = current.group(0)
            if following is not None and text[current.end() : following.start()] in (" ", "-"):
                joined = self._join(word, following.group(0))
                if joined is not None:
                    pieces.append(joined)
                    position, skip = following.end(), True
                    continue
            pieces.append(self._repair(word))
            position = current.end()
        pieces.append(text[position:])
        return "".join(pieces)
