"""The task definition: what makes a deployment "lumbar spine, 12 findings, Italian".

A task is a TOML file (see ``pacslabel/tasks/lumbar_spine.toml``): the C-FIND
filters, the view roles and how to recognise them, the language's negation
and uncertainty triggers, and the findings with their codes and lexicon. It is
loaded and validated once at start, then turned into the plain inputs each
domain package takes (:meth:`Task.study_filter`, :meth:`Task.view_rules`,
:meth:`Task.lexicon`, :meth:`Task.finding_codes`).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labeller import InvalidLexicon, Lexicon, RuleLabeller
from pacsbridge import FindingCode, StudyFilter, ViewRules
from pacslabel.errors import InvalidTask

__all__ = ["Finding", "Task", "load_task"]

_KEY = r"^[a-z][a-z0-9_]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(_Strict):
    """A coded concept (DICOM PS3.3 8.8 Code Sequence Macro)."""

    scheme: str = Field(pattern=r"^[A-Z0-9_]{1,16}$")
    value: str = Field(min_length=1, max_length=64)
    meaning: str = Field(min_length=1, max_length=64)


class Finding(_Strict):
    """One finding of the task."""

    key: str = Field(pattern=_KEY)
    name_en: str
    name_it: str
    code: Code
    lexicon: list[str] = Field(min_length=1)
    absent_lexicon: list[str] = []


class Query(_Strict):
    modalities: list[str] = Field(min_length=1)
    body_parts: list[str] = []
    study_description_patterns: list[str] = []


_CHANNELS = ("red", "green", "blue")


class ViewRole(_Strict):
    channel: Literal["red", "green", "blue"]
    """The colour channel of the model's input image this view goes into."""
    view_positions: list[str] = []
    description_words: list[str] = Field(min_length=1)


class ExcludedViews(_Strict):
    description_words: list[str] = []


class Views(_Strict):
    ap: ViewRole
    lateral: ViewRole
    excluded: ExcludedViews = ExcludedViews()

    @model_validator(mode="after")
    def _two_channels(self) -> Views:
        if self.ap.channel == self.lateral.channel:
            raise ValueError(f"ap and lateral share the {self.ap.channel} channel")
        return self


class LanguageRules(_Strict):
    negation_before: list[str]
    negation_after: list[str] = []
    uncertainty_before: list[str]
    uncertainty_after: list[str] = []
    scope_breakers: list[str] = []
    ordinary_words: list[str] = []
    """Words spelling repair never changes (see :class:`labeller.Lexicon`)."""


class Rewrite(_Strict):
    pattern: str
    replace: str


class Syntax(_Strict):
    """How the task's reports are written: sections to skip, spellings to unify, slots."""

    skip_sections: list[str] = []
    rewrites: list[Rewrite] = []
    slots: dict[str, str] = {}

    @model_validator(mode="after")
    def _compiles(self) -> Syntax:
        for what, pattern in [
            *(("rewrite", r.pattern) for r in self.rewrites),
            *((f"slot {name}", p) for name, p in self.slots.items()),
        ]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"syntax: bad regular expression in {what}: {exc}") from None
        return self


class Task(_Strict):
    """A validated task definition."""

    name: str = Field(pattern=_KEY)
    title: str
    version: int = Field(ge=1)
    language: str = Field(pattern=r"^[a-z]{2}$")
    query: Query
    views: Views
    language_rules: LanguageRules
    syntax: Syntax = Syntax()
    findings: list[Finding] = Field(min_length=1)
    digest: str = ""
    """SHA-256 of the file's bytes: which task definition labelled what."""

    @field_validator("findings")
    @classmethod
    def _unique_keys(cls, findings: list[Finding]) -> list[Finding]:
        keys = [finding.key for finding in findings]
        duplicated = sorted({key for key in keys if keys.count(key) > 1})
        if duplicated:
            raise ValueError(f"finding keys must be unique; repeated: {', '.join(duplicated)}")
        return findings

    @model_validator(mode="after")
    def _lexicon_compiles(self) -> Task:
        for finding in self.findings:
            for term in [*finding.lexicon, *finding.absent_lexicon]:
                if term.startswith("re:"):
                    try:
                        re.compile(term[3:])
                    except re.error as exc:
                        raise ValueError(
                            f"finding {finding.key}: bad regular expression {term!r}: {exc}"
                        ) from None
        try:
            RuleLabeller(self.lexicon())
        except InvalidLexicon as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def finding_keys(self) -> list[str]:
        """Keys of the findings, in the task's order (the model's output order)."""
        return [finding.key for finding in self.findings]

    def study_filter(self) -> StudyFilter:
        """The C-FIND filters for :mod:`pacsbridge`."""
        return StudyFilter.from_mapping(self.query.model_dump())

    def view_rules(self) -> ViewRules:
        """The view-recognition rules for :mod:`pacsbridge`."""
        return ViewRules.from_mapping(self.views.model_dump())

    def channels(self) -> tuple[int, int]:
        """The input channels (0 red, 1 green, 2 blue) of the AP and the lateral view."""
        return _CHANNELS.index(self.views.ap.channel), _CHANNELS.index(self.views.lateral.channel)

    def lexicon(self) -> Lexicon:
        """The rule labeller's lexicon for :mod:`labeller`."""
        return Lexicon.from_mapping(
            [finding.model_dump() for finding in self.findings],
            self.language_rules.model_dump(),
            version=f"{self.name}-v{self.version}-{self.digest[:12]}",
            syntax=self.syntax.model_dump(),
        )

    def finding_codes(self) -> list[FindingCode]:
        """The findings' codes for the SR builder of :mod:`pacsbridge`."""
        return [
            FindingCode(f.key, f.code.scheme, f.code.value, f.code.meaning, f.name_en)
            for f in self.findings
        ]


def load_task(name_or_path: str) -> Task:
    """Load a task shipped with the package (by name) or from a TOML file.

    Raises
    ------
    InvalidTask
        No such task, not TOML, or a field is invalid (the message names it).
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise InvalidTask(f"task file {path} does not exist")
        raw = path.read_bytes()
        where = str(path)
    else:
        shipped = resources.files("pacslabel") / "tasks" / f"{name_or_path}.toml"
        if not shipped.is_file():
            raise InvalidTask(f"no task named {name_or_path!r} is shipped with pacslabel")
        raw = shipped.read_bytes()
        where = f"task {name_or_path}"
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidTask(f"{where} is not valid TOML: {exc}") from None
    data["digest"] = hashlib.sha256(raw).hexdigest()
    try:
        return Task.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidTask(f"{where} is invalid: {problems}") from None
