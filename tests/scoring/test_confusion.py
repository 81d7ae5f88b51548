"""One confusion type and one AUC for labels and images: undefined figures are None."""

from __future__ import annotations

import numpy as np

from labeller import FindingScore, State, score
from scoring import Confusion, aucs_by_finding, format_number, roc_auc
from trainer import FindingMetrics, finding_metrics


def test_rates_of_an_empty_set_are_undefined_in_both_packages() -> None:
    empty = Confusion(0, 0, 0, 0)
    assert (empty.n, empty.accuracy, empty.sensitivity, empty.specificity, empty.f1) == (
        0,
        None,
        None,
        None,
        None,
    )
    labels = score([], [], ["scoliosis"])["scoliosis"]
    images = finding_metrics(np.array([]), np.array([]), 0.5)
    assert isinstance(labels, FindingScore) and isinstance(images, FindingMetrics)
    assert labels.accuracy is None and images.accuracy is None  # labels said 0.0 before


def test_counts_and_rates() -> None:
    counts = Confusion.of(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 0, 1, 1], bool))
    assert (counts.tp, counts.tn, counts.fp, counts.fn) == (2, 1, 1, 1)
    assert counts.accuracy == 0.6 and counts.sensitivity == 2 / 3 and counts.specificity == 0.5
    assert counts.as_dict()["f1"] == 2 * 2 / (2 * 2 + 1 + 1)
    expected = [{"f": State.POSITIVE}, {"f": State.NEGATIVE}, {"f": State.UNCERTAIN}]
    got = [{"f": State.POSITIVE}, {"f": State.POSITIVE}, {"f": State.UNCERTAIN}]
    assert score(expected, got, ["f"])["f"].as_dict() == {
        "tp": 1,
        "tn": 1,
        "fp": 1,
        "fn": 0,
        "n": 3,
        "accuracy": 2 / 3,
        "sensitivity": 1.0,
        "specificity": 0.5,
        "f1": 2 / 3,
        "four_state_agreement": 2 / 3,
    }


def test_auc_per_finding_leaves_out_unlabelled_and_one_class_findings() -> None:
    targets = np.array([[1, 0, np.nan], [0, 0, 1], [1, 0, 0], [0, np.nan, 1]], dtype=float)
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.7, 0.2, 0.1], [0.4, 0.6, 0.9]])
    aucs = aucs_by_finding(targets, scores, ["a", "b", "c"])
    assert aucs == {"a": 1.0, "b": None, "c": 1.0}
    assert (
        roc_auc(targets[:, 0], scores[:, 0])
        == finding_metrics(targets[:, 0], scores[:, 0], 0.5).auc
    )
    assert format_number(None) == "—" and format_number(0.91234) == "0.912"
