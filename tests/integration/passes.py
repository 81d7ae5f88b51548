"""Running ``pacslabel run`` as a process and checking where the loop ends: the
helpers of the fault tests (test_faults.py, test_environment.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import hostile
from peers import Orthanc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import (
    ExportStatus,
    Image,
    Model,
    RunStatus,
    SRExport,
    Study,
    StudyState,
    TrainingRun,
    make_engine,
)
from pacsbridge import OWN_MANUFACTURER

STUDIES = 8
CONFIG = """max_attempts = 3
[training]
image_size = 32
epochs = 60
batch_size = 4
min_studies = 4
device = "cpu"
augment = false
"""


def load_good_studies(orthanc: Orthanc) -> None:
    for index in range(STUDIES):
        for data in hostile.good_study(index).values():
            request = urllib.request.Request(
                f"http://127.0.0.1:{orthanc.http_port}/instances", data=data, method="POST"
            )
            urllib.request.urlopen(request, timeout=60).close()


def run_until(
    config: Path, marker: str, delay: float, act: Callable[[subprocess.Popen[str]], None]
) -> tuple[int, str]:
    """Start a pass; ``delay`` s after ``marker`` appears in its log, ``act`` on it (kill
    it, cut its database...); returns its exit code and its log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACSLABEL_")}
    env["COLUMNS"] = "300"
    command = [sys.executable, "-m", "pacslabel.cli", "--config", str(config), "run"]
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        seen, log = threading.Event(), []

        def watch() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                log.append(line)
                if marker in line:
                    seen.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        deadline = time.monotonic() + 240
        while not seen.is_set() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if seen.is_set():
            time.sleep(delay)
        if process.poll() is None:
            act(process)
        code = process.wait(timeout=120)
        watcher.join(timeout=10)
    return code, "".join(log)


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)


def srs_in_pacs(orthanc: Orthanc) -> dict[str, int]:
    """Our SR instances in the PACS, counted per study."""
    found = orthanc.post(
        "/tools/find",
        {"Level": "Instance", "Query": {"Modality": "SR"}, "Expand": True},
    )
    counts: dict[str, int] = {}
    for instance in found:
        tags = orthanc.get(f"/instances/{instance['ID']}/simplified-tags")
        if tags.get("Manufacturer") == OWN_MANUFACTURER:
            counts[tags["StudyInstanceUID"]] = counts.get(tags["StudyInstanceUID"], 0) + 1
    return counts


def files_left(data: Path, database_url: str) -> list[str]:
    """Files nobody references, half-written files, used incoming folders."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            images = set(session.scalars(select(Image.path)))
            models = set(session.scalars(select(Model.path)))
            cached = set(session.scalars(select(Study.study_uid)))
    finally:
        engine.dispose()
    left = [str(p.relative_to(data)) for p in data.rglob("*.part")]
    left += [
        str(p.relative_to(data))
        for p in (data / "dicom").rglob("*.dcm")
        if str(p.relative_to(data)) not in images
    ]
    left += [  # per-study cache files (the shards packed from them are the trainer's)
        str(p.relative_to(data))
        for p in (data / "cache").rglob("*.npy")
        if p.stem not in cached and p.parent.name != "shards"
    ]
    folders = {str(Path(m).parent) for m in models}
    left += [  # a file in no registered model's folder (its targets and phases are in it)
        str(p.relative_to(data))
        for p in (data / "models").rglob("*")
        if p.is_file() and not any(str(p.relative_to(data)).startswith(f + "/") for f in folders)
    ]
    left += [  # a model's folder without its checkpoint
        str(p.relative_to(data))
        for p in (data / "models").glob("*")
        if p.is_dir() and not any(str(p.relative_to(data)) in m for m in models)
    ]
    incoming = data / "incoming"
    left += [str(p.relative_to(data)) for p in incoming.iterdir()] if incoming.is_dir() else []
    return left


def check_final(orthanc: Orthanc, database_url: str, data: Path) -> None:
    """Every study reported, once; one SR each in the PACS; nothing left over."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            states = session.scalars(select(Study.state)).all()
            exports = session.execute(
                select(SRExport.study_id, func.count()).group_by(SRExport.study_id)
            ).all()
            sent = session.scalar(select(func.count()).where(SRExport.status == ExportStatus.SENT))
            running = session.scalar(
                select(func.count()).where(TrainingRun.status == RunStatus.RUNNING)
            )
            models = session.scalar(select(func.count()).select_from(Model))
    finally:
        engine.dispose()
    assert len(states) == STUDIES and set(states) == {StudyState.REPORTED}
    assert len(exports) == STUDIES and {count for _, count in exports} == {1}
    assert sent == STUDIES and running == 0 and models == 1
    srs = srs_in_pacs(orthanc)
    assert len(srs) == STUDIES and set(srs.values()) == {1}, srs
    assert files_left(data, database_url) == []


def states(database_url: str) -> list[StudyState]:
    """Every study's state."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Study.state)))
    finally:
        engine.dispose()


def reported(database_url: str) -> int:
    return states(database_url).count(StudyState.REPORTED)


def running_trainings(database_url: str) -> int:
    """Training runs marked running."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            count = session.scalar(
                select(func.count()).where(TrainingRun.status == RunStatus.RUNNING)
            )
    finally:
        engine.dispose()
    return count or 0
