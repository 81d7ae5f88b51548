"""A study written by hand to break de-identification, through a real Orthanc and
``pacslabel run`` as a user runs it: no planted identifier may be left anywhere pacslabel
writes — data folder, database, log (at DEBUG) — and ``audit-phi`` must find each one
planted afterwards in each place it searches.

The studies come from tests/support (``adversarial``: written for this work;
``adversarial_sealed``: written in another style, scored only at the end).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import adversarial
import adversarial_sealed
import numpy as np
import pytest
from peers import Orthanc, pacslabel, pacslabel_config
from pydicom import dcmread
from sqlalchemy import create_engine, inspect, select, text, update
from sqlalchemy.orm import Session

from db import Linkage, Report, Study, StudyState, make_engine
from pacsbridge import LocalAE, store_files
from pacslabel.cli import main
from pacslabel.errors import ExitCode

_ENCODINGS = ("utf-8", "latin-1", "utf-16-le", "utf-16-be")


def _store(study: ModuleType, folder: Path, orthanc: Orthanc) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in study.study():
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    report = store_files(LocalAE("UPLOADER"), orthanc.node, paths)
    assert report.stored == 3 and not report.failed


def _leaks(planted: list[str], texts: dict[str, str]) -> list[str]:
    """``where: what`` for every planted string found (case-insensitive) in any text."""
    found = []
    for where, content in texts.items():
        lowered = content.lower()
        found += [f"{where}: {value}" for value in planted if value.lower() in lowered]
    return found


def _folder_texts(root: Path) -> dict[str, str]:
    texts = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            for encoding in _ENCODINGS:
                texts[f"{path.relative_to(root)} ({encoding})"] = data.decode(encoding, "ignore")
    return texts


def _database_texts(database_url: str) -> dict[str, str]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    texts = {}
    try:
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
                texts[f"table {table}"] = "\n".join(repr(tuple(row)) for row in rows)
    finally:
        engine.dispose()
    return texts


def _ingest(
    tmp_path: Path, orthanc: Orthanc, study: ModuleType, method: str, database_url: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    _store(study, tmp_path / "upload", orthanc)
    config = pacslabel_config(tmp_path, orthanc, database_url, method=method)
    assert pacslabel(config, "db", "upgrade").returncode == 0
    ran = pacslabel(config, "--log-level", "DEBUG", "run", "--no-train")
    assert ran.returncode == 0, ran.stderr[-3000:]
    return config, ran


def _check_clean(
    tmp_path: Path, study: ModuleType, database_url: str, ran: subprocess.CompletedProcess[str]
) -> None:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            (row,) = session.scalars(select(Study)).all()
            assert row.state is StudyState.LABELLED or row.state is StudyState.CACHED, (
                row.state,
                row.failure_reason,
            )
            assert row.report is not None and "L5" in row.report.text  # findings kept
    finally:
        engine.dispose()
    data = tmp_path / "data"
    assert not (data / "quarantine").exists() or not any((data / "quarantine").rglob("*.dcm"))
    texts = {
        **_folder_texts(data),
        **_database_texts(database_url),
        "log": ran.stdout + ran.stderr,
    }
    leaks = _leaks(study.PLANTED, texts)
    assert not leaks, "\n".join(leaks)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'pacslabel.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("method", ["move", "get"])
def test_no_planted_identifier_survives_anywhere(
    tmp_path: Path, orthanc: Orthanc, method: str, url: str
) -> None:
    _, ran = _ingest(tmp_path, orthanc, adversarial, method, url)
    _check_clean(tmp_path, adversarial, url, ran)


@pytest.mark.sealed
def test_the_sealed_study_leaves_no_identifier(tmp_path: Path, orthanc: Orthanc) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'pacslabel.db'}"
    _, ran = _ingest(tmp_path, orthanc, adversarial_sealed, "move", url)
    _check_clean(tmp_path, adversarial_sealed, url, ran)


def _plant_in_database(data: Path, value: str) -> str:
    engine = make_engine(f"sqlite:///{data / 'pacslabel.db'}")
    try:
        with Session(engine) as session:
            report = session.scalars(select(Report)).one()
            session.execute(
                update(Report).where(Report.id == report.id).values(text=f"{report.text} {value}")
            )
            session.commit()
    finally:
        engine.dispose()
    return "db reports.text"


def _plant_in_dicom(data: Path, value: str) -> str:
    path = next((data / "dicom").rglob("*.dcm"))
    ds = dcmread(path)
    ds.ImageComments = f"controllo {value}"
    ds.save_as(path)
    return f"file {path.relative_to(data)}"


def _plant_in_file(folder: str, name: str) -> Callable[[Path, str], str]:
    def plant(data: Path, value: str) -> str:
        path = data / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".npy"):
            np.save(path, np.array([f"x {value} x"]))
        else:
            path.write_text(json.dumps({"note": value}), encoding="utf-8")
        return f"file {path.relative_to(data)}"

    return plant


PLACES = {
    "database": _plant_in_database,
    "dicom": _plant_in_dicom,
    "cache": _plant_in_file("cache/32", "2.25.1.npy"),
    "models": _plant_in_file("models/resnet-x", "notes.json"),
    "reports": _plant_in_file("reports/labellers-x", "table1.md"),
    "exports": _plant_in_file("exports", "findings.csv"),
}


def test_audit_finds_each_identifier_planted_afterwards(
    tmp_path: Path, orthanc: Orthanc, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'pacslabel.db'}"
    config, _ = _ingest(tmp_path, orthanc, adversarial, "move", url)
    data = tmp_path / "data"
    env = ["--config", str(config)]
    assert main([*env, "audit-phi"]) == ExitCode.OK, capsys.readouterr().out
    assert "0 hits" in capsys.readouterr().out
    values = ["Scognamiglio", "PZ0048213", "0331/449872", "Santa Caterina da Siena", "Cantù"]
    values.append("r.dellorto@fastwebnet.it")
    for (place, plant), value in zip(PLACES.items(), values, strict=True):
        where = plant(data, value)
        code = main([*env, "audit-phi"])
        out = capsys.readouterr().out
        assert code == ExitCode.IDENTIFIERS_FOUND, f"{place}: {out}"
        assert where in out, f"{place}: {out}"
        assert value.lower() not in out.lower()  # the place and the kind, never the identifier
    log = tmp_path / "daemon.log"
    log.write_text("DEBUG retrieving study of Rosalba Dell'Orto\n", encoding="utf-8")
    assert main([*env, "audit-phi", "--logs", str(log)]) == ExitCode.IDENTIFIERS_FOUND
    assert f"file {log}: patient name" in capsys.readouterr().out
    # Linkage rows no configured key can read: the audit cannot know their identifiers, finds
    # nothing, and says so with its own exit code rather than passing.
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(update(Linkage).values(key_id="0000000000000000"))
    engine.dispose()
    assert main([*env, "audit-phi"]) == ExitCode.AUDIT_INCOMPLETE
    assert "linkage rows are encrypted with a key that is not configured" in (
        capsys.readouterr().out
    )
