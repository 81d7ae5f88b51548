"""Hostile studies (tests/support/hostile.py, written for issue 13) among good ones,
through a real Orthanc into ``pacslabel run`` as a user runs it, on SQLite and on
PostgreSQL; and the files Orthanc itself will not store, sent straight to our storage SCP.

What must hold: every run exits 0; every good study and every study whose broken values
can be normalised ends ``reported``; every other hostile study ends held out of the
corpus (quarantined, failed, waiting) with a reason; a later run changes nothing and
exits 0 too; peak memory stays under :data:`MAX_RSS_MB`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import hostile
import pytest
from peers import Orthanc, pacslabel, pacslabel_config, peak_rss_mb
from pydicom.filereader import read_file_meta_info
from pynetdicom import AE, _config
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import QuarantineEntry, Study, StudyState, make_engine
from pacsbridge import (
    InvalidInstance,
    Limits,
    LocalAE,
    Pseudonymiser,
    StorageSCP,
    check_pixels,
    deidentify,
    display_pixels,
    read_instance,
)
from pacslabel.context import open_context
from pacslabel.settings import load_settings

#: The figure peak memory of a pass must stay under, whatever arrives (training included).
MAX_RSS_MB = 2048
#: Good studies of the hostile hospital, among the hostile ones.
GOOD = 6
#: Orthanc 1.x crashes (the whole server) storing sequences nested 60 deep or more: this
#: kind is sent to our storage SCP directly instead.
CRASHES_ORTHANC = {"nested-500"}
HELD = {
    StudyState.QUARANTINED,
    StudyState.FAILED,
    StudyState.WAITING_PAIR,
    StudyState.WAITING_REPORT,
}
TRAINING = """
[training]
image_size = 32
epochs = 1
batch_size = 4
min_studies = 4
device = "cpu"
augment = false
"""


def _upload(orthanc: Orthanc, data: bytes) -> bool:
    """Store one file in Orthanc over its REST API; whether Orthanc took it."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{orthanc.http_port}/instances", data=data, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return bool(json.loads(response.read()).get("Status") in ("Success", "AlreadyStored"))
    except urllib.error.HTTPError:
        return False


@pytest.fixture(scope="module")
def corpus() -> list[hostile.Hostile]:
    return hostile.corpus()


def _load(orthanc: Orthanc, corpus: list[hostile.Hostile]) -> dict[str, int]:
    """Everything into Orthanc; returns how many files of each kind it refused to store."""
    for index in range(GOOD):
        for data in hostile.good_study(index).values():
            assert _upload(orthanc, data)
    refused = {}
    for study in corpus:
        if study.kind not in CRASHES_ORTHANC:
            refused[study.kind] = sum(not _upload(orthanc, d) for d in study.files.values())
    return refused


def _states(config: Path, corpus: list[hostile.Hostile]) -> dict[str, Study | None]:
    settings = load_settings(config)
    uids = {study.kind: study.study_uid for study in corpus}
    uids |= {f"good-{i}": f"{hostile.ROOT}.1.{i}" for i in range(GOOD)}
    with open_context(settings) as ctx, Session(ctx.engine) as session:
        rows = {
            kind: session.scalar(select(Study).where(Study.study_uid == ctx.pseudonymiser.uid(uid)))
            for kind, uid in uids.items()
        }
        session.expunge_all()
    return rows


def _shared_sop(rows: dict[str, Study | None]) -> list[str]:
    """The hostile study whose AP has the SOP Instance UID of good study 0's AP: nothing
    tells which of the two is right, so the one de-identified first keeps the image and the
    other sets its copy aside (in quarantine, naming the first) and waits without it. Which
    one is first depends on the order of the pass (newest studies first)."""
    pair = [rows["sop-of-another-study"], rows["good-0"]]
    if any(row is None for row in pair):
        return ["sop-of-another-study or good study 0: never discovered"]
    states = sorted(str(row.state) for row in pair if row is not None)
    if states not in (["reported", "waiting_pair"], ["quarantined", "reported"]):
        return [f"sop-of-another-study and good study 0: {states}"]
    return []


