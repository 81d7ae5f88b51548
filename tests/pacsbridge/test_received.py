"""De-identifying received files (issue 19): the file written without re-encoding its
pixel data is the file pydicom writes; worker processes give the bytes and outcomes of
the calling process; a file changed at the same path is de-identified again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from pydicom import dcmread

from pacsbridge import (
    DeidJob,
    DeidOptions,
    DeidWorkers,
    FileOutcome,
    Pseudonymiser,
    deidentify,
    read_instance,
    write_deidentified,
)
from simhospital import generate_study, write_study
from tests.conftest import Interpreter

KEY = b"test-key-0123456789abcdef"
#: Studies of seed 5 whose images the simulator writes in each transfer syntax it uses:
#: explicit and implicit VR little endian (0, 1), JPEG-LS (2), JPEG 2000 (18).
STUDIES = (0, 1, 2, 18)


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("received")
    files = []
    for index in STUDIES:
        study = generate_study(index, seed=5, scale=0.1)
        files += write_study(study, root / str(index), root / "ris")
    broken = root / "broken" / "broken.dcm"
    broken.parent.mkdir()
    broken.write_bytes(files[0].read_bytes()[:700])
    return [*files, broken]


def _syntaxes(files: list[Path]) -> set[str]:
    return {
        dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID.name
        for path in files
        if path.name != "broken.dcm"
    }


def test_the_spliced_file_is_the_file_pydicom_writes(received: list[Path], tmp_path: Path) -> None:
    assert {"JPEG-LS Lossless Image Compression", "Implicit VR Little Endian"} <= _syntaxes(
        received
    )
    spliced = 0
    for path in received[:-1]:
        ds = read_instance(path)
        if "PixelData" not in ds:
            continue
        anon = deidentify(ds, Pseudonymiser(KEY))
        anon.dataset.save_as(tmp_path / "whole.dcm", enforce_file_format=True)
        write_deidentified(anon.dataset, path, tmp_path / "spliced.dcm")
        whole, ours = (tmp_path / "whole.dcm").read_bytes(), (tmp_path / "spliced.dcm").read_bytes()
        assert ours == whole, path.name
        assert "PixelData" in anon.dataset  # put back after the header was written
        spliced += 1
    assert spliced >= 8


def test_a_trailing_element_or_masked_pixels_are_written_whole(
    received: list[Path], tmp_path: Path
) -> None:
    image = next(p for p in received[:-1] if "PixelData" in read_instance(p))
    ds = read_instance(image)
    ds.add_new(0xFFFCFFFC, "OB", b"\0\0")  # Data Set Trailing Padding, after the pixels
    ds.save_as(tmp_path / "trailing.dcm", enforce_file_format=True)
    ds = read_instance(tmp_path / "trailing.dcm")
    anon = deidentify(ds, Pseudonymiser(KEY))
    write_deidentified(anon.dataset, tmp_path / "trailing.dcm", tmp_path / "out.dcm")
    anon.dataset.save_as(tmp_path / "whole.dcm", enforce_file_format=True)
    assert (tmp_path / "out.dcm").read_bytes() == (tmp_path / "whole.dcm").read_bytes()
    ds = read_instance(image)
    ds.BurnedInAnnotation = "YES"
    masked = deidentify(ds, Pseudonymiser(KEY), DeidOptions(burned_in="mask"))
    write_deidentified(masked.dataset, image, tmp_path / "masked.dcm")
    assert dcmread(tmp_path / "masked.dcm").PixelData == masked.dataset.PixelData
    assert dcmread(tmp_path / "masked.dcm").PixelData != read_instance(image).PixelData


def _outcomes(files: list[Path], workers: int, root: Path) -> list[tuple[FileOutcome, bytes]]:
    copies = []
    for path in files:
        copy = root / path.parent.name / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
        copies.append(copy)
    pool = DeidWorkers(DeidJob(KEY, 365, DeidOptions()), workers)
    try:
        for copy in copies:
            pool.submit(copy)
        outcomes = [pool.outcome(copy) for copy in copies]
    finally:
        pool.close()
    return [(o, o.written.read_bytes() if o.written else b"") for o in outcomes]


def _comparable(outcome: FileOutcome) -> tuple[object, ...]:
    image = outcome.image
    return (
        outcome.path.name,
        outcome.refused,
        outcome.left_aside,
        outcome.report,
        image.dataset.to_json() if image else None,
        image.original if image else None,
        outcome.written.name if outcome.written else None,
    )


def test_worker_processes_write_the_bytes_of_the_calling_process(
    received: list[Path], tmp_path: Path
) -> None:
    inline = _outcomes(received, 0, tmp_path / "inline")
    pooled = _outcomes(received, 2, tmp_path / "pooled")
    assert [b for _, b in pooled] == [b for _, b in inline]
    assert [_comparable(o) for o, _ in pooled] == [_comparable(o) for o, _ in inline]
    images = [o for o, _ in pooled if o.image is not None]
    assert len(images) >= 8
    assert all(o.image is not None and "PixelData" not in o.image.dataset for o in images)
    assert any(o.report is not None for o, _ in pooled)
    refused = [o for o, _ in pooled if o.refused]
    assert [o.path.name for o in refused] == ["broken.dcm"]
    assert (refused[0].refused or "").startswith("damaged data set")


def test_a_file_replaced_at_the_same_path_is_deidentified_again(
    received: list[Path], tmp_path: Path
) -> None:
    images = [p for p in received[:-1] if "PixelData" in read_instance(p)][:2]
    path = tmp_path / "study" / "instance.dcm"
    path.parent.mkdir()
    shutil.copy(images[0], path)
    pool = DeidWorkers(DeidJob(KEY, 365, DeidOptions()), 1)
    try:
        pool.submit(path)
        pool.settle()
        shutil.copy(images[1], tmp_path / "other.dcm")
        (tmp_path / "other.dcm").replace(path)  # another file now, as a new transfer writes it
        outcome = pool.outcome(path)
        pool.forget(path.parent)
    finally:
        pool.close()
    expected = deidentify(read_instance(images[1]), Pseudonymiser(KEY)).sop_instance_uid
    assert outcome.image is not None and outcome.image.sop_instance_uid == expected


def test_a_worker_that_dies_is_replaced_and_a_closed_pool_works_in_process(
    received: list[Path], tmp_path: Path
) -> None:
    image = next(p for p in received[:-1] if "PixelData" in read_instance(p))
    path = tmp_path / "study" / "instance.dcm"
    path.parent.mkdir()
    shutil.copy(image, path)
    expected = deidentify(read_instance(image), Pseudonymiser(KEY)).sop_instance_uid
    pool = DeidWorkers(DeidJob(KEY, 365, DeidOptions()), 1)
    try:
        pool.start(wait=True)
        for process in list(pool._pool._processes.values()):  # type: ignore[union-attr]
            os.kill(process.pid, signal.SIGKILL)  # as a decoder crash would
            process.join()
        outcome = pool.outcome(path)
        assert outcome.image is not None and outcome.image.sop_instance_uid == expected
    finally:
        pool.close()
    pool.submit(path)  # closed: nothing runs in the background any more
    assert pool._feeder is None
    later = pool.outcome(path)
    assert later.image is not None and later.image.sop_instance_uid == expected


_OWNER = """
import sys
from pacsbridge import DeidJob, DeidOptions, DeidWorkers
pool = DeidWorkers(DeidJob(b"test-key-0123456789abcdef", 365, DeidOptions()), 2)
pool.start(wait=True)
print("ready", flush=True)
sys.stdin.read()
"""


def test_workers_do_not_outlive_a_killed_owner(new_interpreter: Interpreter) -> None:
    """Killed (SIGKILL), the process that owns the pool leaves nothing behind that holds its
    output open (a forkserver's workers would otherwise wait forever)."""
    with subprocess.Popen(
        new_interpreter.argv("-c", _OWNER),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as owner:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == b"ready"
        owner.kill()
        owner.wait()
        closed = threading.Event()
        output = owner.stdout

        def read_to_the_end() -> None:
            output.read()
            closed.set()

        threading.Thread(target=read_to_the_end, daemon=True).start()
        assert closed.wait(20), "a worker of the killed owner still holds its output"
