"""labeller: report text → findings (four states), with rules or BERT.

Public surface: :class:`RuleLabeller` and its :class:`Lexicon`, the
:class:`State` of a finding and the :class:`FindingReading` a labeller returns,
the BERT labeller (:mod:`labeller.bert`, trained by :mod:`labeller.training`),
report-text de-identification, Table 1 scoring, :func:`normalise_report`, and
the package's errors.
"""

from labeller.deid import deidentify_report
from labeller.deid_eval import DeidCase, identifier_recall
from labeller.errors import InvalidLexicon, LabellerError
from labeller.evaluation import FindingScore, confusion_figure, score, table_text
from labeller.normalise import normalise_report
from labeller.rules import FindingLexicon, Lexicon, RuleLabeller
from labeller.states import FindingReading, Labeller, State

__all__ = [
    "DeidCase",
    "FindingLexicon",
    "FindingReading",
    "FindingScore",
    "InvalidLexicon",
    "Labeller",
    "LabellerError",
    "Lexicon",
    "RuleLabeller",
    "State",
    "confusion_figure",
    "deidentify_report",
    "identifier_recall",
    "normalise_report",
    "score",
    "table_text",
]
