"""``pacslabel model evaluate``: the current model on human image labels (Tables 2–3)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from db import Model, make_engine
from pacslabel.cli import main
from pacslabel.errors import ExitCode
from pacslabel.tools.demo import DemoOptions
from simhospital import FINDINGS, generate_study
from tests.app.conftest import DEMO_BURNED, DemoCorpus
from tests.app.conftest import DEMO_STUDIES as STUDIES


def _labels(path: Path, indices: Sequence[int], *, extra: Sequence[dict[str, str]] = ()) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["study_instance_uid", *FINDINGS])
        writer.writeheader()
        for index in indices:
            study = generate_study(index, DemoOptions.seed, scale=DemoOptions.scale)
            row = {k: str(int(study.image_truth[k] > 0)) for k in FINDINGS}
            writer.writerow({"study_instance_uid": study.study_instance_uid, **row})
        writer.writerows(extra)
    return path


def test_tuning_sets_the_cut_offs_and_the_test_set_is_scored(
    demo_corpus: DemoCorpus, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = demo_corpus.cli()
    engine = make_engine(demo_corpus.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            before = connection.scalar(select(Model.thresholds).where(Model.mode != "nlp"))
        # the studies the demo kept (those with burned-in identifiers are quarantined)
        tuning = _labels(tmp_path / "tuning.csv", [i for i in range(20) if i not in DEMO_BURNED])
        unknown = {"study_instance_uid": "1.2.3.4", **dict.fromkeys(FINDINGS, "")}
        kept = [i for i in range(20, STUDIES) if i not in DEMO_BURNED]
        test = _labels(tmp_path / "test.csv", kept, extra=[unknown])
        capsys.readouterr()
        out = tmp_path / "evaluation"
        command = ["model", "evaluate", "--tuning", str(tuning), "--test", str(test)]
        assert main([*data, *command, "--out", str(out)]) == ExitCode.OK
        printed = capsys.readouterr().out
        assert "on 17 human-labelled test studies" in printed  # the unknown study is left out
        assert "Youden's J on 17 human-labelled tuning studies" in printed
        table = (out / "human_test.md").read_text(encoding="utf-8")
        assert all(f"| {key} | 17 |" in table for key in FINDINGS)
        assert (out / "roc.png").stat().st_size > 10_000
        with engine.connect() as connection:
            row = connection.execute(select(Model).where(Model.mode != "nlp")).one()
        assert row.metrics["human_test_studies"] == 17
        assert set(row.metrics["human_test"]) == set(FINDINGS)
        assert row.metrics["thresholds_from"] == "human tuning set of 17"
        assert row.thresholds != before and set(row.thresholds) == set(FINDINGS)
    finally:
        engine.dispose()

    broken = tmp_path / "broken.csv"
    broken.write_text(
        "study_instance_uid," + ",".join(FINDINGS) + "\n"
        "1.2.3," + ",".join("0" for _ in FINDINGS) + "\n"
        "1.2.4," + ",".join("yes" if k == "scoliosis" else "0" for k in FINDINGS) + "\n",
        encoding="utf-8",
    )
    assert main([*data, "model", "evaluate", "--test", str(broken)]) == ExitCode.UNUSABLE_INPUT
    assert f"{broken}, line 3, column scoliosis: 'yes' is not 1, 0 or empty" in (
        capsys.readouterr().err.replace("\n", "")
    )
