"""Cohort export: rows of the ``research_cohort`` view that pass a filter, as CSV or
Parquet, with a manifest (the query, the versions behind the labels and the
model, counts) and optionally the cached image pairs as PNG.

The export holds only what the views hold: de-identified values and pseudonymous
UIDs. It goes under ``exports/`` in the data folder unless another folder is
given; ``pacslabel audit-phi`` searches ``exports/``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image as PILImage
from sqlalchemy import Connection, text

from db import LabelState, Split, current_revision
from db.research import COHORT_VIEW
from pacslabel.context import Context
from pacslabel.errors import UsageError
from pacslabel.registry import code_version
from trainer import PixelCache

__all__ = ["CohortFilter", "ExportResult", "cohort_query", "export_cohort"]


@dataclass(frozen=True)
class CohortFilter:
    """Which studies of the cohort to export; every part given must hold."""

    states: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """finding → the label states wanted (``research_labels``'s current label)."""
    age_min: int | None = None
    age_max: int | None = None
    sex: str | None = None
    date_from: str | None = None
    """Shifted study date ``YYYYMMDD``, inclusive."""
    date_to: str | None = None
    split: str | None = None
    """The current image model's split: train, held_out, human_test or none."""


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    table: Path
    manifest: Path
    rows: int
    images: int


def _check(wanted: CohortFilter, findings: Sequence[str]) -> None:
    states = {s.value for s in LabelState}
    for key, chosen in wanted.states.items():
        if key not in findings:
            raise UsageError(f"{key!r} is not a finding of the task ({', '.join(findings)})")
        bad = [s for s in chosen if s not in states]
        if bad or not chosen:
            raise UsageError(
                f"{key}: {', '.join(bad) or 'no state'} — states are {', '.join(sorted(states))}"
            )
    splits = {*(s.value for s in Split), "none"}
    if wanted.split is not None and wanted.split not in splits:
        raise UsageError(f"split {wanted.split!r} is not one of {', '.join(sorted(splits))}")
    for name in ("date_from", "date_to"):
        value = getattr(wanted, name)
        if value is not None and not (len(value) == 8 and value.isdigit()):
            raise UsageError(f"{name.replace('_', ' ')} {value!r} is not YYYYMMDD")


def cohort_query(wanted: CohortFilter, findings: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The SQL (over ``research_cohort``) and its parameters for ``wanted``.

    Raises
    ------
    UsageError
        An unknown finding, state, split or a malformed date.
    """
    _check(wanted, findings)
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for n, (key, chosen) in enumerate(sorted(wanted.states.items())):
        names = [f"s{n}_{i}" for i in range(len(chosen))]
        params |= dict(zip(names, chosen, strict=True))
        clauses.append(f'"{key}" IN ({", ".join(":" + name for name in names)})')
    simple = [
        ("age_years >= :age_min", "age_min", wanted.age_min),
        ("age_years <= :age_max", "age_max", wanted.age_max),
        ("sex = :sex", "sex", wanted.sex),
        ("study_date >= :date_from", "date_from", wanted.date_from),
        ("study_date <= :date_to", "date_to", wanted.date_to),
        ("split = :split", "split", wanted.split),
    ]
    for clause, name, value in simple:
        if value is not None:
            clauses.append(clause)
            params[name] = value
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"SELECT * FROM {COHORT_VIEW}{where} ORDER BY study_uid", params


def _write_table(path: Path, columns: list[str], rows: Sequence[Sequence[Any]], kind: str) -> None:
    if kind == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
        return
    data = {name: [row[j] for row in rows] for j, name in enumerate(columns)}
    pq.write_table(pa.table(data), path)


def _write_images(ctx: Context, folder: Path, uids: Sequence[str]) -> tuple[int, list[str]]:
    """The cached AP and lateral images of ``uids`` as 8-bit PNGs; returns how many pairs
    were written and the UIDs with none cached (at ``training.image_size``)."""
    cache = PixelCache(ctx.paths.cache, ctx.settings.training.image_size)
    written, missing = 0, []
    for uid in uids:
        if uid not in cache:
            missing.append(uid)
            continue
        pair = cache.get(uid)
        folder.mkdir(parents=True, exist_ok=True)
        for view, pixels in zip(("ap", "lateral"), pair, strict=True):
            PILImage.fromarray(np.ascontiguousarray(pixels)).save(folder / f"{uid}_{view}.png")
        written += 1
    return written, missing


def _versions(connection: Connection) -> dict[str, Any]:
    labellers = connection.execute(
        text("SELECT version, source FROM research_labellers WHERE is_current = 1")
    ).all()
    model = connection.scalar(
        text("SELECT version FROM models WHERE status = 'current' AND mode <> 'nlp'")
    )
    return {
        "labellers": {source: version for version, source in labellers},
        "image_model": model,
        "pacslabel": code_version(),
    }


def _counts(
    columns: list[str], rows: Sequence[Sequence[Any]], findings: Sequence[str]
) -> dict[str, Any]:
    index = {name: j for j, name in enumerate(columns)}
    return {
        key: {
            state.value: sum(1 for row in rows if row[index[key]] == state.value)
            for state in LabelState
        }
        for key in findings
    }


def export_cohort(
    ctx: Context, wanted: CohortFilter, *, kind: str, out: Path | None, images: bool
) -> ExportResult:
    """Write the filtered cohort, its manifest and (``images``) its PNG pairs.

    Raises
    ------
    UsageError
        A bad filter, an unknown format, or an output folder that is not empty.
    """
    if kind not in ("csv", "parquet"):
        raise UsageError(f"format {kind!r}: csv or parquet")
    findings = ctx.task.finding_keys
    sql, params = cohort_query(wanted, findings)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out or ctx.paths.root / "exports" / f"cohort-{stamp}"
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"{folder} is not empty: choose a new folder with --out")
    folder.mkdir(parents=True, exist_ok=True)
    with ctx.engine.connect() as connection:
        result = connection.execute(text(sql), params)
        columns, rows = list(result.keys()), [tuple(row) for row in result]
        versions = _versions(connection)
    table = folder / f"cohort.{kind}"
    _write_table(table, columns, rows, kind)
    uids = [row[columns.index("study_uid")] for row in rows]
    pairs, missing = _write_images(ctx, folder / "images", uids) if images else (0, [])
    manifest = folder / "manifest.json"
    body = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "task": {"name": ctx.task.name, "digest": ctx.task.digest},
        "query": sql,
        "parameters": params,
        "versions": {**versions, "schema": current_revision(ctx.engine)},
        "rows": len(rows),
        "columns": columns,
        "label_counts": _counts(columns, rows, findings),
        "table": table.name,
        "image_pairs": pairs,
        "images_not_cached": missing,
    }
    manifest.write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")
    return ExportResult(folder, table, manifest, len(rows), pairs)
