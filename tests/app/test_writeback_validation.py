"""An SR that would be invalid DICOM is never sent (issue 18): a study whose clinical
header holds a 10,006-character patient name is quarantined with the reason; the others
are reported, and every SR the PACS received passes dciodvfy."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from dicom_checks import dciodvfy_errors
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Study, StudyState, upgrade
from pacslabel.context import open_context
from pacslabel.pipeline.loop import run_once
from pacslabel.settings import Settings
from simhospital import SimulatedPACS, generate_study


def test_an_invalid_sr_is_not_sent(tmp_path: Path, loop_settings: Callable[..., Settings]) -> None:
    studies = [generate_study(i, seed=23, scale=0.12) for i in range(6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns of the value we break on purpose
        for ds in studies[0].datasets:
            ds.PatientName = "ROSSI^" + "M" * 10_000  # an RIS that lets anything through
    pacs = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    for study in studies:
        pacs.add_study(study)
    with pacs:
        settings = loop_settings(pacs)
        upgrade(settings.resolved_database_url)

        def register(scp: object) -> None:
            pacs.destinations["PACSLABEL"] = ("127.0.0.1", scp.port)  # type: ignore[attr-defined]

        with warnings.catch_warnings(), open_context(settings) as ctx:
            warnings.simplefilter("ignore")  # pydicom warns reading that name, and logs it
            report = run_once(ctx, on_listening=register)
        received = pacs.received_datasets()
    assert report.reported == len(studies) - 1 and len(received) == len(studies) - 1
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        uid = ctx.pseudonymiser.uid(studies[0].study_instance_uid)
        held = session.scalars(select(Study).where(Study.study_uid == uid)).one()
    assert held.state is StudyState.QUARANTINED and held.failed_stage == "report"
    assert "PatientName" in str(held.failure_reason) and "10006 characters" in str(
        held.failure_reason
    )
    for index, ds in enumerate(received):
        path = tmp_path / f"sr{index}.dcm"
        ds.save_as(path, enforce_file_format=True)
        assert dciodvfy_errors(path) == [], path
