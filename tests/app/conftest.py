"""Fixtures of the application tests that run the loop against a simulated PACS."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pacslabel.settings import Settings, load_settings
from simhospital import SimulatedPACS, SimulatedStudy

#: A model small and quick enough to train in a test.
TINY_TRAINING = {
    "image_size": 32,
    "epochs": 1,
    "batch_size": 4,
    "min_studies": 4,
    "device": "cpu",
    "augment": False,
}


@pytest.fixture
def loop_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Make settings that run the loop against a simulated PACS (AE ``SIMPACS``) with
    the tiny model, in ``tmp_path/data``; keyword arguments are further settings
    (a section given replaces the default one)."""

    def make(pacs: SimulatedPACS, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "pacs": {"ae_title": "SIMPACS", "host": "127.0.0.1", "port": pacs.port},
            "local": {"storage_port": 0, "network_timeout_s": 10},
            "ingest": {"report_drop": pacs.ris_dir},
            "training": TINY_TRAINING,
        }
        return load_settings(**{**values, **overrides})

    return make


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Default settings in a temporary data folder, with no PACSLABEL_* leaking in."""
    for name in list(os.environ):
        if name.startswith("PACSLABEL_") and not name.startswith("PACSLABEL_TEST_"):
            monkeypatch.delenv(name)
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def pacs(tmp_path: Path, archive: list[SimulatedStudy]) -> Iterator[SimulatedPACS]:
    """A running simulated PACS (AE ``SIMPACS``) holding the test module's ``archive``
    (modules that need another PACS define their own ``pacs``)."""
    server = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    for study in archive:
        server.add_study(study)
    with server:
        yield server
