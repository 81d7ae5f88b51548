"""A small simulated archive run once through the whole loop, on SQLite or PostgreSQL,
for the tests of what comes after the loop (research views, export, workbench)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from db import make_engine, upgrade
from pacslabel.context import open_context
from pacslabel.pipeline.loop import run_once
from pacslabel.settings import Settings, load_settings
from simhospital import SimulatedPACS, SimulatedStudy, generate_study
from tests.conftest import PG_HOST, PG_PORT, _admin_dsn

__all__ = ["TINY_TRAINING", "Run", "simulated_run"]

#: A model small and quick enough to train in a test.
TINY_TRAINING = {
    "image_size": 32,
    "epochs": 1,
    "batch_size": 4,
    "min_studies": 4,
    "device": "cpu",
    "augment": False,
}


@dataclass
class Run:
    settings: Settings
    url: str
    archive: list[SimulatedStudy]
    pseudonym: dict[str, str]
    """original Study UID → pseudonymous."""

    def engine(self) -> Engine:
        return make_engine(self.url)


def _database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'pacslabel.db'}"
        return
    if os.environ.get("PACSLABEL_TEST_NO_POSTGRES") == "1":
        pytest.skip("PACSLABEL_TEST_NO_POSTGRES=1")
    name = f"pacslabel_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        user = admin.execute("SELECT current_user").fetchone()
        try:
            yield f"postgresql+psycopg://{user[0] if user else ''}@{PG_HOST}:{PG_PORT}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def simulated_run(kind: str, folder: Path, studies: int) -> Iterator[Run]:
    """``studies`` simulated studies through one pass of the loop (a model trained, SRs
    sent) on ``kind`` (``sqlite`` or ``postgresql``) in ``folder``; yields the run and
    drops a PostgreSQL database afterwards."""
    archive = [generate_study(i, seed=11, scale=0.12) for i in range(studies)]
    for url in _database(kind, folder):
        pacs = SimulatedPACS(folder / "pacs", ae_title="SIMPACS")
        for study in archive:
            pacs.add_study(study)
        with pacs:
            settings = load_settings(
                data_dir=folder / "data",
                database_url=url,
                pacs={"ae_title": "SIMPACS", "host": "127.0.0.1", "port": pacs.port},
                local={"storage_port": 0, "network_timeout_s": 10},
                ingest={"report_drop": pacs.ris_dir},
                training={**TINY_TRAINING, "held_out_fraction": 0.25},
            )
            # A fixed key: the same pseudonyms, so the same held-out split, every run; in
            # the key file, so the commands the tests run use it too.
            secrets = settings.secrets_dir
            secrets.mkdir(parents=True, exist_ok=True)
            (secrets / "pseudonym.key").write_text("research tests: a fixed pseudonym key\n")
            upgrade(url)

            def register(scp: object, pacs: SimulatedPACS = pacs) -> None:
                pacs.destinations["PACSLABEL"] = ("127.0.0.1", scp.port)  # type: ignore[attr-defined]

            with open_context(settings) as ctx:
                report = run_once(ctx, on_listening=register)
                assert report.training.status == "trained", report.training.reason
                pseudonym = {
                    s.study_instance_uid: ctx.pseudonymiser.uid(s.study_instance_uid)
                    for s in archive
                }
        yield Run(settings, url, archive, pseudonym)
