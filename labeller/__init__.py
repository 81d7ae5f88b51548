"""labeller: report text → findings (four states), with rules or BERT.

Public surface: :class:`RuleLabeller` and its :class:`Lexicon`, the
:class:`State` of a finding and the :class:`FindingReading` a labeller returns,
the BERT labeller (:mod:`labeller.bert`, trained by :mod:`labeller.training`),
Table 1 scoring, :func:`normalise_report`, and the package's errors. Report text
arrives de-identified (:mod:`pacsbridge.deid.text`).
"""

from labeller.errors import InvalidLexicon, LabellerError
from labeller.evaluation import FindingScore, confusion_figure, score, table_text
from labeller.normalise import normalise_report
from labeller.rules import FindingLexicon, Lexicon, RuleLabeller
from labeller.states import FindingReading, Labeller, State

__all__ = [
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
    "normalise_report",
    "score",
    "table_text",
]
