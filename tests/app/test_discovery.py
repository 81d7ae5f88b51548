"""Discovery against a PACS whose answers are large or badly dated (issue 18): the
newest studies first, the rest kept for later passes, a watermark no date can poison."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import IngestWatermark, Study, StudyState, upgrade
from pacslabel.context import open_context
from pacslabel.pipeline.stages.retrieval import discover
from pacslabel.settings import Settings
from simhospital import SimulatedPACS

ROOT = "1.2.826.0.1.3680043.10.1234"


def _listing(index: int, date: str | list[str]) -> Dataset:
    ds = Dataset()
    ds.StudyInstanceUID = f"{ROOT}.{index}"
    ds.SeriesInstanceUID = f"{ROOT}.{index}.1"
    ds.SOPInstanceUID = f"{ROOT}.{index}.1.1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.StudyDate = date
    ds.Modality = "DX"
    ds.StudyDescription = "RX RACHIDE LOMBOSACRALE"
    ds.AccessionNumber = f"A{index}"
    ds.PatientID = f"P{index}"
    return ds


def _day(days_ago: int) -> str:
    return (dt.date.today() - dt.timedelta(days=days_ago)).strftime("%Y%m%d")


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[SimulatedPACS]:
    server = SimulatedPACS(tmp_path / "pacs", ae_title="SIMPACS")
    with server:
        yield server


def _discovered(settings: Settings) -> dict[str, StudyState]:
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        back = {ctx.pseudonymiser.uid(f"{ROOT}.{i}"): i for i in range(30_000)}
        return {
            str(back[uid]): state
            for uid, state in session.execute(select(Study.study_uid, Study.state))
        }


def test_a_huge_answer_reaches_the_newest_studies_first_and_bad_dates_poison_nothing(
    pacs: SimulatedPACS, loop_settings: Callable[..., Settings]
) -> None:
    total = 20_000
    for index in range(total):  # one a day, index 0 today, back some 55 years
        pacs.add_listing(_listing(index, _day(index)))
    pacs.add_listing(_listing(total, "20990101"))  # a typo for 2009
    pacs.add_listing(_listing(total + 1, [_day(3), _day(2)]))  # two values
    ingest = {"report_drop": pacs.ris_dir, "max_studies_per_run": 1000}
    settings = loop_settings(pacs, ingest=ingest)
    upgrade(settings.resolved_database_url)
    with open_context(settings) as ctx:
        first = discover(ctx)
    assert first.found == total + 2 and first.new == 1000
    states = _discovered(settings)
    # The 2099 one (dated first) is quarantined; then the 999 newest valid ones.
    assert states.pop(str(total)) is StudyState.QUARANTINED
    assert set(states) == {str(i) for i in range(999)}
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        mark = session.scalars(select(IngestWatermark)).one()
        assert mark.last_study_date == _day(0) and mark.backlog_before == _day(998)
        reason = session.scalar(
            select(Study.failure_reason).where(Study.state == StudyState.QUARANTINED)
        )
    assert "20990101" in str(reason) and "future_date_tolerance_days" in str(reason)

    # Two studies arrive today: the next incremental pass takes them, then older ones.
    for index in (25_000, 25_001):
        pacs.add_listing(_listing(index, _day(0)))
    with open_context(settings) as ctx:
        second = discover(ctx)
    states = _discovered(settings)
    assert {"25000", "25001"} <= set(states)
    assert second.new == 1000 and len(states) == 2000
    assert str(total + 1) not in states  # the two-valued one is the oldest: it waits


def test_the_backlog_drains_to_the_last_study(
    pacs: SimulatedPACS, loop_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PACS that keeps what it was given: no validation of the values it answers with.
    monkeypatch.setattr(pydicom.config.settings, "reading_validation_mode", pydicom.config.IGNORE)
    monkeypatch.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.IGNORE)
    for index in range(47):
        pacs.add_listing(_listing(index, _day(index // 2)))  # two a day: days are shared
    pacs.add_listing(_listing(47, ["20240105", "20240106"]))
    pacs.add_listing(_listing(48, "20241345"))  # month 13
    settings = loop_settings(pacs, ingest={"report_drop": pacs.ris_dir, "max_studies_per_run": 10})
    upgrade(settings.resolved_database_url)
    passes = 0
    with open_context(settings) as ctx:
        while passes < 10:
            passes += 1
            if discover(ctx).new == 0:
                break
        with Session(ctx.engine) as session:
            assert session.scalars(select(IngestWatermark)).one().backlog_before is None
            count = session.scalar(select(func.count()).select_from(Study))
    assert count == 49 and passes == 6  # 5 passes of 10, then one finding nothing new
    states = _discovered(settings)
    assert states["47"] is states["48"] is StudyState.QUARANTINED
    assert sum(s is StudyState.DISCOVERED for s in states.values()) == 47
