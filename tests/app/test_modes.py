"""The reference study's training modes: 2steps and step2only beside 1step."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, ModelMode, TrainingRun
from pacslabel.cli import main
from pacslabel.context import open_context
from pacslabel.errors import ExitCode, InvalidSettings
from pacslabel.pipeline.stages.train import TrainStatus, train_model
from pacslabel.settings import load_settings
from pacslabel.tools.demo import DemoOptions
from simhospital import FINDINGS, generate_study
from tests.app.conftest import DEMO_STUDIES as STUDIES
from tests.app.conftest import DemoCorpus


def _labels(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["study_instance_uid", *FINDINGS])
        writer.writeheader()
        for index in range(STUDIES):
            study = generate_study(index, DemoOptions.seed, scale=DemoOptions.scale)
            row = {k: str(int(study.image_truth[k] > 0)) for k in FINDINGS}
            writer.writerow({"study_instance_uid": study.study_instance_uid, **row})
    return path


def test_two_steps_and_step2only_train_on_human_image_labels(
    demo_corpus: DemoCorpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = demo_corpus.settings
    data = demo_corpus.cli()
    labels = _labels(tmp_path / "human.csv")
    training = {
        "image_size": 32,
        "epochs": 1,
        "fine_tune_epochs": 1,
        "device": "cpu",
        "human_image_labels": labels,
        "promotion": "always",
        "min_studies": 4,
    }
    for mode in ("2steps", "step2only"):
        mode_settings = load_settings(
            data_dir=settings.data_dir, training={**training, "mode": mode}
        )
        with open_context(mode_settings) as ctx:
            outcome = train_model(ctx)
            assert outcome.status is TrainStatus.TRAINED, outcome.reason
            with Session(ctx.engine) as session:
                row = session.scalars(
                    select(Model).where(Model.mode != "nlp").order_by(Model.id.desc())
                ).first()
                run = session.get(TrainingRun, row.training_run_id)
                assert row.mode is ModelMode(mode) and run.mode is ModelMode(mode)
                assert row.metrics["evaluated_against"].startswith("human image labels")
                folder = (ctx.paths.root / row.path).parent
                commands = row.config["commands"]
                if mode == "2steps":
                    # the report-label phase, then fine-tuning from its checkpoint
                    assert (folder / "step1" / "model.pt").is_file()
                    assert len(commands) == 2 and "--init" in commands[1]
                    assert (folder / "targets-step1.csv").is_file()
                else:
                    assert len(commands) == 1 and "--init" not in commands[0]
                assert (folder / "targets.csv").is_file()
                assert row.status.value == "current"
            assert train_model(ctx).status is TrainStatus.SKIPPED  # nothing new
    # the three models on the studies they all held out (the split is kept with each)
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        versions = list(
            session.scalars(select(Model.version).where(Model.mode != "nlp").order_by(Model.id))
        )
    assert len(versions) == 3
    capsys.readouterr()
    assert main([*data, "model", "compare", versions[0], versions[2]]) == ExitCode.OK
    table = capsys.readouterr().out
    assert "studies both models held out" in table
    assert all(f"| {key} |" in table for key in FINDINGS)
    assert main([*data, "model", "compare", versions[0], "nothing"]) == ExitCode.USAGE


def test_the_modes_need_human_image_labels() -> None:
    with pytest.raises(InvalidSettings, match=r"needs training\.human_image_labels"):
        load_settings(training={"mode": "2steps"})
