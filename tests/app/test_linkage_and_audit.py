"""The linkage key (rotation, loss) and the PHI audit, over a small simulated archive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import Linkage, Report, Study, StudyState, upgrade
from pacsbridge import StorageSCP
from pacslabel.cli import main
from pacslabel.context import open_context
from pacslabel.errors import ExitCode, LinkageError
from pacslabel.pipeline.loop import run_once
from pacslabel.pipeline.stages import writeback_all
from pacslabel.settings import Settings
from simhospital import SimulatedPACS, SimulatedStudy, generate_study


@pytest.fixture(scope="module")
def studies() -> list[SimulatedStudy]:
    made = [generate_study(i, seed=61, scale=0.1, report_mix=(1.0, 0.0, 0.0)) for i in range(6)]
    return sorted(made, key=lambda s: s.study_date)  # the later ones arrive later


@pytest.fixture
def pacs(tmp_path: Path, studies: list[SimulatedStudy]) -> Iterator[SimulatedPACS]:
    server = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    for study in studies[:4]:
        server.add_study(study)
    with server:
        yield server


@pytest.fixture
def settings(pacs: SimulatedPACS, loop_settings: Callable[..., Settings]) -> Settings:
    made = loop_settings(pacs, log_level="WARNING", local={"storage_port": 0}, ingest={})
    # A fixed pseudonym key: the same held-out split every run (with four studies a random
    # one sometimes holds out too many to train on).
    made.secrets_dir.mkdir(parents=True, exist_ok=True)
    (made.secrets_dir / "pseudonym.key").write_text("linkage tests: a fixed pseudonym key\n")
    return made


def _run(settings: Settings, pacs: SimulatedPACS) -> None:
    def register(scp: StorageSCP) -> None:
        pacs.destinations["PACSLABEL"] = ("127.0.0.1", scp.port)

    with open_context(settings) as ctx:
        run_once(ctx, on_listening=register)


def test_losing_the_linkage_key_disables_write_back_and_nothing_else(
    settings: Settings,
    pacs: SimulatedPACS,
    studies: list[SimulatedStudy],
    caplog: pytest.LogCaptureFixture,
) -> None:
    upgrade(settings.resolved_database_url)
    _run(settings, pacs)
    assert len(pacs.received) == 4
    (settings.secrets_dir / "linkage.key").unlink()  # lost
    for study in studies[4:]:
        pacs.add_study(study)
    _run(settings, pacs)  # a new key is made; the new studies go all the way
    assert len(pacs.received) == 6
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        states = [s.state for s in session.scalars(select(Study))]
        assert states.count(StudyState.REPORTED) == 6
        old = session.scalars(select(Study).order_by(Study.id)).first()
        assert old is not None
        image = next(i for i in old.images if i.is_paired)
        with pytest.raises(LinkageError, match="not configured"):
            ctx.vault.get(session, image.sop_uid)
        old.state = StudyState.PREDICTED  # ask for its SR again: impossible without the key
        session.commit()
        assert writeback_all(ctx) == 0
        session.refresh(old)
        assert old.state is StudyState.PREDICTED
    assert "cannot write SRs back" in caplog.text
    assert len(pacs.received) == 6


def test_rotation_reencrypts_and_survives_a_crash(settings: Settings, pacs: SimulatedPACS) -> None:
    upgrade(settings.resolved_database_url)
    _run(settings, pacs)
    key_file = settings.secrets_dir / "linkage.key"
    old_key = key_file.read_bytes()
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        before = {
            row.pseudonymous_uid: ctx.vault.get(session, row.pseudonymous_uid)
            for row in session.scalars(select(Linkage))
        }
    assert main(["--data-dir", str(settings.data_dir), "keys", "rotate"]) == ExitCode.OK
    assert key_file.read_bytes() != old_key
    assert not (settings.secrets_dir / "linkage.key.next").exists()
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        assert {uid: ctx.vault.get(session, uid) for uid in before} == before
        assert {row.key_id for row in session.scalars(select(Linkage))} == {ctx.vault.key_id}
    # A rotation that crashed after its commit leaves the new key in linkage.key.next:
    # both keys are read, nothing is lost.
    (settings.secrets_dir / "linkage.key.next").write_bytes(key_file.read_bytes())
    key_file.write_bytes(old_key)
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        uid = next(iter(before))
        assert ctx.vault.get(session, uid) == before[uid]


def test_audit_phi_finds_a_planted_identifier(
    tmp_path: Path,
    settings: Settings,
    pacs: SimulatedPACS,
    studies: list[SimulatedStudy],
    capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade(settings.resolved_database_url)
    _run(settings, pacs)
    data = ["--data-dir", str(settings.data_dir)]
    assert main([*data, "audit-phi"]) == ExitCode.OK
    assert "0 hits" in capsys.readouterr().out
    family = studies[0].patient.patient_name.split("^")[0].split()[-1]
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        report = session.scalars(select(Report)).first()
        assert report is not None
        session.execute(
            update(Report)
            .where(Report.id == report.id)
            .values(text=report.text + f" Paziente {family}.")
        )
        session.commit()
    log = tmp_path / "daemon.log"
    log.write_text(f"INFO something about {studies[1].patient.patient_id}\n")
    assert main([*data, "audit-phi", "--logs", str(log)]) == ExitCode.IDENTIFIERS_FOUND
    out = capsys.readouterr().out
    assert "db reports.text" in out and "patient name" in out
    assert f"file {log}" in out and "patient ID" in out
    assert family not in out  # hits are reported masked
