"""The rule labeller on the radiologists' corpus (tests/data/radiologists), written by
hand in nine house styles independently of the simulated hospital's reports.

The development part guards against regressions: each finding's sensitivity and
accuracy may not drop more than 0.03 below what was measured when the lexicon
work of issue 14 ended. The sealed part is the issue's acceptance figure, scored
once at the end of that work (``pytest -m sealed``) and kept as a guard since.
"""

from __future__ import annotations

import pytest
import radiologists
import taskfile

from labeller import FindingScore, RuleLabeller, State, score

FINDINGS = list(radiologists.FINDING_NAMES.values())

# (sensitivity, accuracy) on the development part, measured when issue 14's lexicon
# work ended; a finding may fall at most 0.03 below either.
MEASURED = {
    "instrumentation": (1.000, 0.992),
    "loss_of_lordosis": (1.000, 1.000),
    "facet_sclerosis": (0.957, 0.996),
    "sij_degeneration": (1.000, 1.000),
    "osteophytosis": (1.000, 1.000),
    "osteoporosis": (1.000, 1.000),
    "diffuse_degeneration": (0.958, 0.996),
    "scoliosis": (1.000, 1.000),
    "fractures": (1.000, 1.000),
    "disc_narrowing": (0.966, 0.988),
    "anterolisthesis": (1.000, 1.000),
    "retrolisthesis": (0.964, 0.996),
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


def test_the_corpus_is_as_the_issue_asks() -> None:
    styles = radiologists.styles()
    assert len(styles) >= 8
    assert sum(map(len, styles.values())) >= 400
    assert len(radiologists.sealed()) >= 150
    for reports in styles.values():
        assert len({r.number for r in reports}) == len(reports)
    # every finding has positives in both parts, so that sensitivity means something
    for part in (radiologists.development(), radiologists.sealed()):
        for key in FINDINGS:
            assert sum(r.states[key] is State.POSITIVE for r in part) >= 10, key


def test_development_part_holds_its_measured_figures(labeller: RuleLabeller) -> None:
    scores, agreement = _scores(labeller, radiologists.development())
    fallen = _fallen(scores, MEASURED)
    assert not fallen, f"(sensitivity, accuracy) fell more than {SLACK}: {fallen}"
    assert agreement >= 0.95


# (sensitivity, accuracy) on the sealed part when it was scored, once, at the end of
# issue 14's lexicon work. The issue's targets (lowest accuracy >= 0.95, lowest
# sensitivity >= 0.90, four-state agreement >= 0.95) were met but for sensitivity:
# loss of lordosis and diffuse degeneration 0.895 (17 of 19 each). The part is spent:
# it guards against regressions now, and the next round of lexicon work needs a new
# sealed set.
SEALED = {
    "instrumentation": (1.000, 0.994),
    "loss_of_lordosis": (0.895, 0.988),
    "facet_sclerosis": (0.909, 0.988),
    "sij_degeneration": (1.000, 1.000),
    "osteophytosis": (1.000, 1.000),
    "osteoporosis": (0.933, 0.994),
    "diffuse_degeneration": (0.895, 0.988),
    "scoliosis": (1.000, 1.000),
    "fractures": (1.000, 0.988),
    "disc_narrowing": (0.986, 0.994),
    "anterolisthesis": (1.000, 0.994),
    "retrolisthesis": (1.000, 1.000),
}


@pytest.mark.sealed
def test_sealed_part_holds_its_scored_figures(labeller: RuleLabeller) -> None:
    scores, agreement = _scores(labeller, radiologists.sealed())
    fallen = _fallen(scores, SEALED)
    assert not fallen, f"(sensitivity, accuracy) fell more than {SLACK}: {fallen}"
    assert min(s.accuracy for s in scores.values()) >= 0.95
    assert agreement >= 0.95
