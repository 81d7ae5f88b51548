"""The pacslabel command: exit codes and messages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from pynetdicom import _config

from db import head_revision
from pacslabel.cli import main
from pacslabel.cli.main import entry
from pacslabel.errors import ExitCode
from pacslabel.settings import Settings
from tests.app.conftest import DEMO_ARGS, DEMO_STUDIES, DemoCorpus
from tests.conftest import Interpreter


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
    assert f"{DEMO_STUDIES} new" in printed
    # the simulated devices burned identifiers into 6 of the 40 (studies 2, 7 and 29 saying
    # nothing of it, 4, 32 and 36 with BurnedInAnnotation YES): the demo says what became
    # of them, and only the others' SRs go back
    burned = re.search(
        r"Burned-in text \(so far\): (\d+) studies quarantined .*?(\d+) masked, (\d+) said so",
        printed,
    )
    assert burned is not None, printed
    found, flagged = int(burned[1]), int(burned[3])
    assert flagged == 3 and 2 <= found <= 3, burned[0]
    stored = re.search(r"(\d+) SRs stored back", printed)
    assert stored is not None and int(stored[1]) == DEMO_STUDIES - found - flagged, printed
    assert "held-out studies" in printed and "BENCHMARKS.md" in printed  # what the AUCs mean
    assert main(demo_corpus.cli(*DEMO_ARGS)) == ExitCode.OK
    again = capsys.readouterr().out
    assert "0 new" in again and "Training: skipped" in again


_SCRIPT = """
print("the script ran", flush=True)
from pacslabel.cli.main import forget_main_script
forget_main_script()  # what the entry point does first
from pacsbridge import DeidJob, DeidOptions, DeidWorkers
pool = DeidWorkers(DeidJob(b"test-key-0123456789abcdef", 365, DeidOptions()), 2)
pool.start(wait=True)
pool.close()
"""


def test_workers_do_not_run_the_main_script_again(
    tmp_path: Path, new_interpreter: Interpreter
) -> None:
    """The ``pacslabel`` script imports the whole application: a worker must not run it
    again (multiprocessing does, for a main module given by its path)."""
    script = tmp_path / "owner.py"
    script.write_text(_SCRIPT)
    done = subprocess.run(
        new_interpreter.argv(str(script)), capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.count("the script ran") == 1, done.stdout + done.stderr


def test_the_entry_point_leaves_no_main_script_to_run_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = types.ModuleType("__main__")
    script.__file__ = "/usr/bin/pacslabel"
    monkeypatch.setitem(sys.modules, "__main__", script)
    monkeypatch.setattr(sys, "argv", ["pacslabel", "--data-dir", str(settings.data_dir), "task"])
    monkeypatch.setattr(os, "umask", lambda mask: 0o022)  # the test process keeps its own
    with pytest.raises(SystemExit) as done:
        entry()
    assert done.value.code == ExitCode.OK and not hasattr(script, "__file__")
