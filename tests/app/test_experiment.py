"""The reference study's experiment in one command: the three modes on one simulated
archive, scored on a human test set none of them trained on."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Model, ModelMode
from db.queries import study_by_uid
from pacslabel.cli import main
from pacslabel.context import open_context
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from simhospital import FINDINGS


def _uids(path: Path, column: str = "study_instance_uid") -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def test_the_three_modes_on_one_archive(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    training: dict[str, Any],
) -> None:
    size, epochs = str(training["image_size"]), str(training["epochs"])
    tiny = ["--studies", "60", "--image-size", size, "--epochs", epochs, "--fine-tune-epochs", "1"]
    out = tmp_path / "experiment"
    data = ["--data-dir", str(settings.data_dir), "--log-level", "WARNING"]
    assert main([*data, "model", "experiment", "--out", str(out), *tiny]) == ExitCode.OK
    printed = capsys.readouterr().out
    assert "# Table 2: at the default cut-off (0.5)" in printed
    assert "# Table 3: at Youden's J cut-offs" in printed
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert list(results["models"]) == ["1step", "2steps", "step2only"]
    assert len(set(results["models"].values())) == 3
    for mode, by_finding in results["metrics"].items():
        assert set(by_finding) == set(FINDINGS), mode
        for finding, m in by_finding.items():
            assert m["n"] == results["test_studies"] > 0
            assert 0.0 <= m["table3"]["cutoff"] <= 1.0, (mode, finding)
    for table in ("table2.md", "table3.md"):
        text = (out / table).read_text(encoding="utf-8")
        assert all(f"| {key} |" in text for key in FINDINGS)
    assert (out / "roc.png").stat().st_size > 10_000
    test_uids = _uids(out / "annotations" / "human_test.csv")
    train_uids = set(_uids(out / "annotations" / "human_train.csv"))
    assert test_uids and not train_uids & set(test_uids)
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        tested = {study_by_uid(session, uid, ctx.pseudonymiser.uid).study_uid for uid in test_uids}
        rows = session.scalars(select(Model).where(Model.mode != ModelMode.NLP)).all()
        assert {row.mode.value for row in rows} == {"1step", "2steps", "step2only"}
        for row in rows:  # no mode trained on, or held out, a test study
            folder = (ctx.paths.root / row.path).parent
            for targets in folder.glob("targets*.csv"):
                keys = set(_uids(targets, "key"))
                assert keys and not tested & keys, (row.mode, targets.name)
    # run again: the same models, nothing trained again
    assert main([*data, "model", "experiment", "--out", str(out), *tiny]) == ExitCode.OK
    again = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert again["models"] == results["models"]
