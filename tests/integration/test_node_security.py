"""The DICOM node under attack while it retrieves from a real PACS (Orthanc), on SQLite and
PostgreSQL (issue 18): twenty idle sockets, fake report SRs for a study under retrieval
from another host, an unsolicited study from the PACS's own title and host, an unknown
AE, a wrong called AE title. The retrieval completes, the reports are the real ones, and
every rejection is in the audit table or the quarantine with its reason."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from dicom_checks import raw_store
from peers import Orthanc, free_port
from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import AuditEvent, QuarantineEntry, Report, Study, StudyState, upgrade
from pacsbridge import LocalAE, StorageSCP, store_files
from pacslabel.context import open_context
from pacslabel.pipeline.loop import run_once
from pacslabel.settings import load_settings
from simhospital import generate_study, write_study

COUNT = 4


_send = raw_store


def _fake_report(real: Dataset) -> Dataset:
    """The real report SR with other UIDs and other words."""
    fake = real.copy()
    fake.SOPInstanceUID = real.SOPInstanceUID + ".9"
    fake.SeriesInstanceUID = real.SeriesInstanceUID + ".9"
    pending = list(fake.get("ContentSequence", []))
    while pending:
        item = pending.pop()
        if "TextValue" in item:
            item.TextValue = "FALSO REFERTO: frattura di L1."
        pending += list(item.get("ContentSequence", []))
    return fake


def test_attacks_during_a_retrieval_are_refused_and_audited(
    tmp_path: Path, orthanc: Orthanc, database_url: str
) -> None:
    studies = [
        generate_study(i, seed=41, scale=0.12, report_mix=(1.0, 0.0, 0.0)) for i in range(COUNT)
    ]
    for study in studies:
        write_study(study, tmp_path / "archive" / study.study_instance_uid)
    files = sorted((tmp_path / "archive").rglob("*.dcm"))
    assert not store_files(LocalAE("UPLOADER"), orthanc.node, files).failed
    port = free_port()
    orthanc.put("/modalities/pacslabel", {"AET": "PACSLABEL", "Host": "127.0.0.1", "Port": port})
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        pacs={"ae_title": "ORTHANC", "host": "127.0.0.1", "port": orthanc.dicom_port},
        local={"storage_port": port, "network_timeout_s": 10, "move_timeout_s": 60},
        ingest={"retry_backoff_s": 0.2},
        training={"min_studies": 1000},
    )
    upgrade(database_url)
    reports = {
        s.study_instance_uid: next(d for d in s.datasets if d.Modality == "SR") for s in studies
    }
    stranger = generate_study(COUNT, seed=41, scale=0.12)
    idle: list[socket.socket] = []
    outcomes: dict[str, list[int]] = {"fake": [], "unsolicited": [], "evil": [], "called": []}

    def during(scp: StorageSCP) -> None:
        """Once the first instance of a study arrived (its retrieval under way): a fake
        report SR of each study, from another host with the PACS's AE title."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(scp.received(uid) for uid in reports):
            time.sleep(0.01)
        for real in reports.values():
            try:
                sent = _send(_fake_report(real), scp.port, calling="ORTHANC", source="127.0.0.2")
            except Exception as exc:  # noqa: BLE001 - recorded: the assertion below names it
                sent = f"{type(exc).__name__}: {exc}"  # type: ignore[assignment]
            outcomes["fake"].append(sent)
        fakes_sent.set()

    def attack(scp: StorageSCP) -> None:
        """Idle sockets held through the pass; strangers before it; fakes during it."""
        idle.extend(socket.create_connection(("127.0.0.1", scp.port)) for _ in range(20))
        ds = stranger.datasets[0]
        outcomes["unsolicited"].append(_send(ds, scp.port, calling="ORTHANC"))
        outcomes["evil"].append(_send(ds, scp.port, calling="EVIL"))
        outcomes["called"].append(_send(ds, scp.port, calling="ORTHANC", called="OTHER"))
        original = scp.receiver._on_instance

        def hold_the_retrieval(path: Path) -> None:
            """The retrieval waits for the fakes: it is faster than they are, and a fake
            sent after the pass would meet a closed port, not the gate."""
            fakes_sent.wait(30)
            if original is not None:
                original(path)

        scp.receiver._on_instance = hold_the_retrieval
        threads.append(threading.Thread(target=during, args=(scp,)))
        threads[-1].start()

    threads: list[threading.Thread] = []
    fakes_sent = threading.Event()
    try:
        with open_context(settings) as ctx:
            result = run_once(ctx, on_listening=attack, retrain=False)
        for thread in threads:
            thread.join(60)
    finally:
        for sock in idle:
            sock.close()
    assert outcomes == {"fake": [-1] * COUNT, "unsolicited": [0x0124], "evil": [-1], "called": [-1]}
    assert result.retrieved == COUNT, result.summary()
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        rows = {s.study_uid: s for s in session.scalars(select(Study))}
        assert len(rows) == COUNT  # the stranger never became a study
        for study in studies:
            row = rows[ctx.pseudonymiser.uid(study.study_instance_uid)]
            assert row.state is StudyState.CACHED, (row.state, row.failure_reason)
            text = session.scalar(select(Report.text).where(Report.study_id == row.id))
            assert text and "FALSO" not in text  # the real SR, not a fake
        audited = [
            e.detail
            for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "scp.refused"))
        ]
        reasons = " | ".join(str(d["reason"]) for d in audited if d)
        assert len(audited) == COUNT + 2, reasons
        assert "ORTHANC from 127.0.0.2, not one of its hosts" in reasons
        assert "'EVIL' is not a configured peer" in reasons
        assert "called AE title 'OTHER'" in reasons
        refused = session.scalars(select(QuarantineEntry.reason)).all()
        assert any("no study of it is being retrieved" in r for r in refused)
    assert not any((tmp_path / "data" / "incoming").rglob("*.dcm"))
