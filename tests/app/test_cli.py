"""The pacslabel command: exit codes and messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pynetdicom import _config

from db import head_revision
from pacslabel.cli import main
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from tests.app.conftest import DEMO_ARGS, DEMO_STUDIES, DemoCorpus


def test_invalid_setting_exits_2_naming_the_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PACSLABEL_PACS__PORT", "not-a-port")
    assert main(["--data-dir", str(settings.data_dir), "status"]) == ExitCode.USAGE
    assert "pacs.port" in capsys.readouterr().err


def test_schema_must_be_current(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(settings.data_dir)
    assert main(["--data-dir", data, "status"]) == ExitCode.SCHEMA
    assert "pacslabel db upgrade" in capsys.readouterr().err
    assert main(["--data-dir", data, "db", "upgrade"]) == ExitCode.OK
    assert f"schema {head_revision()}" in capsys.readouterr().out
    assert main(["--data-dir", data, "status"]) == ExitCode.OK


def test_commands_that_need_a_model_say_so_with_one_code(
    settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = str(settings.data_dir)
    assert main(["--data-dir", data, "db", "upgrade"]) == ExitCode.OK
    labels = tmp_path / "labels.csv"
    labels.write_text("study_instance_uid\n1.2.3\n", encoding="utf-8")
    assert main(["--data-dir", data, "model", "evaluate", "--test", str(labels)]) == (
        ExitCode.NOT_READY
    )
    assert "no image model is trained yet" in capsys.readouterr().err


def test_the_entry_point_stops_pynetdicom_logging_identifiers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_config, "LOG_REQUEST_IDENTIFIERS", True)
    monkeypatch.setattr(_config, "LOG_RESPONSE_IDENTIFIERS", True)
    assert main(["--data-dir", str(settings.data_dir), "settings"]) == ExitCode.OK
    assert not _config.LOG_REQUEST_IDENTIFIERS and not _config.LOG_RESPONSE_IDENTIFIERS


def test_unreachable_pacs_exits_4_but_later_stages_run(settings: Settings) -> None:
    data = str(settings.data_dir)
    assert main(["--data-dir", data, "db", "upgrade"]) == ExitCode.OK
    os.environ["PACSLABEL_PACS__PORT"] = "9"
    try:
        assert main(["--data-dir", data, "run", "--no-train"]) == ExitCode.PACS
    finally:
        del os.environ["PACSLABEL_PACS__PORT"]


def test_settings_and_task_commands(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(settings.data_dir), "task"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "instrumentation" in out and "298382003" in out
    assert main(["--data-dir", str(settings.data_dir), "settings"]) == ExitCode.OK
    assert '"ae_title": "PACS"' in capsys.readouterr().out


def test_demo_command_runs_and_reruns(
    demo_corpus: DemoCorpus, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console script itself, as a user runs it (the session's demo: a new interpreter,
    40 studies, 1 epoch), then again in this process on a copy of what it left."""
    printed = demo_corpus.stdout
    assert f"{DEMO_STUDIES} new" in printed and f"{DEMO_STUDIES} SRs stored back" in printed
    assert "held-out studies" in printed and "BENCHMARKS.md" in printed  # what the AUCs mean
    assert main(demo_corpus.cli(*DEMO_ARGS)) == ExitCode.OK
    again = capsys.readouterr().out
    assert "0 new" in again and "Training: skipped" in again
