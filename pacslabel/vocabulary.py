"""Where the labeller's words meet the database's: one conversion each way.

:mod:`labeller` and :mod:`db` may not import each other, so each has its own
enum of the four states (:class:`labeller.State`, :class:`db.LabelState`) and
its own word for where a label came from; these functions are the only place
they are converted.
"""

from __future__ import annotations

from db import LabelSource, LabelState
from labeller import Labeller, State

__all__ = ["db_state", "label_source", "labeller_state"]


def db_state(state: State) -> LabelState:
    """A labeller state as stored."""
    return LabelState(state.value)


def labeller_state(state: LabelState) -> State:
    """A stored state as the labeller and its evaluation speak of it."""
    return State(state.value)


def label_source(labeller: Labeller) -> LabelSource:
    """The source stored with ``labeller``'s labels (``rules`` or ``nlp``)."""
    return LabelSource(labeller.source)
