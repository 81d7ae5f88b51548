"""The research interface after a simulated run, on SQLite and PostgreSQL: every query of
docs/researchers.md runs as written and answers what the simulator knows; export
round-trips; human labels come first; the read-only role reads the views only."""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas
import psycopg
import pyarrow.parquet as pq
import pytest
from simulated_run import Run
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from db.research import grant_readonly
from pacslabel.cli.main import main
from pacslabel.context import open_context
from pacslabel.pipeline.stages.targets import corpus_targets
from pacslabel.tools.export import CohortFilter, export_cohort
from tests.conftest import PG_HOST, PG_PORT, _admin_dsn

DOC = Path(__file__).resolve().parents[2] / "docs" / "researchers.md"
STUDIES = 200  # demo-sized (pacslabel demo's default)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def done(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    simulated_loop: Callable[[str, Path, int], Iterator[Run]],
) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp(f"research-{request.param}")
    yield from simulated_loop(request.param, folder, STUDIES)


def _documented_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _rows(run: Run, sql: str, **params: object) -> list[dict[str, object]]:
    engine = run.engine()
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def test_every_documented_query_runs(done: Run) -> None:
    queries = _documented_queries()
    assert len(queries) >= 7
    for sql in queries:
        _rows(done, sql)  # raises on a query one database does not understand


def test_prevalence_and_labels_match_the_simulator(done: Run) -> None:
    prevalence_sql = _documented_queries()[0]
    rows = _rows(done, prevalence_sql)
    got: dict[str, list[int]] = {}
    for row in rows:
        counts = got.setdefault(str(row["finding"]), [0, 0])
        counts[0] += int(row["studies"])  # type: ignore[call-overload]
        counts[1] += int(row["positive"])  # type: ignore[call-overload]
    corpus = {done.pseudonym[s.study_instance_uid]: s for s in done.archive}
    labels = _rows(done, "SELECT study_uid, finding, state FROM research_labels")
    in_corpus = {row["study_uid"] for row in labels}
    assert len(in_corpus) >= 0.95 * STUDIES  # a few wait for a pair or are put aside
    truth = {
        (uid, key): state for uid in in_corpus for key, state in corpus[uid].report_states.items()
    }
    agree = sum(truth[(row["study_uid"], row["finding"])] == row["state"] for row in labels)
    assert agree / len(labels) >= 0.97  # the rules' measured agreement on simulated reports
    for finding, (studies, positive) in got.items():
        expected = sum(1 for (uid, key), s in truth.items() if key == finding and s == "positive")
        assert studies == len(in_corpus)
        assert abs(positive - expected) <= max(1, round(0.03 * studies)), finding


def test_studies_view_ages_paths_and_splits(done: Run) -> None:
    rows = _rows(done, "SELECT * FROM research_studies")
    by_uid = {done.pseudonym[s.study_instance_uid]: s for s in done.archive}
    for row in rows:
        study = by_uid[str(row["study_uid"])]
        ds = next(d for d in study.datasets if d.SOPInstanceUID == study.ap_sop_instance_uid)
        assert row["age_years"] == int(str(ds.PatientAge)[:3])
        assert row["sex"] == study.patient.patient_sex
        assert Path(str(row["ap_image"])).is_absolute() and Path(str(row["ap_image"])).is_file()
        assert Path(str(row["lateral_image"])).is_file()
        assert row["split"] in ("train", "held_out")
        assert int(str(row["study_date"])[:4]) == row["study_year"]
    splits = {row["split"] for row in rows}
    assert splits == {"train", "held_out"}
    model = _rows(done, "SELECT n_train, n_held_out FROM training_runs WHERE status='succeeded'")
    assert sum(r["split"] == "held_out" for r in rows) == model[0]["n_held_out"]
    predictions = _rows(done, "SELECT split, positive FROM research_predictions")
    assert len(predictions) == len(rows) * 12
    assert {p["positive"] for p in predictions} <= {0, 1}
    metrics = _rows(done, "SELECT * FROM research_model_metrics WHERE evaluation = 'held_out'")
    assert len(metrics) == 12


