"""Fixtures for the DICOM tests: a small simulated archive and a running simulated PACS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pacsbridge import LocalAE, Pseudonymiser, StorageSCP
from simhospital import SimulatedPACS, SimulatedStudy, generate_study


@pytest.fixture(scope="session")
def small_studies() -> list[SimulatedStudy]:
    return [generate_study(i, seed=7, scale=0.12) for i in range(4)]


@pytest.fixture
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(b"test-key-0123456789abcdef")


@pytest.fixture
def pacs(tmp_path: Path, small_studies: list[SimulatedStudy]) -> Iterator[SimulatedPACS]:
    server = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    for study in small_studies:
        server.add_study(study)
    with server:
        yield server


@pytest.fixture
def local() -> LocalAE:
    return LocalAE("PACSLABEL", storage_port=0, network_timeout_s=10, move_timeout_s=30)


@pytest.fixture
def scp(
    tmp_path: Path, local: LocalAE, pacs: SimulatedPACS, pseudonymiser: Pseudonymiser
) -> Iterator[StorageSCP]:
    with StorageSCP(
        local,
        tmp_path / "incoming",
        tmp_path / "quarantine",
        pseudonymiser.uid,
        allowed_calling_ae_titles=["SIMPACS"],
    ) as server:
        pacs.destinations[local.ae_title] = ("127.0.0.1", server.port)
        yield server
