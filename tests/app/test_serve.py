"""``pacslabel serve``: the loop on its schedule, passes that never overlap, a nightly
training in its own process while ingest passes go on, a clean stop."""

from __future__ import annotations

import datetime as dt
import itertools
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import peers
import pytest
from peers import free_port
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Study, StudyState, TrainingRun, upgrade
from pacslabel.context import open_context
from pacslabel.errors import InvalidSettings
from pacslabel.pipeline import Service
from pacslabel.pipeline.loop import RunReport
from pacslabel.pipeline.stages import TrainOutcome
from pacslabel.settings import ScheduleSettings, Settings, load_settings
from simhospital import SimulatedPACS, generate_study, write_study
from tests.conftest import Interpreter

STUDIES = 6


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[SimulatedPACS]:
    server = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    for index in range(STUDIES):
        server.add_study(generate_study(index, seed=4, scale=0.12))
    with server:
        yield server


def test_ingest_passes_go_on_while_the_nightly_training_runs_in_its_own_process(
    database_url: str, pacs: SimulatedPACS, loop_settings: Callable[..., Settings]
) -> None:
    port = free_port()
    pacs.destinations["PACSLABEL"] = ("127.0.0.1", port)
    settings = loop_settings(
        pacs, database_url=database_url, local={"storage_port": port, "network_timeout_s": 10}
    )
    upgrade(database_url)
    with open_context(settings) as ctx:
        nightly = dt.datetime.now() + dt.timedelta(seconds=8)  # after the slow start-up
        schedule = ScheduleSettings(
            ingest_every_minutes=0.03, train_at=nightly.strftime("%H:%M:%S")
        )
        service = Service(ctx, schedule)
        service.start()
        try:
            assert set(service.next_runs()) == {"ingest", "nightly"}
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                done = list(service.trainings)
                later = [r for r in service.history if done and r.started > done[0].finished]
                if len(later) >= 2:
                    break
                time.sleep(0.5)
        finally:
            service.stop()
        with Session(ctx.engine) as session:
            runs = [run.status.value for run in session.scalars(select(TrainingRun))]
    history, trainings = list(service.history), list(service.trainings)
    for earlier, later in itertools.pairwise(history):  # passes: one at a time
        assert earlier.finished <= later.started
    assert all(r.report is not None for r in history), history
    first = history[0]
    assert first.kind == "ingest" and first.report is not None
    assert first.report.new == STUDIES and first.report.reported == 0  # no model yet
    night = next(r for r in history if r.kind == "nightly")
    assert night.report is not None and night.report.training.status == "skipped"
    assert len(trainings) == 1 and trainings[0].exit_code == 0, trainings
    training = trainings[0]
    # ingest passes ran while the training process ran
    beside = [r for r in history if training.started < r.started and r.finished < training.finished]
    assert beside, (training, history)
    # once the model was registered (current: the first), a pass predicted with it and
    # sent every SR, once; nothing was sent before the training started
    sent = [r for r in history if r.report is not None and r.report.reported]
    assert sum(r.report.reported for r in sent) == STUDIES, history
    assert all(r.started > training.started for r in sent)
    after = [r.report for r in history if r.started > training.finished and r.report is not None]
    assert after and all(report.new == 0 and report.reported == 0 for report in after[1:])
    assert len(pacs.received) == STUDIES
    assert runs == ["succeeded"]  # not marked interrupted by the passes beside it


def _report() -> RunReport:
    return RunReport(0, 0, 0, 0, 0, 0, TrainOutcome("skipped", "not asked to train"), 0, 0)


def test_a_failing_pass_is_logged_and_the_next_one_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[bool] = []

    def flaky(ctx: object, *, retrain: bool, full_query: bool, scp: object) -> RunReport:
        calls.append(retrain)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return _report()

    monkeypatch.setattr("pacslabel.pipeline.scheduler.run_once", flaky)
    far = (dt.datetime.now() + dt.timedelta(hours=12)).strftime("%H:%M")  # no nightly pass
    schedule = ScheduleSettings(ingest_every_minutes=0.01, train_at=far)
    service = Service(object(), schedule, train=False, listen=False)  # type: ignore[arg-type]
    service.start()
    try:
        deadline = time.monotonic() + 30
        while len(service.history) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        service.stop()
    assert [r.report is None for r in list(service.history)[:2]] == [True, False]
    assert calls[:2] == [False, False]  # ingest passes do not train
    assert "ingest pass failed: RuntimeError: disk full" in caplog.text


