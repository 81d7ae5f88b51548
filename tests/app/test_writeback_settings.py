"""What goes into the clinical record: write-back off, and a dry run into a folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

from db import upgrade
from pacslabel.context import open_context
from pacslabel.pipeline.loop import run_once
from pacslabel.settings import Settings
from simhospital import SimulatedPACS, generate_study

STUDIES = 6


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[SimulatedPACS]:
    server = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    for index in range(STUDIES):
        server.add_study(generate_study(index, seed=5, scale=0.12))
    with server:
        yield server


def test_off_then_a_dry_run_then_sent(
    tmp_path: Path, pacs: SimulatedPACS, loop_settings: Callable[..., Settings]
) -> None:
    def register(scp: object) -> None:
        pacs.destinations["PACSLABEL"] = ("127.0.0.1", scp.port)  # type: ignore[attr-defined]

    def run(**writeback: object) -> int:
        settings = loop_settings(pacs, writeback=writeback)
        with open_context(settings) as ctx:
            return run_once(ctx, on_listening=register).reported

    upgrade(loop_settings(pacs).resolved_database_url)
    assert run(enabled=False) == 0  # trained and predicted, nothing written anywhere
    assert pacs.received == []

    dry = tmp_path / "dry-run"
    previous = os.umask(0o022)
    try:
        assert run(folder=dry) == STUDIES
    finally:
        os.umask(previous)
    assert pacs.received == []
    files = sorted(dry.glob("*/*.dcm"))
    assert len(files) == STUDIES and not list(dry.rglob("*.part"))
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        sr = pydicom.dcmread(path)
        assert sr.Modality == "SR" and sr.SOPInstanceUID == path.stem
    assert run(folder=dry) == 0  # the folder has them: not written again

    assert run() == STUDIES  # the dry run's SRs go to the PACS once it is over
    assert sorted(pacs.received) == sorted(path.stem for path in files)
    assert run() == 0
