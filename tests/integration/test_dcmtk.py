"""dcmtk's tools as third-party peers of our storage SCP and of the simulated PACS."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import run
from pydicom import dcmread

from pacsbridge import LocalAE, Pseudonymiser, StorageSCP
from simhospital import SimulatedPACS, SimulatedStudy, generate_study, write_study


@pytest.fixture(scope="module")
def studies() -> list[SimulatedStudy]:
    return [generate_study(i, seed=21, scale=0.1) for i in range(3)]


@pytest.fixture
def pacs(tmp_path: Path, studies: list[SimulatedStudy]) -> Iterator[SimulatedPACS]:
    server = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    for study in studies:
        server.add_study(study)
    with server:
        yield server


@pytest.fixture
def scp(tmp_path: Path, pacs: SimulatedPACS) -> Iterator[StorageSCP]:
    local = LocalAE("PACSLABEL", storage_port=0)
    with StorageSCP(
        local,
        tmp_path / "in",
        tmp_path / "q",
        Pseudonymiser(b"k" * 16).uid,
        allowed_calling_ae_titles=["SIMPACS", "DCMTK"],
    ) as server:
        pacs.destinations["PACSLABEL"] = ("127.0.0.1", server.port)
        yield server


def _findscu(pacs: SimulatedPACS, *keys: str) -> subprocess.CompletedProcess[str]:
    """dcmtk's findscu (Study Root) against the simulated PACS with these ``-k`` keys."""
    command = ["findscu", "-S", "-aet", "DCMTK", "-aec", "SIMPACS", "127.0.0.1", str(pacs.port)]
    return run([*command, *(part for key in keys for part in ("-k", key))])


def test_findscu_queries_the_simulated_pacs(
    pacs: SimulatedPACS, studies: list[SimulatedStudy]
) -> None:
    result = _findscu(
        pacs,
        "QueryRetrieveLevel=STUDY",
        "StudyInstanceUID",
        "ModalitiesInStudy=DX\\CR",
        "StudyDescription",
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for study in studies:
        assert study.study_instance_uid in output
    series = _findscu(
        pacs,
        "QueryRetrieveLevel=SERIES",
        f"StudyInstanceUID={studies[0].study_instance_uid}",
        "SeriesInstanceUID",
        "Modality",
    )
    assert series.returncode == 0 and "SR" in series.stdout + series.stderr


def test_movescu_moves_from_the_simulated_pacs_into_our_scp(
    pacs: SimulatedPACS, scp: StorageSCP, studies: list[SimulatedStudy]
) -> None:
    study = studies[1]
    result = run(
        [
            "movescu",
            "-S",
            "-aet",
            "DCMTK",
            "-aec",
            "SIMPACS",
            "-aem",
            "PACSLABEL",
            "127.0.0.1",
            str(pacs.port),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={study.study_instance_uid}",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    files = list(scp.study_dir(study.study_instance_uid).glob("*.dcm"))
    assert len(files) == len(study.datasets)
    received = {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}
    assert received == {str(ds.SOPInstanceUID) for ds in study.datasets}


def test_storescu_stores_into_our_scp(
    tmp_path: Path, scp: StorageSCP, studies: list[SimulatedStudy]
) -> None:
    paths = write_study(studies[2], tmp_path / "send")
    result = run(
        [
            "storescu",
            "-aet",
            "DCMTK",
            "-aec",
            "PACSLABEL",
            "127.0.0.1",
            str(scp.port),
            *map(str, paths),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert scp.received(studies[2].study_instance_uid) == len(paths)


def test_echoscu_with_a_wrong_ae_title_is_refused(scp: StorageSCP) -> None:
    refused = run(["echoscu", "-aet", "WRONG", "-aec", "PACSLABEL", "127.0.0.1", str(scp.port)])
    assert refused.returncode != 0
    assert "Calling AE Title Not Recognized" in refused.stdout + refused.stderr
    accepted = run(["echoscu", "-aet", "DCMTK", "-aec", "PACSLABEL", "127.0.0.1", str(scp.port)])
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
