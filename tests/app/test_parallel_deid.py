"""De-identification in worker processes fed as instances arrive (issue 19) stores what
the sequential path stores: the same de-identified files, byte for byte, the same rows
and the same quarantine, for the same keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Image, QuarantineEntry, Study, upgrade
from pacslabel.context import open_context
from pacslabel.pipeline.loop import storage_scp
from pacslabel.pipeline.stages import deidentify_all, discover, retrieve
from pacslabel.settings import Settings
from simhospital import SimulatedPACS, SimulatedStudy, generate_study

KEY = {"pseudonym_key": "parallel test: one pseudonym key"}


@pytest.fixture
def archive() -> list[SimulatedStudy]:
    studies = [generate_study(i, seed=5, scale=0.1) for i in range(8)]  # JPEG-LS among them
    studies[3].datasets[0].BurnedInAnnotation = "YES"  # quarantined at de-identification
    return studies


def _ingest(
    settings: Settings, pacs: SimulatedPACS
) -> tuple[dict[str, bytes], list[tuple[object, ...]]]:
    upgrade(settings.resolved_database_url)
    with open_context(settings) as ctx, storage_scp(ctx) as scp:
        pacs.destinations["PACSLABEL"] = ("127.0.0.1", scp.port)
        discover(ctx)
        retrieve(ctx, scp)
    with open_context(settings) as ctx:
        deidentify_all(ctx)
        with Session(ctx.engine) as session:
            rows: list[tuple[object, ...]] = [
                (s.study_uid, str(s.state), s.pairing_note, s.instances_received)
                for s in session.scalars(select(Study).order_by(Study.study_uid))
            ]
            rows += [
                (i.sop_uid, i.view_role, i.is_paired, i.path, i.rows, i.columns)
                for i in session.scalars(select(Image).order_by(Image.sop_uid))
            ]
            rows += [
                (q.stage, q.study_uid, q.path, q.reason)
                for q in session.scalars(select(QuarantineEntry).order_by(QuarantineEntry.id))
            ]
        dicom = ctx.paths.dicom
        files = {str(p.relative_to(dicom)): p.read_bytes() for p in sorted(dicom.rglob("*.dcm"))}
        assert not list(ctx.paths.incoming.rglob("*.dcm"))  # nothing left behind
    return files, rows


def test_workers_store_what_the_main_process_stores(
    tmp_path: Path, pacs: SimulatedPACS, loop_settings: Callable[..., Settings]
) -> None:
    results = {}
    for workers in (0, 2):
        settings = loop_settings(
            pacs,
            data_dir=tmp_path / f"data-{workers}",
            deid=KEY,
            ingest={"report_drop": pacs.ris_dir, "deid_workers": workers},
        )
        results[workers] = _ingest(settings, pacs)
    (files0, rows0), (files2, rows2) = results[0], results[2]
    assert len(files0) >= 12
    assert files2.keys() == files0.keys()
    assert all(files2[name] == files0[name] for name in files0)
    assert rows2 == rows0
    assert any("burned-in" in str(row[-1]) for row in rows0)
