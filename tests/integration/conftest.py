"""Fixtures of the integration tests (peers in peers.py, importable as ``peers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import Orthanc, start_orthanc


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    server = start_orthanc(tmp_path / "orthanc")
    try:
        yield server
    finally:
        server.stop()
