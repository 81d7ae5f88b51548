"""Faults: ``pacslabel run`` killed with SIGKILL in each stage, then run again, reaches the
state of an uninterrupted run — every study reported once, one SR per study in the PACS,
no file left half-written or unreferenced — on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from passes import (
    CONFIG,
    STUDIES,
    check_final,
    kill,
    load_good_studies,
    reported,
    run_until,
    running_trainings,
    states,
)
from peers import Orthanc, pacslabel, pacslabel_config

from db import StudyState
from pacslabel.errors import ExitCode

#: Where each stage starts, as the log says (``pacslabel.progress``), and how long after
#: it the process is killed.
STAGES = {
    "retrieval": ("retrieving studies", 0.3),
    "labelling": ("labelling reports", 0.0),
    "caching": ("caching pixels", 0.05),
    "training": ("training lumbar_spine", 0.5),
    "write-back": ("sending SRs to the PACS", 0.15),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_killed_in_a_stage_then_run_again(
    stage: str, tmp_path: Path, orthanc: Orthanc, database_url: str
) -> None:
    load_good_studies(orthanc)
    config = pacslabel_config(tmp_path, orthanc, database_url, extra=CONFIG)
    assert pacslabel(config, "db", "upgrade").returncode == 0
    marker, delay = STAGES[stage]
    code, _ = run_until(config, marker, delay, kill)
    assert code == -signal.SIGKILL, f"the pass ended before the kill in {stage}"
    assert reported(database_url) < STUDIES  # the kill left work undone
    if stage == "retrieval":
        assert StudyState.DISCOVERED in states(database_url)
    if stage == "training":  # killed while it trained: the next pass finds it "running"
        assert running_trainings(database_url) == 1
    again = pacslabel(config, "run")
    assert again.returncode == ExitCode.OK, again.stderr[-3000:]
    settled = pacslabel(config, "run")  # and nothing more to do
    assert settled.returncode == ExitCode.OK
    assert "0 SRs stored back" in settled.stdout
    check_final(orthanc, database_url, tmp_path / "data")


_KILLED_BEFORE_REGISTERING = """
import os, signal, sys
import pacslabel.pipeline.stages.train as train
def killed(*args, **kwargs):  # the checkpoint is written, the model not yet committed
    os.kill(os.getpid(), signal.SIGKILL)
train._register = killed
from pacslabel.cli.main import main
sys.exit(main(["--config", sys.argv[1], "run"]))
"""


def test_killed_between_the_last_checkpoint_and_the_model_commit(
    tmp_path: Path, orthanc: Orthanc, database_url: str
) -> None:
    """Issue 18: the next pass resumes the finished checkpoint with its recorded loss (it
    was NaN, which PostgreSQL refuses as JSON), registers the model and sends the SRs."""
    load_good_studies(orthanc)
    short = CONFIG.replace("epochs = 60", "epochs = 2")
    config = pacslabel_config(tmp_path, orthanc, database_url, extra=short)
    assert pacslabel(config, "db", "upgrade").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACSLABEL_")}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_BEFORE_REGISTERING, str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert running_trainings(database_url) == 1 and reported(database_url) == 0
    assert list((tmp_path / "data" / "models").rglob("model.pt"))  # the finished checkpoint
    again = pacslabel(config, "run")
    assert again.returncode == ExitCode.OK, again.stderr[-3000:]
    assert "trained" in again.stdout
    check_final(orthanc, database_url, tmp_path / "data")
