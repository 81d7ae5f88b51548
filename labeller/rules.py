"""The rule labeller: a task's lexicon, negation and uncertainty scopes.

Each report is normalised and cut into sentences. Every match of a finding's
lexicon is a *mention*; a mention is uncertain or negative when a trigger of
that kind stands before it (in the same sentence, within
:attr:`RuleLabeller.scope_words` words, with no scope breaker between) or right
after it. A match of the finding's *absent* lexicon ("lordosi conservata") is a
negative mention. The report's state for the finding is the strongest of its
mentions: positive > uncertain > negative > not mentioned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labeller.errors import InvalidLexicon
from labeller.normalise import normalise_report
from labeller.spelling import SpellingRepair
from labeller.states import PRECEDENCE, FindingReading, State

__all__ = ["FindingLexicon", "Lexicon", "RuleLabeller"]

# "a ... b": up to three words between, not across a comma or a conjunction.
_GAP = r"(?:[^\w,;]+(?!(?:e|ed|con|ma|né)\b)\w+){0,3}?[^\w,;]+"
# A full stop ends a sentence unless it sits between digits (3.5 mm).
_SENTENCE_END = re.compile(r"\.(?!\d)|(?<!\d)\.|[;:!?]|\s-\s|\s\d+\)\s|\s•\s")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class FindingLexicon:
    """The words of one finding: ``terms`` say it is there, ``absent_terms`` that it is not."""

    finding: str
    terms: tuple[str, ...]
    absent_terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Everything the rule labeller knows about a language and a task."""

    findings: tuple[FindingLexicon, ...]
    negation_before: tuple[str, ...]
    negation_after: tuple[str, ...] = ()
    uncertainty_before: tuple[str, ...] = ()
    uncertainty_after: tuple[str, ...] = ()
    scope_breakers: tuple[str, ...] = ()
    version: str = "unversioned"

    @classmethod
    def from_mapping(
        cls,
        findings: Sequence[Mapping[str, Any]],
        language_rules: Mapping[str, Any],
        version: str = "unversioned",
    ) -> Lexicon:
        """From a task file's ``[[findings]]`` (``key``, ``lexicon``, ``absent_lexicon``)
        and ``[language_rules]`` tables."""
        return cls(
            findings=tuple(
                FindingLexicon(f["key"], tuple(f["lexicon"]), tuple(f.get("absent_lexicon", ())))
                for f in findings
            ),
            negation_before=tuple(language_rules["negation_before"]),
            negation_after=tuple(language_rules.get("negation_after", ())),
            uncertainty_before=tuple(language_rules.get("uncertainty_before", ())),
            uncertainty_after=tuple(language_rules.get("uncertainty_after", ())),
            scope_breakers=tuple(language_rules.get("scope_breakers", ())),
            version=version,
        )


def _term_pattern(term: str) -> str:
    """Turn one lexicon term into a regular expression (see the task file's syntax)."""
    if term.startswith("re:"):
        return f"(?:{term[3:]})"
    parts = []
    for token in term.split():
        if token == "...":
            parts.append(_GAP)
            continue
        if parts and parts[-1] != _GAP:
            parts.append(r"\W+")
        if token.endswith("*"):
            parts.append(re.escape(token[:-1]) + r"\w*")
        else:
            parts.append(re.escape(token))
    return r"(?<!\w)" + "".join(parts) + r"(?!\w)"


