"""Ingest from a real PACS (Orthanc): every study arrives and pairs right; faults recover."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from peers import Orthanc, free_port, restart_orthanc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import Image, Study, StudyState, upgrade
from pacsbridge import LocalAE, MoveDestinationUnknown, Node, StorageSCP, store_files
from pacslabel.cli import main
from pacslabel.context import Context, open_context
from pacslabel.errors import ExitCode
from pacslabel.pipeline.loop import run_once
from pacslabel.pipeline.stages import deidentify_all, discover, retrieve
from pacslabel.settings import Settings, load_settings
from simhospital import SimulatedStudy, generate_study, write_study

COUNT = 8


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[SimulatedStudy], Path, Path]:
    root = tmp_path_factory.mktemp("archive")
    studies = [generate_study(i, seed=31, scale=0.12) for i in range(COUNT)]
    for study in studies:
        write_study(study, root / "dicom" / study.study_instance_uid, ris_dir=root / "ris")
    return studies, root / "dicom", root / "ris"


@pytest.fixture
def loaded(orthanc: Orthanc, archive: tuple[list[SimulatedStudy], Path, Path]) -> Orthanc:
    _, dicom, _ = archive
    report = store_files(LocalAE("UPLOADER"), orthanc.node, sorted(dicom.rglob("*.dcm")))
    assert not report.failed
    return orthanc


def _settings(tmp_path: Path, orthanc: Orthanc, ris: Path, port: int, **ingest: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        pacs={"ae_title": "ORTHANC", "host": "127.0.0.1", "port": orthanc.dicom_port},
        local={"storage_port": port, "network_timeout_s": 10, "move_timeout_s": 60},
        ingest={"report_drop": ris, "retry_backoff_s": 0.2, **ingest},
        training={"min_studies": 1000},
    )


def _register(orthanc: Orthanc, port: int) -> None:
    orthanc.put("/modalities/pacslabel", {"AET": "PACSLABEL", "Host": "127.0.0.1", "Port": port})


def _check_pairs(ctx: Context, studies: list[SimulatedStudy]) -> None:
    with Session(ctx.engine) as session:
        for study in studies:
            row = session.scalar(
                select(Study).where(
                    Study.study_uid == ctx.pseudonymiser.uid(study.study_instance_uid)
                )
            )
            assert row is not None
            paired = {i.view_role: i.sop_uid for i in row.images if i.is_paired}
            assert paired == {
                "ap": ctx.pseudonymiser.uid(study.ap_sop_instance_uid),
                "lateral": ctx.pseudonymiser.uid(study.lateral_sop_instance_uid),
            }, row.pairing_note


@pytest.mark.parametrize("method", ["move", "get"])
def test_ingest_from_orthanc(
    tmp_path: Path, loaded: Orthanc, method: str, archive: tuple[list[SimulatedStudy], Path, Path]
) -> None:
    studies, _, ris = archive
    port = free_port()
    _register(loaded, port)
    settings = _settings(tmp_path, loaded, ris, port, retrieve_method=method, associations=3)
    upgrade(settings.resolved_database_url)
    with open_context(settings) as ctx:
        first = run_once(ctx, retrain=False)
        assert first.ingest_error is None
        assert (first.found, first.new, first.retrieved, first.deidentified) == (COUNT,) * 4
        _check_pairs(ctx, studies)
        second = run_once(ctx, retrain=False)
        assert (second.new, second.retrieved) == (0, 0)
        with Session(ctx.engine) as session:
            assert session.scalar(select(func.count()).select_from(Study)) == COUNT


def test_orthanc_stopped_in_the_middle_of_a_move(
    tmp_path: Path, loaded: Orthanc, archive: tuple[list[SimulatedStudy], Path, Path]
) -> None:
    studies, _, ris = archive
    port = free_port()
    _register(loaded, port)
    settings = _settings(tmp_path, loaded, ris, port, associations=1, retries=0)
    upgrade(settings.resolved_database_url)
    server = {"orthanc": loaded}
    arrived = 0
    lock = threading.Lock()

    def crash_after_a_few(_file: Path) -> None:
        nonlocal arrived
        with lock:
            arrived += 1
            if arrived == 5:  # inside the second study's C-MOVE
                server["orthanc"].process.kill()

    with open_context(settings) as ctx:
        scp = StorageSCP(
            ctx.local,
            ctx.paths.incoming,
            ctx.paths.quarantine,
            ctx.pseudonymiser.uid,
            ["ORTHANC"],
            on_instance=crash_after_a_few,
        )
        with scp:
            discover(ctx)
            assert retrieve(ctx, scp) < COUNT  # the run reports the partial study
        with Session(ctx.engine) as session:
            failed = list(session.scalars(select(Study).where(Study.failed_stage == "retrieve")))
            assert failed and all(s.state is StudyState.DISCOVERED for s in failed)
            assert any(s.failure_reason for s in failed)
        server["orthanc"] = restart_orthanc(loaded)
        with StorageSCP(
            ctx.local, ctx.paths.incoming, ctx.paths.quarantine, ctx.pseudonymiser.uid, ["ORTHANC"]
        ) as scp:
            retrieve(ctx, scp)  # the next run completes it
        deidentify_all(ctx)
        with Session(ctx.engine) as session:
            states = dict(
                session.execute(select(Study.state, func.count()).group_by(Study.state)).all()
            )
            assert states == {StudyState.DEIDENTIFIED: COUNT}
            images = session.scalar(select(func.count()).select_from(Image))
            distinct = session.scalar(select(func.count(func.distinct(Image.sop_uid))))
            reports = sum(1 for s in studies if s.report_source in ("sr", "pdf"))
            expected = sum(len(s.datasets) for s in studies) - reports
            assert images == distinct == expected  # nothing twice
        _check_pairs(ctx, studies)
    server["orthanc"].stop()


def test_unknown_move_destination(
    tmp_path: Path,
    loaded: Orthanc,
    archive: tuple[list[SimulatedStudy], Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, _, ris = archive
    port = free_port()  # not registered in Orthanc
    settings = _settings(tmp_path, loaded, ris, port)
    upgrade(settings.resolved_database_url)
    with open_context(settings) as ctx:
        report = run_once(ctx, retrain=False)
    assert isinstance(report.ingest_error, MoveDestinationUnknown)
    message = str(report.ingest_error)
    assert "PACSLABEL" in message and str(port) in message and "register" in message
    config = tmp_path / "pacslabel.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[pacs]\nae_title = "ORTHANC"\nhost = "127.0.0.1"\n'
        f"port = {loaded.dicom_port}\n[local]\nstorage_port = {port}\n"
    )
    assert main(["--config", str(config), "--log-level", "ERROR", "run", "--no-train"]) == (
        ExitCode.MOVE_DESTINATION
    )
    assert "register" in capsys.readouterr().out


def test_node_addresses() -> None:
    assert str(Node("ORTHANC", "h", 4242)) == "ORTHANC@h:4242"
