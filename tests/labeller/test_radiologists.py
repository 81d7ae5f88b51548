"""The rule labeller on the radiologists' corpora, written by hand in house styles
independently of the simulated hospital's reports.

The first corpus (tests/data/radiologists, 414 reports: lexicon work looks at all
of it since its first sealed part was scored) guards against regressions: each
finding's sensitivity and accuracy may not drop more than 0.03 below what was
measured when the second round of issue 14's lexicon work ended. The second sealed
set (tests/data/radiologists-sealed-2, 160 reports) is that round's acceptance
figure, scored once at its end (``pytest -m sealed``) and kept as a guard since.
"""

from __future__ import annotations

import pytest
import radiologists
import taskfile

from labeller import FindingScore, RuleLabeller, State, score

FINDINGS = list(radiologists.FINDING_NAMES.values())

# (sensitivity, accuracy) on the whole first corpus when the second round of lexicon
# work ended; a finding may fall at most 0.03 below either.
MEASURED = {
    "instrumentation": (1.000, 0.998),
    "loss_of_lordosis": (1.000, 1.000),
    "facet_sclerosis": (1.000, 1.000),
    "sij_degeneration": (1.000, 1.000),
    "osteophytosis": (1.000, 1.000),
    "osteoporosis": (1.000, 1.000),
    "diffuse_degeneration": (0.977, 0.998),
    "scoliosis": (1.000, 1.000),
    "fractures": (1.000, 1.000),
    "disc_narrowing": (0.987, 0.995),
    "anterolisthesis": (1.000, 0.998),
    "retrolisthesis": (1.000, 1.000),
}
SLACK = 0.03


@pytest.fixture(scope="module")
def labeller() -> RuleLabeller:
    return RuleLabeller(taskfile.lexicon())


def _scores(
    labeller: RuleLabeller, reports: list[radiologists.Report]
) -> tuple[dict[str, FindingScore], float]:
    predicted = [{k: r.state for k, r in labeller.label(rep.text).items()} for rep in reports]
    expected = [rep.states for rep in reports]
    agreement = sum(
        p[key] is e[key] for p, e in zip(predicted, expected, strict=True) for key in FINDINGS
    ) / (len(reports) * len(FINDINGS))
    return score(expected, predicted, FINDINGS), agreement


def _fallen(
    scores: dict[str, FindingScore], measured: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Findings whose (sensitivity, accuracy) fell more than SLACK below ``measured``."""
    return {
        key: (round(s.sensitivity or 0, 3), round(s.accuracy, 3))
        for key, s in scores.items()
        if (s.sensitivity or 0) < measured[key][0] - SLACK or s.accuracy < measured[key][1] - SLACK
    }


def test_the_corpora_are_as_the_issue_asks() -> None:
    first, second = radiologists.styles(), radiologists.second_sealed()
    assert len(first) >= 8 and sum(map(len, first.values())) >= 400
    assert len({r.style for r in second}) >= 8 and len(second) >= 150
    for reports in first.values():
        assert len({r.number for r in reports}) == len(reports)
    assert len({r.id for r in second}) == len(second)
    # every finding has positives in both, so that sensitivity means something
    for part in (radiologists.first_corpus(), second):
        for key in FINDINGS:
            assert sum(r.states[key] is State.POSITIVE for r in part) >= 10, key


def test_first_corpus_holds_its_measured_figures(labeller: RuleLabeller) -> None:
    scores, agreement = _scores(labeller, radiologists.first_corpus())
    fallen = _fallen(scores, MEASURED)
    assert not fallen, f"(sensitivity, accuracy) fell more than {SLACK}: {fallen}"
    assert agreement >= 0.99


# (sensitivity, accuracy) on the second sealed set when it was scored, once, at the
# end of the second round (bench/labelling.py --sealed): lowest accuracy 0.988, lowest
# sensitivity 0.938 (retrolisthesis, 15 of 16), four-state agreement 0.983; the issue's
# targets are 0.95, 0.90 and 0.95. It guards against regressions now.
SEALED = {
    "instrumentation": (1.000, 0.994),
    "loss_of_lordosis": (1.000, 1.000),
    "facet_sclerosis": (1.000, 0.994),
    "sij_degeneration": (1.000, 0.988),
    "osteophytosis": (1.000, 1.000),
    "osteoporosis": (1.000, 0.994),
    "diffuse_degeneration": (0.947, 0.988),
    "scoliosis": (1.000, 0.994),
    "fractures": (1.000, 0.994),
    "disc_narrowing": (1.000, 0.994),
    "anterolisthesis": (1.000, 1.000),
    "retrolisthesis": (0.938, 0.994),
}


@pytest.mark.sealed
def test_second_sealed_set_holds_its_scored_figures(labeller: RuleLabeller) -> None:
    scores, agreement = _scores(labeller, radiologists.second_sealed())
    fallen = _fallen(scores, SEALED)
    assert not fallen, f"(sensitivity, accuracy) fell more than {SLACK}: {fallen}"
    assert min(s.accuracy for s in scores.values()) >= 0.95
    assert min(s.sensitivity or 0 for s in scores.values()) >= 0.90
    assert agreement >= 0.95