def test_the_nightly_pass_queries_everything_on_its_day(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[bool, bool]] = []

    def record(ctx: object, *, retrain: bool, full_query: bool, scp: object) -> RunReport:
        asked.append((retrain, full_query))
        return _report()

    monkeypatch.setattr("pacslabel.pipeline.scheduler.run_once", record)
    today = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[dt.datetime.now().weekday()]
    other = "sun" if today == "sat" else "sat"
    for day, nightly_full in (("daily", True), (today, True), (other, False), ("never", False)):
        schedule = ScheduleSettings(full_query_on=day)
        service = Service(object(), schedule, train=False, listen=False)  # type: ignore[arg-type]
        service._pass("ingest")
        service._pass("nightly")
        assert asked[-2:] == [(False, False), (False, nightly_full)], day  # trains apart


def test_schedule_settings_are_checked() -> None:
    with pytest.raises(InvalidSettings, match=r"schedule\.train_at"):
        load_settings(schedule={"train_at": "25:00"})
    with pytest.raises(InvalidSettings, match=r"schedule\.ingest_every_minutes"):
        load_settings(schedule={"ingest_every_minutes": 0})
    nightly = ScheduleSettings(train_at="03:30")
    service = Service(  # type: ignore[arg-type]
        object(), nightly, timezone=dt.UTC, train=False, listen=False
    )
    service.start()
    try:
        runs = service.next_runs()
    finally:
        service.stop(wait=False)
    at = runs["nightly"]
    assert at is not None and (at.hour, at.minute, at.second) == (3, 30, 0)
    assert dt.timedelta(0) < at - dt.datetime.now(dt.UTC) <= dt.timedelta(days=1)


def test_serve_survives_an_unreachable_pacs_and_stops_on_sigterm(
    tmp_path: Path, new_interpreter: Interpreter
) -> None:
    data = str(tmp_path / "data")
    env = new_interpreter.env()
    env.update(
        PACSLABEL_PACS__PORT="9",  # nothing listens: every ingest stops, the daemon stays
        PACSLABEL_SCHEDULE__INGEST_EVERY_MINUTES="0.01",
        PACSLABEL_LOCAL__STORAGE_PORT="0",
        PACSLABEL_HEALTH__PORT=str(free_port()),
        COLUMNS="250",
    )
    upgrade(load_settings(data_dir=Path(data)).resolved_database_url)
    base = new_interpreter.pacslabel("--data-dir", data)
    log = tmp_path / "serve.log"
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # as systemd's notify socket
    systemd.bind(str(tmp_path / "notify"))
    systemd.settimeout(5)
    env["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    with systemd, log.open("w") as handle:
        process = subprocess.Popen([*base, "serve"], stdout=handle, stderr=handle, env=env)
        try:
            deadline = time.monotonic() + 120
            while log.read_text().count("ingest pass done") < 3:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, log.read_text()
            told = []
            while not told or told[-1] != "STOPPING=1":
                told.append(systemd.recv(256).decode())
        finally:
            if process.poll() is None:
                process.kill()
    assert told[0] == "READY=1" and "WATCHDOG=1" in told, told
    text = log.read_text()
    assert text.count("ingest stopped") >= 3
    assert "SIGTERM received" in text and "stopped; the next start resumes" in text


def test_serve_answers_c_echo_between_passes_and_takes_in_a_pushed_study(
    database_url: str, tmp_path: Path, loop_settings: Callable[..., Settings]
) -> None:
    empty = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    port = free_port()
    with empty:
        settings = loop_settings(
            empty,
            database_url=database_url,
            local={"storage_port": port, "network_timeout_s": 10},
            ingest={"report_drop": empty.ris_dir, "push_settle_s": 1},
        )
        upgrade(database_url)
        study = generate_study(0, seed=6, scale=0.12, report_mix=(1.0, 0.0, 0.0))
        paths = write_study(study, tmp_path / "push")
        far = (dt.datetime.now() + dt.timedelta(hours=12)).strftime("%H:%M")
        schedule = ScheduleSettings(ingest_every_minutes=0.02, train_at=far)
        with open_context(settings) as ctx:
            service = Service(ctx, schedule, train=False)
            service.start()
            try:
                peer = ["-aet", "SIMPACS", "-aec", "PACSLABEL", "127.0.0.1", str(port)]
                for _ in range(8):  # during passes and between them
                    echo = peers.run(["echoscu", *peer])
                    assert echo.returncode == 0, echo.stdout + echo.stderr
                    time.sleep(0.4)
                pushed = peers.run(["storescu", *peer, *map(str, paths)])
                assert pushed.returncode == 0, pushed.stdout + pushed.stderr
                uid = ctx.pseudonymiser.uid(study.study_instance_uid)
                deadline, state = time.monotonic() + 90, None
                while time.monotonic() < deadline and state != StudyState.CACHED:
                    time.sleep(0.5)
                    with Session(ctx.engine) as session:
                        state = session.scalar(select(Study.state).where(Study.study_uid == uid))
            finally:
                service.stop()
    assert state == StudyState.CACHED  # de-identified, paired, labelled, cached
    assert all(record.report is not None for record in service.history)
