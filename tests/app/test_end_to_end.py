"""The whole loop over a small simulated archive, on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import highdicom as hd
import pytest
from sqlalchemy import Engine, func, select

from db import Base, FindingLabel, Study, StudyState, make_engine, upgrade
from pacslabel.context import open_context
from pacslabel.pipeline.loop import run_once
from pacslabel.settings import Settings
from simhospital import SimulatedPACS, SimulatedStudy, generate_study

GOOD = 10


@pytest.fixture(scope="module")
def archive() -> list[SimulatedStudy]:
    studies = [generate_study(i, seed=3, scale=0.12) for i in range(GOOD + 2)]
    # Study GOOD has no standing lateral view; study GOOD + 1 has truncated pixel data.
    lateral = studies[GOOD].lateral_sop_instance_uid
    kept = tuple(ds for ds in studies[GOOD].datasets if ds.SOPInstanceUID != lateral)
    studies[GOOD] = dataclasses.replace(studies[GOOD], datasets=kept)
    broken = studies[GOOD + 1].datasets[0]
    broken.PixelData = broken.PixelData[:1000]
    return studies


def _everything_stored(engine: Engine) -> str:
    """Every value of every table (the encrypted linkage payload excepted), as text."""
    parts = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                for column, value in zip(table.columns, row, strict=True):
                    if table.name == "linkage" and column.name == "ciphertext":
                        continue
                    parts.append(json.dumps(value, default=str))
    return "\n".join(parts)


def _identifiers(study: SimulatedStudy) -> list[str]:
    names = [p for p in study.patient.patient_name.replace("^", " ").split() if len(p) >= 3]
    return [
        *names,
        study.patient.patient_id,
        study.patient.patient_birth_date,
        study.accession_number,
        study.study_instance_uid,
        study.ap_sop_instance_uid,
    ]


def test_loop_end_to_end(
    database_url: str,
    pacs: SimulatedPACS,
    archive: list[SimulatedStudy],
    loop_settings: Callable[..., Settings],
) -> None:
    settings = loop_settings(pacs, database_url=database_url)
    upgrade(database_url)

    def register(scp: object) -> None:
        pacs.destinations["PACSLABEL"] = ("127.0.0.1", scp.port)  # type: ignore[attr-defined]

    with open_context(settings) as ctx:
        first = run_once(ctx, on_listening=register)
    assert (first.found, first.new, first.retrieved) == (GOOD + 2, GOOD + 2, GOOD + 2)
    assert first.training.status == "trained", first.training.reason
    assert first.reported == GOOD

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            states = dict(
                connection.execute(select(Study.state, func.count()).group_by(Study.state)).all()
            )
            # One view only: it waits for the second (issue 12); broken pixels: quarantined.
            assert states == {
                StudyState.REPORTED: GOOD,
                StudyState.WAITING_PAIR: 1,
                StudyState.QUARANTINED: 1,
            }
            reasons = dict(
                connection.execute(
                    select(Study.state, Study.failure_reason).where(
                        Study.state != StudyState.REPORTED
                    )
                ).all()
            )
            assert "no lateral view" in reasons[StudyState.WAITING_PAIR]
            assert "pixel data" in reasons[StudyState.QUARANTINED]
            labels = connection.scalar(select(func.count()).select_from(FindingLabel))

        # SRs reached the PACS, parse, and point at the clinical study and images.
        received = pacs.received_datasets()
        assert len(received) == GOOD
        by_uid = {s.study_instance_uid: s for s in archive}
        for ds in received:
            sr = hd.sr.Comprehensive3DSR.from_dataset(ds)
            study = by_uid[sr.StudyInstanceUID]  # the original UID, not a pseudonym
            assert sr.PatientID == study.patient.patient_id
            referenced = {
                item.ReferencedSOPInstanceUID
                for evidence in sr.CurrentRequestedProcedureEvidenceSequence
                for series in evidence.ReferencedSeriesSequence
                for item in series.ReferencedSOPSequence
            }
            assert referenced == {study.ap_sop_instance_uid, study.lateral_sop_instance_uid}
            groups = sr.content.get_image_measurement_groups()
            assert [g.tracking_identifier for g in groups] == ctx.task.finding_keys

        # No identifier of any simulated patient in the database, cache or de-identified files.
        stored = _everything_stored(engine).upper()
        research_files = [
            p
            for folder in ("cache", "dicom")
            for p in (settings.data_dir / folder).rglob("*")
            if p.is_file()
        ]
        assert research_files
        blobs = [p.read_bytes().upper() for p in research_files]
        for study in archive:
            for value in _identifiers(study):
                assert value.upper() not in stored, value
                assert not any(value.upper().encode() in blob for blob in blobs), value
        assert not any((settings.data_dir / "incoming").rglob("*.dcm"))

        # Running again ingests nothing, trains nothing, sends nothing.
        with open_context(settings) as ctx:
            second = run_once(ctx, on_listening=register)
        # The watermark narrows the query to the newest days; nothing is new.
        assert second.found < GOOD + 2
        assert (second.new, second.retrieved, second.reported) == (0, 0, 0)
        assert second.training.status == "skipped"
        assert len(pacs.received) == GOOD
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Study)) == GOOD + 2
            assert connection.scalar(select(func.count()).select_from(FindingLabel)) == labels

        # A study reaching the PACS late with an old date: beyond the watermark's
        # overlap an incremental run cannot see it; a full query finds it.
        late = generate_study(GOOD + 2, seed=3, scale=0.12)
        for ds in late.datasets:
            ds.StudyDate = "20100104"
        pacs.add_study(late)
        with open_context(settings) as ctx:
            incremental = run_once(ctx, on_listening=register, retrain=False)
            full = run_once(ctx, on_listening=register, retrain=False, full_query=True)
        assert incremental.new == 0
        assert (full.found, full.new, full.retrieved) == (GOOD + 3, 1, 1)
        assert full.reported == 1 and len(pacs.received) == GOOD + 1
    finally:
        engine.dispose()