def _compile(terms: Iterable[str], what: str) -> re.Pattern[str] | None:
    # Longest first, so "non si esclude" wins over "non" at the same place.
    ordered = sorted(set(terms), key=len, reverse=True)
    if not ordered:
        return None
    try:
        return re.compile("|".join(_term_pattern(term) for term in ordered))
    except re.error as exc:
        raise InvalidLexicon(f"{what}: a term does not compile: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Trigger:
    start: int
    end: int
    kind: State | None  # None: a scope breaker


@dataclass
class RuleLabeller:
    """Label reports with a :class:`Lexicon`.

    Parameters
    ----------
    lexicon
        The task's lexicon and the language's triggers.
    scope_words
        How many words after a trigger it still applies to.

    Raises
    ------
    InvalidLexicon
        When a term of the lexicon cannot be compiled.
    """

    lexicon: Lexicon
    scope_words: int = 8
    _terms: dict[str, tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = field(
        init=False, repr=False
    )
    _triggers: list[tuple[re.Pattern[str], State | None, bool]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lex = self.lexicon
        triggers = (
            *lex.negation_before,
            *lex.negation_after,
            *lex.uncertainty_before,
            *lex.uncertainty_after,
            *lex.scope_breakers,
        )
        self._spelling = SpellingRepair(
            [*(t for f in lex.findings for t in (*f.terms, *f.absent_terms)), *triggers],
            keep=triggers,
        )
        self._terms = {
            f.finding: (_compile(f.terms, f.finding), _compile(f.absent_terms, f.finding))
            for f in self.lexicon.findings
        }
        lex = self.lexicon
        # (pattern, state it gives, whether it stands before the mention)
        candidates = [
            (lex.uncertainty_before, State.UNCERTAIN, True),
            (lex.negation_before, State.NEGATIVE, True),
            (lex.uncertainty_after, State.UNCERTAIN, False),
            (lex.negation_after, State.NEGATIVE, False),
            (lex.scope_breakers, None, True),
        ]
        self._triggers = []
        for terms, state, before in candidates:
            pattern = _compile(terms, "triggers")
            if pattern is not None:
                self._triggers.append((pattern, state, before))

    @property
    def source(self) -> str:
        return "rules"

    @property
    def version(self) -> str:
        """Identifies the lexicon: stored as the source version of every label."""
        return f"rules:{self.lexicon.version}"

    @property
    def findings(self) -> list[str]:
        return [f.finding for f in self.lexicon.findings]

    def label(self, report: str) -> dict[str, FindingReading]:
        """Label one report.

        Parameters
        ----------
        report
            Report text, de-identified; it is normalised here.

        Returns
        -------
        dict
            One :class:`FindingReading` per finding of the lexicon, by key.
        """
        text = self._spelling(normalise_report(report))
        found: dict[str, list[tuple[State, str]]] = {key: [] for key in self._terms}
        for sentence in _sentences(text):
            before, after = self._find_triggers(sentence)
            for key, (present, absent) in self._terms.items():
                for pattern, base in ((present, State.POSITIVE), (absent, State.NEGATIVE)):
                    if pattern is None:
                        continue
                    for match in pattern.finditer(sentence):
                        state = self._state_of(sentence, match, before, after, base)
                        found[key].append((state, match.group(0)))
        return {key: _decide(key, mentions) for key, mentions in found.items()}

    def label_many(self, reports: Sequence[str]) -> list[dict[str, FindingReading]]:
        """Label several reports (a convenience for batches)."""
        return [self.label(report) for report in reports]

    def _find_triggers(self, sentence: str) -> tuple[list[_Trigger], list[_Trigger]]:
        # Every trigger of every kind, then the longest wins where they overlap
        # ("non si esclude" over "non", "non evidenziabile" over "non").
        found = []
        for rank, (pattern, state, is_before) in enumerate(self._triggers):
            for match in pattern.finditer(sentence):
                found.append((match.end() - match.start(), -rank, match.span(), state, is_before))
        found.sort(key=lambda item: (item[0], item[1]), reverse=True)
        before: list[_Trigger] = []
        after: list[_Trigger] = []
        taken: list[tuple[int, int]] = []
        for _length, _rank, span, state, is_before in found:
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            taken.append(span)
            (before if is_before else after).append(_Trigger(*span, state))
        before.sort(key=lambda t: t.start)
        after.sort(key=lambda t: t.start)
        return before, after

    def _state_of(
        self,
        sentence: str,
        match: re.Match[str],
        before: list[_Trigger],
        after: list[_Trigger],
        base: State,
    ) -> State:
        start, end = match.span()
        governing: _Trigger | None = None
        for trigger in before:
            if trigger.end > start:
                break
            if trigger.kind is None:
                governing = None  # a breaker ends the scope of what came before
                continue
            words_between = len(_WORD.findall(sentence[trigger.end : start]))
            if words_between <= self.scope_words:
                governing = trigger
        if governing is None:
            for trigger in after:
                if trigger.start >= end and len(_WORD.findall(sentence[end : trigger.start])) <= 3:
                    governing = trigger
                    break
        if governing is None or governing.kind is None:
            return base
        if governing.kind is State.UNCERTAIN:
            return State.UNCERTAIN
        return State.NEGATIVE if base is State.POSITIVE else base


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def _decide(finding: str, mentions: list[tuple[State, str]]) -> FindingReading:
    for state in PRECEDENCE[:-1]:
        evidence = [words for mention_state, words in mentions if mention_state is state]
        if evidence:
            return FindingReading(finding, state, evidence="; ".join(dict.fromkeys(evidence)))
    return FindingReading(finding, State.NOT_MENTIONED)
