"""A training run as files: the targets CSV and the ``python -m trainer`` command
that trains on it (what pacslabel records with every model it trains)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainer.config import TrainConfig

__all__ = ["read_targets", "training_command", "write_targets"]

_NON_FINDINGS = ("key", "split")


def write_targets(
    path: Path,
    findings: Sequence[str],
    train: tuple[Sequence[str], np.ndarray],
    held_out: tuple[Sequence[str], np.ndarray],
) -> None:
    """The targets CSV of a run (NaN written as an empty cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", *findings, "split"])
        for split, (keys, targets) in (("train", train), ("held_out", held_out)):
            for key, row in zip(keys, targets, strict=True):
                cells = ["" if math.isnan(v) else f"{v:g}" for v in row]
                writer.writerow([key, *cells, split])


def read_targets(path: Path) -> tuple[list[str], dict[str, tuple[list[str], np.ndarray]]]:
    """(findings, {split: (keys, targets)}) from a targets CSV.

    Raises
    ------
    ValueError
        No ``key`` or ``split`` column, no finding column, or a cell that is not a number.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or ())
        if "key" not in columns or "split" not in columns:
            raise ValueError(f"{path}: needs key and split columns")
        findings = [c for c in columns if c not in _NON_FINDINGS]
        if not findings:
            raise ValueError(f"{path}: no finding columns")
        rows: dict[str, tuple[list[str], list[list[float]]]] = {
            "train": ([], []),
            "held_out": ([], []),
        }
        for number, row in enumerate(reader, start=2):
            if row["split"] not in rows:
                raise ValueError(f"{path}, line {number}: split {row['split']!r}")
            try:
                values = [float(row[f]) if row[f] else math.nan for f in findings]
            except ValueError:
                raise ValueError(f"{path}, line {number}: a target is not a number") from None
            rows[row["split"]][0].append(row["key"])
            rows[row["split"]][1].append(values)
    return findings, {
        split: (keys, np.array(values, dtype=np.float32).reshape(len(keys), len(findings)))
        for split, (keys, values) in rows.items()
    }


def training_command(config: TrainConfig, cache: Path, targets: Path, output: Path) -> list[str]:
    """The ``python -m trainer`` command line that trains ``config`` on these files (its
    options generated from the configuration: :meth:`TrainConfig.command_args`)."""
    files = ["--cache", str(cache), "--targets", str(targets), "--output", str(output)]
    return ["python", "-m", "trainer", *files, *config.command_args()]