def test_the_dictionary_describes_every_column(done: Run) -> None:
    described = {
        (r["view_name"], r["column_name"]) for r in _rows(done, "SELECT * FROM research_dictionary")
    }
    views = {view for view, _ in described}
    assert len(views) == 9  # eight from the migrations, research_cohort from the task
    for view in views:
        columns = _rows(done, f"SELECT * FROM {view} WHERE 1 = 0 LIMIT 1")
        engine = done.engine()
        with engine.connect() as connection:
            names = connection.execute(text(f"SELECT * FROM {view} WHERE 1 = 0")).keys()
        engine.dispose()
        missing = [c for c in names if (view, c) not in described and view != "research_cohort"]
        assert not missing and not columns, (view, missing)
    cohort = list(_rows(done, "SELECT * FROM research_cohort")[0])
    assert {"scoliosis", "scoliosis_source", "scoliosis_probability"} <= set(cohort)
    assert ("research_cohort", "scoliosis_image") in described


def test_export_round_trip_and_manifest(done: Run, tmp_path: Path) -> None:
    wanted = CohortFilter(states={"disc_narrowing": ("positive", "negative")}, age_min=20)
    with open_context(done.settings) as ctx:
        result = export_cohort(ctx, wanted, kind="parquet", out=tmp_path / "x", images=True)
    read = pq.read_table(result.table).to_pylist()
    sql = (
        "SELECT * FROM research_cohort WHERE disc_narrowing IN ('positive', 'negative') "
        "AND age_years >= 20 ORDER BY study_uid"
    )
    view = _rows(done, sql)
    assert read and len(read) == len(view) == result.rows
    for got, want in zip(read, view, strict=True):
        assert {k: str(v) for k, v in got.items()} == {k: str(v) for k, v in want.items()}
    manifest = json.loads(result.manifest.read_text())
    assert manifest["versions"]["labellers"]["rules"].startswith("rules:")
    assert manifest["versions"]["image_model"].startswith("lumbar_spine-resnet18-")
    assert manifest["rows"] == len(view)
    assert result.images == len(view)
    assert len(list((result.folder / "images").glob("*.png"))) == 2 * len(view)
    frame = pandas.read_sql(
        "SELECT * FROM research_cohort", done.url.replace("+psycopg", "+psycopg")
    )
    assert len(frame) >= len(view)


def test_export_cli_csv_and_bad_filters(done: Run, tmp_path: Path) -> None:
    base = ["--data-dir", str(done.settings.data_dir), "--database-url", done.url]
    out = tmp_path / "csv"
    assert main([*base, "export", "--label", "scoliosis=positive", "--out", str(out)]) == 0
    with (out / "cohort.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert all(row["scoliosis"] == "positive" for row in rows)
    assert main([*base, "export", "--label", "scoliosis=maybe", "--out", str(tmp_path / "b")]) == 2
    assert main([*base, "export", "--label", "nothing=positive"]) == 2


def test_human_labels_come_first_and_test_set_is_kept_apart(done: Run, tmp_path: Path) -> None:
    original = done.archive[0].study_instance_uid
    uid = done.pseudonym[original]
    before = _rows(
        done,
        "SELECT state FROM research_labels WHERE study_uid = :u AND finding = 'scoliosis'",
        u=uid,
    )[0]["state"]
    flipped = "negative" if before == "positive" else "positive"
    reports = tmp_path / "reports.csv"
    findings = list(done.archive[0].report_states)
    with reports.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["study_instance_uid", "annotator", *findings])
        writer.writeheader()
        writer.writerow(
            {
                "study_instance_uid": original,
                "annotator": "rossi",
                **{**done.archive[0].report_states, "scoliosis": flipped},
            }
        )
    images = tmp_path / "images.csv"
    images.write_text(
        f"study_instance_uid,{','.join(findings)}\n{original},"
        + ",".join("1" if k == "fractures" else "" for k in findings)
        + "\n"
    )
    base = ["--data-dir", str(done.settings.data_dir), "--database-url", done.url]
    assert main([*base, "labels", "import", str(reports), "--kind", "report"]) == 0
    assert (
        main(
            [
                *base,
                "labels",
                "import",
                str(images),
                "--kind",
                "image",
                "--annotator",
                "bianchi",
                "--test-set",
            ]
        )
        == 0
    )
    now = _rows(
        done,
        "SELECT state, source, annotator FROM research_labels WHERE "
        "study_uid = :u AND finding = 'scoliosis'",
        u=uid,
    )[0]
    assert now == {"state": flipped, "source": "human", "annotator": "rossi"}
    image = _rows(done, "SELECT * FROM research_image_labels WHERE study_uid = :u", u=uid)
    assert [(r["finding"], r["state"], r["test_set"]) for r in image] == [
        ("fractures", "positive", 1)
    ]
    with open_context(done.settings) as ctx, Session(ctx.engine) as session:
        keys, targets = corpus_targets(ctx, session)
        row = targets[keys.index(uid)]
        assert row[findings.index("scoliosis")] == (1.0 if flipped == "positive" else 0.0)
        assert row[findings.index("fractures")] == 1.0
        from pacslabel.pipeline.stages.targets import test_studies

        assert uid in test_studies(ctx, session)
    audit = _rows(done, "SELECT action FROM audit_events WHERE action = 'label.human'")
    assert len(audit) == 13  # 12 report findings + 1 image label
    assert np.isfinite(row).all()


