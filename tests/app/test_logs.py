"""Logs for machines and people: one line per record off a terminal, journald
priorities, third-party noise kept out, and no patient identifier at any level."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

from db import upgrade
from pacslabel.settings import load_settings
from pacslabel.tools.demo import DemoOptions
from simhospital import generate_study
from tests.app.conftest import DEMO_STUDIES, DemoCorpus
from tests.conftest import Interpreter

_PLAIN = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")


def _identifiers() -> list[str]:
    """What identifies the simulated patients and their studies on the clinical side."""
    found = []
    for index in range(DEMO_STUDIES):
        study = generate_study(index, DemoOptions.seed, scale=DemoOptions.scale)
        patient = study.patient
        found += [study.study_instance_uid, study.accession_number, patient.patient_id]
        found += [part for part in patient.patient_name.split("^") if len(part) > 3]
        found += [ds.SOPInstanceUID for ds in study.datasets]
        found += [ds.SeriesInstanceUID for ds in study.datasets]
    return found


def test_a_debug_run_logs_one_line_per_record_and_no_identifier(demo_corpus: DemoCorpus) -> None:
    """The session's demo ran as a user runs it, at DEBUG, off a terminal, umask 022."""
    lines = [line for line in demo_corpus.log.splitlines() if line.strip()]
    assert lines and all(_PLAIN.match(line) for line in lines), [
        line for line in lines if not _PLAIN.match(line)
    ][:5]
    assert any(" DEBUG pacslabel" in line for line in lines)
    names = {line.split(" ")[2].rstrip(":").split(".")[0] for line in lines}
    assert names <= {"pacslabel", "pacsbridge", "labeller", "trainer", "db", "simhospital"}
    assert not any(
        "RunReport(" in line or "starting: {" in line for line in lines if " INFO " in line
    )
    everything = demo_corpus.log + demo_corpus.stdout
    leaked = [value for value in _identifiers() if value in everything]
    assert not leaked, leaked[:5]
    # what it wrote is its user's alone, whatever the umask it was started with (022)
    data = demo_corpus.data  # a copy: modes kept
    assert stat.S_IMODE((data / "pacslabel.db").stat().st_mode) == 0o600
    loose = [p for p in data.rglob("*") if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert not loose, loose[:5]


def test_under_journald_records_carry_their_priority(
    tmp_path: Path, new_interpreter: Interpreter
) -> None:
    log = tmp_path / "journal.log"
    log.touch()
    info = log.stat()
    upgrade(load_settings(data_dir=tmp_path / "data").resolved_database_url)
    # a pass against a PACS that does not answer: records at DEBUG, INFO, WARNING and ERROR
    command = new_interpreter.pacslabel("--data-dir", str(tmp_path / "data"), "--log-level")
    env = new_interpreter.env(
        JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}",
        PACSLABEL_PACS__PORT="9",
        PACSLABEL_LOCAL__STORAGE_PORT="0",
    )
    with log.open("w") as handle:
        subprocess.run([*command, "DEBUG", "run", "--no-train"], stderr=handle, env=env)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines and all(re.match(r"^<[2-7]>\S+: ", line) for line in lines), lines[:5]
    assert any(line.startswith("<6>pacslabel") for line in lines)
    assert any(line.startswith("<7>pacslabel") for line in lines)


def test_json_records_are_one_object_per_line(tmp_path: Path, new_interpreter: Interpreter) -> None:
    command = new_interpreter.pacslabel("--data-dir", str(tmp_path / "data"))
    env = new_interpreter.env(PACSLABEL_LOG_FORMAT="json", PACSLABEL_PACS__PORT="9")
    done = subprocess.run(
        [*command, "--log-level", "DEBUG", "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert records and {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["logger"] == "pacslabel" and "starting" in r["message"] for r in records)
