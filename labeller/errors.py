"""Errors of the labeller package.

::

    LabellerError
    └── InvalidLexicon      a lexicon term does not compile
"""

from __future__ import annotations

__all__ = ["InvalidLexicon", "LabellerError"]


class LabellerError(Exception):
    """Base of every error raised by :mod:`labeller`."""


class InvalidLexicon(LabellerError, ValueError):
    """A lexicon term cannot be turned into a pattern; the message names it."""
