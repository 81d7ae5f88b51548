"""The four states of a finding in a report (the CheXpert labeller convention)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["FindingReading", "Labeller", "State"]


class State(enum.StrEnum):
    """What a report says about one finding."""

    POSITIVE = "positive"
    """The finding is stated as present."""
    NEGATIVE = "negative"
    """The finding is stated as absent."""
    UNCERTAIN = "uncertain"
    """The finding is mentioned with a hedge ("non si esclude", "verosimile")."""
    NOT_MENTIONED = "not_mentioned"
    """The report says nothing about the finding."""


#: When mentions of one finding disagree, the report's state is the first here.
PRECEDENCE = (State.POSITIVE, State.UNCERTAIN, State.NEGATIVE, State.NOT_MENTIONED)


@dataclass(frozen=True, slots=True)
class FindingReading:
    """How a labeller read one finding in one report (stored as a ``finding_labels`` row).

    Attributes
    ----------
    finding
        The finding's key in the task definition.
    state
        One of the four :class:`State` values.
    probability
        A model's probability that the finding is present; ``None`` for rules.
    evidence
        The (de-identified) words of the report that decided the state.
    """

    finding: str
    state: State
    probability: float | None = None
    evidence: str = ""


class Labeller(Protocol):
    """What the pipeline needs of a labeller (rules or a trained model)."""

    @property
    def source(self) -> str:
        """``rules`` or ``nlp``: the source stored with every label."""
        ...

    @property
    def version(self) -> str:
        """Identifies the lexicon or model: the source version of every label."""
        ...

    @property
    def findings(self) -> list[str]: ...

    def label_many(self, reports: Sequence[str]) -> list[dict[str, FindingReading]]:
        """One label per finding for each (de-identified) report."""
        ...
