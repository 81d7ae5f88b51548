"""`pacslabel labeller train|evaluate|label|list` on a database of reports."""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import FindingLabel, LabelSource, Model, Report, Study, StudyState, make_engine, upgrade
from labeller import LabellerError
from pacslabel.cli import main
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.pipeline.stages.label import label_all
from pacslabel.settings import load_settings
from simhospital.reports import write_report
from simhospital.truth.findings import FINDINGS, draw_findings

ORIGINAL_ROOT = "1.2.826.0.1.3680043.10.1234."


def _report(index: int) -> tuple[str, dict[str, str]]:
    rng = np.random.default_rng([5, index])
    truth = draw_findings(rng)
    written = write_report(
        dict(truth.severity),
        {key: level + 1 for key, level in truth.level.items()},
        rng,
        family="BIANCHI",
        given="LUCIA",
        birth=dt.date(1948, 3, 2),
        sex="F",
        study_date=dt.date(2018, 5, 4),
    )
    return written.text, dict(written.states)


@pytest.fixture
def data(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A database of 90 labelled studies (pseudonymous UIDs keyed from original ones)."""
    for name in list(os.environ):
        if name.startswith("PACSLABEL_") and not name.startswith("PACSLABEL_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PACSLABEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PACSLABEL_DATABASE_URL", database_url)
    upgrade(database_url)
    settings = load_settings()
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        for i in range(90):
            text, _ = _report(i)
            study = Study(
                study_uid=ctx.pseudonymiser.uid(f"{ORIGINAL_ROOT}{i}"),
                state=StudyState.DEIDENTIFIED,
            )
            study.report = Report(text=text, source="sr")
            session.add(study)
        session.commit()
    return [f"{ORIGINAL_ROOT}{i}" for i in range(90)]


def _annotations(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _count(url: str, *where: object) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(FindingLabel).where(*where)))
    finally:
        engine.dispose()


TRAIN = ["--size", "tiny", "--mlm-epochs", "1", "--weak-epochs", "1", "--epochs", "2"]


def test_train_evaluate_label_and_use(
    data: list[str], tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    train_csv = _annotations(
        tmp_path / "train.csv",
        [
            {"study_instance_uid": uid, "annotator": "dr-a", **_report(i)[1]}
            for i, uid in enumerate(data[:60])
        ]
        + [{"study_instance_uid": "1.2.3.999", "annotator": "dr-a", **_report(0)[1]}],
    )
    # the test set: report text from outside the database, with an identifier to remove
    test_rows = []
    for i in range(100, 130):
        text, states = _report(i)
        test_rows.append({"text": text + " Paziente BIANCHI LUCIA.", **states})
    test_csv = _annotations(tmp_path / "test.csv", test_rows)

    assert main(["labeller", "train", "--annotations", str(train_csv), *TRAIN]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "60 annotated reports (720 new human labels stored)" in out
    assert _count(database_url, FindingLabel.source == LabelSource.HUMAN) == 720

    # training again from the database's human labels needs no file
    assert main(["labeller", "train", *TRAIN, "--layout", "per-finding"]) == ExitCode.OK
    assert "60 annotated reports in the database" in capsys.readouterr().out

    assert main(["labeller", "list"]) == ExitCode.OK
    listed = capsys.readouterr().out
    assert "bert-joint" in listed and "bert-per-finding" in listed

    out_dir = tmp_path / "evaluation"
    evaluate = ["labeller", "evaluate", "--annotations", str(test_csv), "--out", str(out_dir)]
    assert main(evaluate) == ExitCode.OK
    printed = capsys.readouterr().out
    assert "| finding | TP | TN | FP | FN | accuracy | sensitivity | specificity | F1" in printed
    assert printed.count("| instrumentation |") == 2  # rules and the newest model
    assert (out_dir / "table1.md").is_file()
    figures = sorted(p.name for p in out_dir.glob("confusion-*.png"))
    assert len(figures) == 2 and figures[-1].startswith("confusion-rules")

    engine = make_engine(database_url)
    with Session(engine) as session:
        models = session.scalars(select(Model).where(Model.mode == "nlp").order_by(Model.id)).all()
        assert [m.architecture for m in models] == ["bert-joint", "bert-per-finding"]
        newest = models[-1]
        assert newest.metrics["evaluation"]["reports"] == 30
        assert set(newest.metrics["evaluation"]["findings"]) == set(FINDINGS)
        assert newest.config["human_reports"] == 60 and newest.config["corpus_reports"] == 90
        joint = models[0].version
    engine.dispose()

    # labelling adds rows with the model's version; again adds nothing; history stays
    assert main(["labeller", "label", "--model", joint]) == ExitCode.OK
    assert "1080 labels added" in capsys.readouterr().out
    assert main(["labeller", "label", "--model", joint]) == ExitCode.OK
    assert "0 labels added" in capsys.readouterr().out
    assert main(["labeller", "label"]) == ExitCode.OK  # the newest: per-finding
    assert "1080 labels added" in capsys.readouterr().out
    assert _count(database_url, FindingLabel.source == LabelSource.NLP) == 2160

    # the pipeline's label stage with labelling.labeller = bert
    os.environ["PACSLABEL_LABELLING__LABELLER"] = "bert"
    os.environ["PACSLABEL_LABELLING__BERT_MODEL"] = joint
    try:
        with open_context(load_settings()) as ctx:
            assert ctx.labeller.version == joint
            assert label_all(ctx) == 90
    finally:
        del os.environ["PACSLABEL_LABELLING__LABELLER"]
        del os.environ["PACSLABEL_LABELLING__BERT_MODEL"]
    assert _count(database_url, FindingLabel.source_version == joint) == 1080


def test_bad_annotations_name_the_line_and_column(
    data: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    states = dict.fromkeys(FINDINGS, "negative")
    bad = _annotations(
        tmp_path / "bad.csv",
        [
            {"study_instance_uid": data[0], **states},
            {"study_instance_uid": data[1], **states, "scoliosis": "maybe"},
        ],
    )
    assert main(["labeller", "train", "--annotations", str(bad), *TRAIN]) == ExitCode.UNUSABLE_INPUT
    err = capsys.readouterr().err
    assert "bad.csv, line 3, column scoliosis" in err and "'maybe'" in err
    missing = _annotations(tmp_path / "missing.csv", [{"study_instance_uid": data[0]}])
    assert main(["labeller", "evaluate", "--annotations", str(missing)]) == ExitCode.UNUSABLE_INPUT
    assert "no column for instrumentation" in capsys.readouterr().err
    good = _annotations(tmp_path / "good.csv", [{"study_instance_uid": data[0], **states}])
    corpus = ["labeller", "train", "--annotations", str(good), "--corpus", str(tmp_path / "no")]
    assert main(corpus) == ExitCode.UNUSABLE_INPUT
    assert "cannot read" in capsys.readouterr().err
    unknown = _annotations(tmp_path / "unknown.csv", [{"study_instance_uid": "9.9", **states}])
    assert main(["labeller", "evaluate", "--annotations", str(unknown)]) == ExitCode.UNUSABLE_INPUT
    assert "none of the annotated reports is in the database" in capsys.readouterr().err


def test_bert_chosen_but_none_trained(data: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACSLABEL_LABELLING__LABELLER", "bert")
    with open_context(load_settings()) as ctx:
        with pytest.raises(LabellerError, match="no BERT labeller is registered"):
            _ = ctx.labeller
        assert ctx.rules.source == "rules"  # the rules stay available
    monkeypatch.setenv("PACSLABEL_LABELLING__BERT_MODEL", "bert-joint-nope")
    with (
        open_context(load_settings()) as ctx,
        pytest.raises(LabellerError, match="neither a registered labeller"),
    ):
        _ = ctx.labeller


def test_train_checks_its_inputs_before_it_trains_or_registers(
    data: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    states = dict.fromkeys(FINDINGS, "negative")
    good = _annotations(tmp_path / "good.csv", [{"study_instance_uid": data[0], **states}])
    unknown = _annotations(tmp_path / "unknown.csv", [{"study_instance_uid": "9.9", **states}])
    command = ["labeller", "train", "--annotations", str(good), "--test", str(unknown), *TRAIN]
    assert main(command) == ExitCode.UNUSABLE_INPUT
    assert "none of the annotated reports is in the database" in capsys.readouterr().err
    assert _count(database_url, FindingLabel.source == LabelSource.HUMAN) == 0  # nothing stored
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Model)) == 0  # none registered
    finally:
        engine.dispose()


def test_evaluate_writes_each_miss_with_its_evidence(data: list[str], tmp_path: Path) -> None:
    blank = dict.fromkeys(FINDINGS, "not_mentioned")
    rows = [
        # right: no miss
        {"id": "r1", "text": "Spazio L4-L5 ridotto.", **blank, "disc_narrowing": "positive"},
        # an abbreviation the rules do not read: a binary miss with no mention found
        {"id": "r2", "text": "Scivol. post. L4 su L5.", **blank, "retrolisthesis": "positive"},
        # the hedge is read: uncertain for a positive annotation, with its words
        {"id": "r3", "text": "Verosimile crollo di L1.", **blank, "fractures": "positive"},
    ]
    annotations = _annotations(tmp_path / "hand.csv", rows)
    out_dir = tmp_path / "evaluation"
    command = ["labeller", "evaluate", "--annotations", str(annotations), "--out", str(out_dir)]
    assert main(command) == ExitCode.OK
    with next(out_dir.glob("misses-rules*.csv")).open(newline="", encoding="utf-8") as handle:
        misses = list(csv.DictReader(handle))
    assert [(m["finding"], m["report"], m["gold"], m["predicted"]) for m in misses] == [
        ("fractures", "r3", "positive", "uncertain"),
        ("retrolisthesis", "r2", "positive", "not_mentioned"),
    ]
    assert misses[0]["evidence"] == "crollo" and misses[0]["binary_miss"] == "yes"
    assert misses[1]["evidence"] == "no mention found"
    assert misses[1]["text"] == "Scivol. post. L4 su L5."
