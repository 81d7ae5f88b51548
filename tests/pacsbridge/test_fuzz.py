"""Fuzzing what a received file goes through — read within limits, check the pixels,
de-identify, decode, find the report — with mutated valid files: bit flips, bytes set to
edge values, truncations, length fields and VRs rewritten, chunks repeated or cut out.

12,000 inputs in six batches of 2,000 (``--fuzz-inputs``; ``make test-fast`` takes
fewer), seeded: a failure is reproducible from its batch and number. Every input must end
in the data or in :class:`~pacsbridge.InvalidInstance` (or another
:class:`~pacsbridge.PacsBridgeError` that says why); nothing else may be raised, and none
may take longer than :data:`PER_INPUT_S`.
"""

from __future__ import annotations

import io
import random
import signal
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import hostile
import pytest
from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from pacsbridge import (
    REPORT_TITLES,
    DocumentKind,
    Limits,
    PacsBridgeError,
    Pseudonymiser,
    check_pixels,
    classify_document,
    deidentify,
    display_pixels,
    read_instance,
    report_candidate,
)

BATCHES = 6
PER_INPUT_S = 5
LIMITS = Limits(max_instance_bytes=8 << 20, max_inflated_bytes=8 << 20, max_decoded_bytes=8 << 20)
_EDGE = (0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE)


def _encode(ds: Dataset) -> bytes:
    out = io.BytesIO()
    dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


def _seeds() -> list[bytes]:
    """Valid files of every shape the loop meets: native, JPEG 2000, RLE and deflated
    images, a text report with nested sequences."""
    ap, lateral, report = hostile._study(3)
    j2k, rle, deflated = hostile._study(4)[0], hostile._study(5)[0], hostile._study(6)[1]
    j2k.compress(JPEG2000Lossless)
    rle.compress(RLELossless)
    deflated.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return [_encode(ds) for ds in (ap, lateral, report, j2k, rle, deflated)]


def _headers(data: bytes) -> list[int]:
    """Offsets of plausible explicit VR element headers (a tag, then two capital letters)."""
    return [
        i
        for i in range(132, min(len(data), 4000) - 8, 2)
        if 0x41 <= data[i + 4] <= 0x5A and 0x41 <= data[i + 5] <= 0x5A
    ]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    headers = _headers(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.randrange(7)
        header_zone = rng.randrange(132, min(len(out), 4000)) if len(out) > 140 else 0
        if kind == 0:  # flip bits
            for _ in range(rng.randint(1, 8)):
                position = rng.choice((header_zone, rng.randrange(len(out))))
                out[position] ^= 1 << rng.randrange(8)
        elif kind == 1:  # edge bytes
            out[header_zone] = rng.choice(_EDGE)
        elif kind == 2:  # truncate
            del out[rng.randrange(len(out) // 2, len(out)) if rng.random() < 0.5 else header_zone :]
        elif kind == 3 and headers:  # a length field rewritten
            at = rng.choice(headers)
            value = rng.choice((0, 1, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFF0, rng.randrange(1 << 16)))
            if bytes(out[at + 4 : at + 6]) in (b"OB", b"OW", b"SQ", b"UT", b"UN"):
                out[at + 8 : at + 12] = struct.pack("<I", value & 0xFFFFFFFF)
            else:
                out[at + 6 : at + 8] = struct.pack("<H", value & 0xFFFF)
        elif kind == 4 and headers:  # a VR rewritten
            at = rng.choice(headers)
            out[at + 4 : at + 6] = rng.choice((b"SQ", b"UN", b"OB", b"US", b"DA", b"ZZ", b"\0\0"))
        elif kind == 5:  # a chunk repeated
            start = rng.randrange(len(out))
            out[start:start] = out[start : start + rng.randint(1, 64)] * rng.randint(1, 50)
        else:  # a chunk cut out
            start = rng.randrange(len(out))
            del out[start : start + rng.randint(1, 64)]
        if not out:
            break
    return bytes(out)


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"an input took longer than {PER_INPUT_S} s")


def _process(path: Path, pseudonymiser: Pseudonymiser) -> None:
    """What the loop does with a received file, up to the pixels and the report."""
    ds = read_instance(path, LIMITS)
    kind = classify_document(ds, REPORT_TITLES)
    if kind is DocumentKind.NOT_A_DOCUMENT:
        check_pixels(ds, LIMITS, path.name)
        deidentify(ds, pseudonymiser)
        display_pixels(ds, path.name)
    else:
        report_candidate(ds, REPORT_TITLES)


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return _seeds()


@pytest.fixture
def alarm() -> Iterator[None]:
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("batch", range(BATCHES))
def test_mutated_files_end_in_the_data_or_in_quarantine(
    batch: int, seeds: list[bytes], tmp_path: Path, alarm: None, pytestconfig: pytest.Config
) -> None:
    per_batch = int(pytestconfig.getoption("--fuzz-inputs"))  # 2,000; fewer in test-fast
    rng = random.Random(1300 + batch)
    pseudonymiser = Pseudonymiser(b"fuzz-key-0123456789abcdef")
    uncaught, outcomes = [], {"used": 0, "refused": 0}
    path = tmp_path / "input.dcm"
    for number in range(per_batch):
        path.write_bytes(_mutate(rng.choice(seeds), rng))
        signal.alarm(PER_INPUT_S)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom's warnings about broken values
                _process(path, pseudonymiser)
            outcomes["used"] += 1
        except PacsBridgeError:
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - what the test is looking for
            uncaught.append(f"batch {batch} input {number}: {type(exc).__name__}: {exc}")
        finally:
            signal.alarm(0)
    assert not uncaught, "\n".join(uncaught[:20])
    assert outcomes["refused"] > per_batch // 10 and outcomes["used"] > 0, outcomes
