"""The radiologists' corpus: lumbar spine reports written by hand in house styles
(``tests/data/radiologists/*.txt``), independent of the simulated hospital's
report generator, and its fixed split into a development and a sealed part.

A file holds one house style. Each report starts with a line
``=== <number> | <labels>``; the lines up to the next ``===`` are its text.
Labels are short finding names with a state sign: ``disc+`` positive,
``disc-`` negative, ``disc?`` uncertain; a finding not listed is
``not_mentioned``. Lines starting with ``#`` before the first report are a comment.

The split was fixed before any report was scored: a report is *sealed* when its
number leaves 1, 4 or 6 divided by 8 (18 of each 46). That first sealed part was
scored at the end of the first round of lexicon work and is spent: the whole
first corpus (``first_corpus``) is what later lexicon work may look at.

The second sealed set (``radiologists-sealed-2`` beside ``FOLDER``, ``second_sealed``)
was written, in ten house styles, before the second round of lexicon work began;
it is scored only at the end of that work (``pytest -m sealed``,
``bench/labelling.py --sealed``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from labeller import State

__all__ = [
    "FINDING_NAMES",
    "Report",
    "development",
    "first_corpus",
    "read_style",
    "sealed",
    "second_sealed",
    "styles",
]

FOLDER = Path(__file__).resolve().parents[1] / "data" / "radiologists"

FINDING_NAMES = {
    "ins": "instrumentation",
    "lor": "loss_of_lordosis",
    "fac": "facet_sclerosis",
    "sij": "sij_degeneration",
    "ost": "osteophytosis",
    "opo": "osteoporosis",
    "deg": "diffuse_degeneration",
    "sco": "scoliosis",
    "fx": "fractures",
    "disc": "disc_narrowing",
    "ant": "anterolisthesis",
    "ret": "retrolisthesis",
}
_SIGNS = {"+": State.POSITIVE, "-": State.NEGATIVE, "?": State.UNCERTAIN}
_HEAD = re.compile(r"^=== (\d+) \|(.*)$")
_SEALED_REMAINDERS = {1, 4, 6}


@dataclass(frozen=True, slots=True)
class Report:
    """One hand-written report and its four-state labels (every finding)."""

    style: str
    number: int
    text: str
    states: dict[str, State]

    @property
    def id(self) -> str:
        return f"{self.style}-{self.number:02d}"

    @property
    def sealed(self) -> bool:
        return self.number % 8 in _SEALED_REMAINDERS


def _states(labels: str, where: str) -> dict[str, State]:
    states = dict.fromkeys(FINDING_NAMES.values(), State.NOT_MENTIONED)
    for token in labels.split():
        short, sign = token[:-1], token[-1]
        if short not in FINDING_NAMES or sign not in _SIGNS:
            raise ValueError(f"{where}: cannot read the label {token!r}")
        states[FINDING_NAMES[short]] = _SIGNS[sign]
    return states


def read_style(path: Path) -> list[Report]:
    """Every report of one style file."""
    reports: list[Report] = []
    head: re.Match[str] | None = None
    lines: list[str] = []

    def close() -> None:
        if head is not None:
            where = f"{path.name} report {head.group(1)}"
            text = "\n".join(lines).strip()
            if not text:
                raise ValueError(f"{where}: no text")
            reports.append(Report(path.stem, int(head.group(1)), text, _states(head[2], where)))

    for line in path.read_text(encoding="utf-8").splitlines():
        if (match := _HEAD.match(line)) is not None:
            close()
            head, lines = match, []
        elif head is not None:
            lines.append(line)
        elif line.strip() and not line.startswith("#"):
            raise ValueError(f"{path.name}: text before the first report")
    close()
    return reports


def styles(folder: Path | None = None) -> dict[str, list[Report]]:
    """Every style file of a corpus folder (the first corpus by default), by style."""
    return {path.stem: read_style(path) for path in sorted((folder or FOLDER).glob("*.txt"))}


def development() -> list[Report]:
    """The part lexicon work may look at."""
    return [r for reports in styles().values() for r in reports if not r.sealed]


def sealed() -> list[Report]:
    """The part scored only at the end of a piece of work."""
    return [r for reports in styles().values() for r in reports if r.sealed]


def first_corpus() -> list[Report]:
    """The whole first corpus, both of its parts (its sealed part is spent)."""
    return [r for reports in styles().values() for r in reports]


def second_sealed() -> list[Report]:
    """The second sealed set: scored only at the end of the second round of work."""
    return [
        replace(r, style=f"sealed2-{r.style}")
        for reports in styles(FOLDER.parent / "radiologists-sealed-2").values()
        for r in reports
    ]
