"""Evaluating labellers against human labels: the reference study's Table 1, per finding.

A finding counts as present when the label is *positive* (the paper's binary
reading); the four-state agreement is reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labeller.states import State
from scoring import Confusion, format_number

__all__ = ["FindingScore", "confusion_figure", "score", "table_text"]


@dataclass(frozen=True, slots=True)
class FindingScore(Confusion):
    """Table 1 of the reference study for one finding (present = positive) and the
    agreement on all four states."""

    four_state_agreement: float = 0.0

    def as_dict(self) -> dict[str, float | int | None]:
        data = Confusion.as_dict(self)
        data.update(four_state_agreement=self.four_state_agreement)
        return data


def score(
    expected: Sequence[dict[str, State]],
    predicted: Sequence[dict[str, State]],
    findings: Sequence[str],
) -> dict[str, FindingScore]:
    """Table 1 of the reference study, per finding, from expected and predicted states."""
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected labels but {len(predicted)} predictions")
    scores = {}
    for key in findings:
        tp = tn = fp = fn = same = 0
        for want, got in zip(expected, predicted, strict=True):
            w, g = want[key], got[key]
            same += w is g
            if w is State.POSITIVE:
                tp, fn = tp + (g is State.POSITIVE), fn + (g is not State.POSITIVE)
            else:
                fp, tn = fp + (g is State.POSITIVE), tn + (g is not State.POSITIVE)
        scores[key] = FindingScore(tp, tn, fp, fn, same / len(expected) if expected else 0.0)
    return scores


def table_text(name: str, scores: dict[str, FindingScore]) -> str:
    """A Markdown table: the paper's Table 1 columns and the four-state agreement."""
    lines = [
        f"### {name}",
        "",
        "| finding | TP | TN | FP | FN | accuracy | sensitivity | specificity | F1 "
        "| four-state agreement |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, s in scores.items():
        lines.append(
            f"| {key} | {s.tp} | {s.tn} | {s.fp} | {s.fn} | {format_number(s.accuracy)} "
            f"| {format_number(s.sensitivity)} | {format_number(s.specificity)} "
            f"| {format_number(s.f1)} | {format_number(s.four_state_agreement)} |"
        )
    return "\n".join(lines)


def confusion_figure(path: Path, name: str, scores: dict[str, FindingScore]) -> Path:
    """A PNG of one 2 × 2 confusion matrix per finding, counts and row shares."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    columns = 4
    rows = (len(scores) + columns - 1) // columns
    figure = Figure(figsize=(3.2 * columns, 3.0 * rows))
    figure.subplots(rows, columns)
    for axis, (key, s) in zip(figure.axes, scores.items(), strict=False):
        matrix = [[s.tn, s.fp], [s.fn, s.tp]]
        shares = [[v / max(sum(row), 1) for v in row] for row in matrix]
        axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(2):
            for j in range(2):
                axis.text(
                    j,
                    i,
                    f"{matrix[i][j]}\n{shares[i][j]:.0%}",
                    ha="center",
                    va="center",
                    color="white" if shares[i][j] > 0.5 else "black",
                    fontsize=9,
                )
        axis.set_title(key, fontsize=9)
        axis.set_xticks([0, 1], ["absent", "present"], fontsize=7)
        axis.set_yticks([0, 1], ["absent", "present"], fontsize=7)
        axis.set_xlabel("labeller", fontsize=7)
        axis.set_ylabel("human", fontsize=7)
    for axis in figure.axes[len(scores) :]:
        axis.axis("off")
    figure.suptitle(name)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