def test_readonly_role_reads_views_only(done: Run) -> None:
    if not done.url.startswith("postgresql"):
        with pytest.raises(ValueError, match="PostgreSQL only"):
            grant_readonly(done.engine(), "someone")
        return
    user = f"reader_{uuid.uuid4().hex[:8]}"
    engine = done.engine()
    try:
        assert grant_readonly(engine, user) is True
        assert grant_readonly(engine, user) is False
    finally:
        engine.dispose()
    database = done.url.rsplit("/", 1)[1]
    reader = create_engine(f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{database}")
    try:
        with reader.connect() as connection:
            for view in ("research_cohort", "research_labels", "research_dictionary"):
                assert connection.execute(text(f"SELECT count(*) FROM {view}")).scalar()
        denied = [
            "SELECT * FROM linkage",
            "SELECT * FROM studies",
            "SELECT * FROM finding_labels",
            "SELECT * FROM audit_events",
            "INSERT INTO research_dictionary VALUES ('x', 'y', 'z')",
            "UPDATE research_dictionary SET description = 'x'",
            "DELETE FROM research_dictionary",
        ]
        for sql in denied:
            with (
                reader.connect() as connection,
                pytest.raises(Exception, match="permission denied"),
            ):
                connection.execute(text(sql))
    finally:
        reader.dispose()
        with psycopg.connect(_admin_dsn(), autocommit=True) as admin:
            admin.execute(f'DROP OWNED BY "{user}" CASCADE') if False else None
            admin.execute(f'DROP ROLE IF EXISTS "{user}"')


def test_stored_test_set_scores_the_model(done: Run, tmp_path: Path) -> None:
    """Image labels imported as the test set are what `model evaluate` scores by default,
    and its figures appear in research_model_metrics."""
    findings = list(done.archive[0].report_states)
    labels = tmp_path / "test.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["study_instance_uid", *findings])
        for study in done.archive:
            writer.writerow(
                [study.study_instance_uid, *(int(study.image_truth[k] > 0) for k in findings)]
            )
    base = ["--data-dir", str(done.settings.data_dir), "--database-url", done.url]
    assert (
        main(
            [
                *base,
                "labels",
                "import",
                str(labels),
                "--kind",
                "image",
                "--annotator",
                "verdi",
                "--test-set",
            ]
        )
        == 0
    )
    assert main([*base, "model", "evaluate", "--out", str(tmp_path / "eval")]) == 0
    rows = _rows(done, "SELECT * FROM research_model_metrics WHERE evaluation = 'human_test'")
    assert len(rows) == 12 and all(r["n"] >= 0.95 * STUDIES for r in rows)
