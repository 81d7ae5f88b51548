"""Report text normalisation, as in the reference study (lower case, line breaks to spaces)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise_report"]

_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans(
    {"’": "'", "‘": "'", "`": "'", "´": "'", "“": '"', "”": '"', "–": "-", "—": "-"}
)


def normalise_report(text: str) -> str:
    """Return ``text`` lower-cased, NFC-normalised, with every run of white space
    (line breaks included) turned into one space and typographic quotes and
    dashes made plain.
    """
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    return _SPACES.sub(" ", text).strip().lower()
