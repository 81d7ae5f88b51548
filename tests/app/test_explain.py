"""``pacslabel explain``: occlusion maps of the current model for one study."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from db import AuditEvent, Study, make_engine
from pacslabel.cli import main
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from pacslabel.tools.demo import DemoOptions
from simhospital import simulated_study_uid
from tests.app.conftest import DemoCorpus


def test_explain_before_a_study_is_in_the_corpus(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(settings.data_dir), "--log-level", "WARNING"]
    assert main([*data, "db", "upgrade"]) == ExitCode.OK
    original = simulated_study_uid(DemoOptions.seed, 0)
    assert main([*data, "explain", original]) == ExitCode.USAGE
    assert f"study {original} is not in the corpus" in capsys.readouterr().err


def test_explain_a_study_after_the_demo(
    demo_corpus: DemoCorpus, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = demo_corpus.cli()
    settings = demo_corpus.settings
    original = simulated_study_uid(DemoOptions.seed, 0)
    out = tmp_path / "maps"
    findings = ["--finding", "instrumentation", "--finding", "scoliosis"]
    assert main([*data, "explain", original, *findings, "--out", str(out)]) == ExitCode.OK
    printed = capsys.readouterr().out
    assert "instrumentation" in printed and "scoliosis" in printed
    assert "retrolisthesis" not in printed  # only the findings asked for
    (png,) = out.glob("2.25.*.png")  # named by the pseudonymous UID, never the original
    with Image.open(png) as image:
        assert image.size == (600, 600)  # two findings, two views each
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            pseudonym = png.name.split("-")[0]
            assert connection.scalar(select(Study.id).where(Study.study_uid == pseudonym))
            actions = connection.scalars(select(AuditEvent.action)).all()
            assert "explain" in actions
    finally:
        engine.dispose()

    assert main([*data, "explain", pseudonym, "--finding", "gout"]) == ExitCode.USAGE
    assert "has no finding gout" in capsys.readouterr().err
    assert main([*data, "explain", "1.2.3.4"]) == ExitCode.USAGE
    assert "study 1.2.3.4 is not in the corpus" in capsys.readouterr().err
