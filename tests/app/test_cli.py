"""The pacslabel command: exit codes and messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from db import head_revision
from pacslabel.cli import EXIT_CONFIG, EXIT_OK, EXIT_PACS, EXIT_SCHEMA, main
from pacslabel.settings import Settings


def test_invalid_setting_exits_2_naming_the_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PACSLABEL_PACS__PORT", "not-a-port")
    assert main(["--data-dir", str(settings.data_dir), "status"]) == EXIT_CONFIG
    assert "pacs.port" in capsys.readouterr().err


def test_schema_must_be_current(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(settings.data_dir)
    assert main(["--data-dir", data, "status"]) == EXIT_SCHEMA
    assert "pacslabel db upgrade" in capsys.readouterr().err
    assert main(["--data-dir", data, "db", "upgrade"]) == EXIT_OK
    assert f"schema {head_revision()}" in capsys.readouterr().out
    assert main(["--data-dir", data, "status"]) == EXIT_OK


def test_unreachable_pacs_exits_4_but_later_stages_run(settings: Settings) -> None:
    data = str(settings.data_dir)
    assert main(["--data-dir", data, "db", "upgrade"]) == EXIT_OK
    os.environ["PACSLABEL_PACS__PORT"] = "9"
    try:
        assert main(["--data-dir", data, "run", "--no-train"]) == EXIT_PACS
    finally:
        del os.environ["PACSLABEL_PACS__PORT"]


def test_settings_and_task_commands(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(settings.data_dir), "task"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "instrumentation" in out and "298382003" in out
    assert main(["--data-dir", str(settings.data_dir), "settings"]) == EXIT_OK
    assert '"ae_title": "PACS"' in capsys.readouterr().out


@pytest.mark.slow
def test_demo_command_runs_and_reruns(tmp_path: Path) -> None:
    """The console script itself, as a user runs it (small: 12 studies, 1 epoch)."""
    command = [
        sys.executable,
        "-m",
        "pacslabel.cli",
        "--data-dir",
        str(tmp_path / "demo"),
        "--log-level",
        "WARNING",
        "demo",
        "--studies",
        "12",
        "--epochs",
        "1",
        "--image-size",
        "32",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACSLABEL_")}
    first = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr
    assert "12 new" in first.stdout and "12 SRs stored back" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stderr
    assert "0 new" in second.stdout and "Training: skipped" in second.stdout