def test_hostile_studies_through_orthanc(
    tmp_path: Path, orthanc: Orthanc, corpus: list[hostile.Hostile], database_url: str
) -> None:
    refused_by_orthanc = _load(orthanc, corpus)
    extra = "max_attempts = 2\n" + TRAINING
    config = pacslabel_config(tmp_path, orthanc, database_url, extra=extra)
    assert pacslabel(config, "db", "upgrade").returncode == 0
    first = pacslabel(config, "run", measure=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert peak_rss_mb(first) < MAX_RSS_MB
    again = pacslabel(config, "run", measure=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert peak_rss_mb(again) < MAX_RSS_MB

    rows = _states(config, corpus)
    wrong = _shared_sop(rows)
    for study in corpus:
        row = rows[study.kind]
        if study.kind in CRASHES_ORTHANC or study.kind == "sop-of-another-study":
            continue
        if row is None:
            wrong.append(f"{study.kind}: never discovered")
        elif study.expect == "reported" and row.state is not StudyState.REPORTED:
            wrong.append(f"{study.kind}: {row.state} ({row.failed_stage}: {row.failure_reason})")
        elif study.expect == "held" and (row.state not in HELD or not row.failure_reason):
            wrong.append(f"{study.kind}: {row.state}, reason {row.failure_reason!r}")
    for index in range(1, GOOD):  # good study 0: see _shared_sop
        row = rows[f"good-{index}"]
        if row is None or row.state is not StudyState.REPORTED:
            wrong.append(f"good study {index}: {row.state if row else 'never discovered'}")
    assert not wrong, "\n".join(wrong)
    # What Orthanc took and we could not is in quarantine with the file and its reason.
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            files = session.scalars(
                select(QuarantineEntry).where(QuarantineEntry.path.is_not(None))
            ).all()
    finally:
        engine.dispose()
    assert files and all(entry.reason for entry in files)
    assert all((tmp_path / "data" / entry.path).is_file() for entry in files)
    assert sum(refused_by_orthanc.values()) >= 10  # the structurally broken files
    listing = pacslabel(config, "quarantine", "list")
    assert listing.returncode == 0 and "studies held" in listing.stdout


def _send_raw(port: int, path: Path) -> int:
    """C-STORE a file's bytes as they are (pynetdicom's chunked sending: never parsed)."""
    meta = read_file_meta_info(path)
    ae = AE(ae_title="HOSTILE")
    ae.add_requested_context(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACSLABEL")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(path)
        return int(status.Status) if "Status" in status else -1
    finally:
        assoc.release()


def test_files_orthanc_refuses_are_refused_by_our_scp_with_a_reason(
    tmp_path: Path, corpus: list[hostile.Hostile], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    monkeypatch.setattr(_config, "STORE_RECV_CHUNKED_DATASET", True)
    structural = {
        "truncated-header",
        "truncated-pixels",
        "sequence-wrong-length",
        "bogus-vr",
        "length-4gb",
        "random-bytes",
        "missing-study-uid",
        "empty-study-uid",
        "missing-sop-uid",
        "syntax-mismatch",
        *CRASHES_ORTHANC,
    }
    scp = StorageSCP(
        LocalAE("PACSLABEL", storage_port=0),
        tmp_path / "incoming",
        tmp_path / "quarantine",
        lambda uid: uid.replace("/", "_"),
        limits=Limits(),
    )
    outcomes = {}
    with scp:
        for study in corpus:
            if study.kind not in structural:
                continue
            name = next(n for n in study.files if n.endswith("-ap.dcm"))
            path = tmp_path / name
            path.write_bytes(study.files[name])
            outcomes[study.kind] = _send_raw(scp.port, path)
        refused = scp.receiver.take_refused()
    # Every file whose structure is damaged is refused, with the reason, its bytes kept.
    # (0xA700 "out of resources" when over a limit, 0xC210 "cannot understand" otherwise).
    assert outcomes.pop("syntax-mismatch") == 0
    assert outcomes.pop("nested-500") == 0xA700
    assert set(outcomes.values()) == {0xC210}
    assert len(refused) == len(outcomes) + 1
    assert all(r.reason and r.path.is_file() for r in refused)
    assert all(r.path.with_suffix(".reason").is_file() for r in refused)
    reasons = " ".join(r.reason for r in refused)
    for words in ("claims", "unknown VR", "no valid StudyInstanceUID", "max_sequence_depth"):
        assert words in reasons
    # What is filed (sound structure, readable UIDs) the de-identifier cannot use: it says
    # why, and nothing else is raised.
    (filed,) = (tmp_path / "incoming").rglob("*.dcm")
    with pytest.raises(InvalidInstance, match="compressed pixel data"):
        _use(filed)


def _use(path: Path) -> None:
    """What the loop does with a received image: read, check, de-identify, decode."""
    ds = read_instance(path, Limits())
    check_pixels(ds, Limits(), path.name)
    deidentify(ds, Pseudonymiser(b"hostile-test-key-0123"))
    display_pixels(ds, path.name)
