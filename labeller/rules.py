"""The rule labeller: a task's lexicon, its syntax, negation and uncertainty scopes.

Before anything is matched, the lines of sections that say what was asked
rather than what was seen ("Quesito clinico: …", the task's ``skip_sections``)
are dropped, the report is normalised, and the task's *rewrites* put the
spellings of one thing into one form (for the spine: "L4/L5", "L4 L5", "L5S1",
"elle quattro elle cinque" and "tra L4 e L5" all become ``l4-l5``). Lexicon
terms may name a *slot* of the task (``<levels>``: one or more coordinated
levels), so that "ridotti gli spazi L3-L4 e L4-L5" and "L4-L5: ridotto" are one
pattern each, in either order of object and state.

Each report is then cut into sentences (a colon does not end one: "Sacroiliache:
sclerosi" is one statement). Every match of a finding's
lexicon is a *mention*; a mention is uncertain or negative when a trigger of
that kind stands before it (in the same sentence, within
:attr:`RuleLabeller.scope_words` words, with no scope breaker between) or right
after it. A match of the finding's *absent* lexicon ("lordosi conservata") is a
negative mention, and a positive match it overlaps does not count ("rimozione
dei mezzi di sintesi" says the hardware is gone). The report's state for the
finding is the strongest of its mentions: positive > uncertain > negative > not
mentioned.
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
# A full stop ends a sentence unless it sits between digits (3.5 mm); so do
# bullets and numbered items. A colon does not: "Faccette: sclerosi".
_SENTENCE_END = re.compile(r"\.(?!\d)|(?<!\d)\.|[;!?]|(?:^|\s)[-*]\s|\s\d+[.)]\s|[•·]")
_SLOT = re.compile(r"<(\w+)>")
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
    skip_sections: tuple[str, ...] = ()
    """Labels of sections that are not findings ("quesito clinico"): the rest of
    their line, up to the first full stop, is not read."""
    rewrites: tuple[tuple[str, str], ...] = ()
    """(regular expression, replacement) pairs applied in order to the normalised text."""
    slots: tuple[tuple[str, str], ...] = ()
    """(name, regular expression): ``<name>`` in a term stands for the expression."""
    ordinary_words: tuple[str, ...] = ()
    """Words of the language that spelling repair never changes ("delle" is not a
    misspelt "della", "appare" not the end of a split "lordotica")."""

    @classmethod
    def from_mapping(
        cls,
        findings: Sequence[Mapping[str, Any]],
        language_rules: Mapping[str, Any],
        version: str = "unversioned",
        syntax: Mapping[str, Any] | None = None,
    ) -> Lexicon:
        """From a task file's ``[[findings]]`` (``key``, ``lexicon``, ``absent_lexicon``),
        ``[language_rules]`` and ``[syntax]`` (``skip_sections``, ``rewrites``: a list of
        ``{pattern, replace}``, ``slots``: a table of regular expressions) tables."""
        syntax = syntax or {}
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
            skip_sections=tuple(syntax.get("skip_sections", ())),
            rewrites=tuple((r["pattern"], r["replace"]) for r in syntax.get("rewrites", ())),
            slots=tuple(dict(syntax.get("slots", {})).items()),
            ordinary_words=tuple(language_rules.get("ordinary_words", ())),
        )


def _term_pattern(term: str, slots: Mapping[str, str]) -> str:
    """Turn one lexicon term into a regular expression (see the task file's syntax)."""

    def slot(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in slots:
            raise InvalidLexicon(f"{term!r}: no slot <{name}> in the task's syntax")
        return f"(?:{slots[name]})"

    if term.startswith("re:"):
        return f"(?:{_SLOT.sub(slot, term[3:])})"
    parts = []
    for token in term.split():
        if token == "...":
            parts.append(_GAP)
            continue
        if parts and parts[-1] != _GAP:
            parts.append(r"\W+")
        if _SLOT.fullmatch(token):
            parts.append(_SLOT.sub(slot, token))
        elif token.endswith("*"):
            parts.append(re.escape(token[:-1]) + r"\w*")
        else:
            parts.append(re.escape(token))
    # The word boundary before is added once for all plain terms (see _compile).
    return "".join(parts) + r"(?!\w)"


def _compile(
    terms: Iterable[str], what: str, slots: Mapping[str, str] | None = None
) -> re.Pattern[str] | None:
    # Longest first, so "non si esclude" wins over "non" at the same place.
    ordered = sorted(set(terms), key=len, reverse=True)
    if not ordered:
        return None
    try:
        # Plain terms share one leading word boundary: a pattern that starts with
        # an alternation of words lets the engine skip positions that cannot start
        # one (more than ten times faster than a boundary in every branch).
        plain = [_term_pattern(t, slots or {}) for t in ordered if not t.startswith("re:")]
        raw = [_term_pattern(t, slots or {}) for t in ordered if t.startswith("re:")]
        branches = ([r"(?<!\w)(?:" + "|".join(plain) + ")"] if plain else []) + raw
        return re.compile("|".join(branches))
    except re.error as exc:
        raise InvalidLexicon(f"{what}: a term does not compile: {exc}") from None


def _compile_terms(
    terms: Iterable[str], what: str, slots: Mapping[str, str]
) -> tuple[re.Pattern[str], ...]:
    """A finding's terms as patterns matched one after the other: the plain terms,
    then the raw expressions. Apart, because an alternation takes its first branch
    that matches, not its longest: a plain "rimozion* ... vit*" at the start of
    "rimozione delle viti e delle barre" would hide the raw expression that reads
    the whole coordination."""
    terms = list(terms)
    groups = (
        [t for t in terms if not t.startswith("re:")],
        [t for t in terms if t.startswith("re:")],
    )
    return tuple(p for group in groups if (p := _compile(group, what, slots)) is not None)


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
    _terms: dict[str, tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]] = field(
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
            keep=(*triggers, *lex.ordinary_words),
        )
        slots = dict(lex.slots)
        self._terms = {
            f.finding: (
                _compile_terms(f.terms, f.finding, slots),
                _compile_terms(f.absent_terms, f.finding, slots),
            )
            for f in self.lexicon.findings
        }
        try:
            self._rewrites = [(re.compile(p), r) for p, r in lex.rewrites]
            self._skip = (
                re.compile(
                    r"(?im)(?:^|(?<=\.\s))[ \t]*(?:"
                    + "|".join(re.escape(label) for label in lex.skip_sections)
                    + r")[ \t]*:[^\n]*?(?:\.(?=\s)|$)"
                )
                if lex.skip_sections
                else None
            )
        except re.error as exc:
            raise InvalidLexicon(f"syntax: a rewrite does not compile: {exc}") from None
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
        found: dict[str, list[tuple[State, str]]] = {key: [] for key in self._terms}
        for sentence in _sentences(self.prepare(report)):
            before, after = self._find_triggers(sentence)
            for key, (present, absent) in self._terms.items():
                for match, base in _mentions(sentence, present, absent):
                    state = self._state_of(sentence, match, before, after, base)
                    found[key].append((state, match.group(0)))
        return {key: _decide(key, mentions) for key, mentions in found.items()}

    def prepare(self, report: str) -> str:
        """The text the lexicon is matched against: sections that are not findings
        dropped, normalised, rewritten, spelling repaired."""
        if self._skip is not None:
            report = self._skip.sub(" ", report)
        text = normalise_report(report)
        for pattern, replacement in self._rewrites:
            text = pattern.sub(replacement, text)
        return self._spelling(text)

    def label_many(self, reports: Sequence[str]) -> list[dict[str, FindingReading]]:
        """Label several reports (a convenience for batches)."""
        return [self.label(report) for report in reports]

    def _find_triggers(self, sentence: str) -> tuple[list[_Trigger], list[_Trigger]]:
        # Every trigger of every kind, then the longest wins where triggers of the
        # same side overlap ("non si esclude" over "non", "non evidenziabile" over
        # "non"); a word that is a trigger on both sides ("assenti") is one on each.
        found: dict[bool, list[tuple[int, int, tuple[int, int], State | None]]] = {
            True: [],
            False: [],
        }
        for rank, (pattern, state, is_before) in enumerate(self._triggers):
            for match in pattern.finditer(sentence):
                found[is_before].append((match.end() - match.start(), -rank, match.span(), state))
        sides: dict[bool, list[_Trigger]] = {True: [], False: []}
        for is_before, candidates in found.items():
            candidates.sort(key=lambda item: (item[0], item[1]), reverse=True)
            taken: list[tuple[int, int]] = []
            for _length, _rank, span, state in candidates:
                if any(span[0] < end and start < span[1] for start, end in taken):
                    continue
                taken.append(span)
                sides[is_before].append(_Trigger(*span, state))
            sides[is_before].sort(key=lambda t: t.start)
        # A hedge that is a trigger on both sides ("verosimilmente degenerativa")
        # governs what follows it only.
        hedges = {(t.start, t.end) for t in sides[True] if t.kind is State.UNCERTAIN}
        after = [t for t in sides[False] if (t.start, t.end) not in hedges]
        return sides[True], after

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


def _mentions(
    sentence: str, present: Sequence[re.Pattern[str]], absent: Sequence[re.Pattern[str]]
) -> list[tuple[re.Match[str], State]]:
    """The matches of a finding's terms in ``sentence``, with the state each says.

    Where a match of one kind lies inside a longer match of the other, the longer
    one speaks: "rimozione dei mezzi di sintesi" is absent although "mezzi di
    sintesi" is present; "inversione della fisiologica lordosi" is present
    although "fisiologica lordosi" is absent.
    """
    yes = [m for pattern in present for m in pattern.finditer(sentence)]
    no = [m for pattern in absent for m in pattern.finditer(sentence)]

    def inside(match: re.Match[str], others: list[re.Match[str]]) -> bool:
        start, end = match.span()
        return any(
            o.start() <= start and end <= o.end() and o.end() - o.start() > end - start
            for o in others
        )

    return [
        *((m, State.POSITIVE) for m in yes if not inside(m, no)),
        *((m, State.NEGATIVE) for m in no if not inside(m, yes)),
    ]


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def _decide(finding: str, mentions: list[tuple[State, str]]) -> FindingReading:
    for state in PRECEDENCE[:-1]:
        evidence = [words for mention_state, words in mentions if mention_state is state]
        if evidence:
            return FindingReading(finding, state, evidence="; ".join(dict.fromkeys(evidence)))
    return FindingReading(finding, State.NOT_MENTIONED)
