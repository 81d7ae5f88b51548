"""Faults: ``pacslabel run`` killed with SIGKILL in each stage, then run again, reaches the
state of an uninterrupted run — every study reported once, one SR per study in the PACS,
no file left half-written or unreferenced — on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
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
