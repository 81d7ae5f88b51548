"""Fixtures of the integration tests (peers in peers.py, importable as ``peers``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from peers import Orthanc, reset_orthanc, restart_orthanc, start_orthanc


@pytest.fixture(scope="module")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Orthanc]]:
    """One Orthanc for a test module (in a list: a test that kills it gets a new one)."""
    held = [start_orthanc(tmp_path_factory.mktemp("orthanc"))]
    try:
        yield held
    finally:
        held[0].stop()


@pytest.fixture
def orthanc(orthanc_server: list[Orthanc]) -> Orthanc:
    """The module's Orthanc, empty: no instance and no modality left by an earlier test
    (started again on the same ports when an earlier test stopped it)."""
    if orthanc_server[0].process.poll() is not None:
        orthanc_server[0] = restart_orthanc(orthanc_server[0])
    reset_orthanc(orthanc_server[0])
    return orthanc_server[0]
