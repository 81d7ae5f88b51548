"""What a received file is, de-identified: in this process or in worker processes.

:func:`deidentify_file` reads one received instance within the limits and files
it as an image (its pixel data checked without decoding, its header
de-identified, the file written de-identified), a report document (its text and
the identity of its header, for the report to be chosen and cleaned later) or
another document (left aside). A file that cannot be taken is an outcome with
the reason, never an exception: the outcome crosses a process boundary.

:class:`DeidWorkers` runs it in a pool of worker processes fed as instances
arrive (the storage SCP's handler only writes the bytes and submits the path),
so that receiving and de-identifying overlap and neither holds the other's
interpreter lock. ``workers=0`` runs it in the calling process, on demand: the
same function, the same bytes.

The de-identified file is written without re-encoding the pixel data: the
header is encoded by pydicom and the pixel data element copied from the
received file byte for byte (:func:`write_deidentified`), which is exactly what
pydicom would write for the whole data set (a test compares them); when it
would not be (pixel data masked, a trailing element, a big-endian or deflated
file), pydicom writes the whole data set.
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing
import os
import queue
import select
import struct
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pacsbridge.deid import AnonymisedInstance, DeidOptions, OriginalIdentity, Pseudonymiser
from pacsbridge.deid import anonymise as anonymise_header
from pacsbridge.errors import InvalidInstance
from pacsbridge.files import WRITING_SUFFIX, write_atomically
from pacsbridge.limits import DEFAULT_LIMITS, Limits, check_pixels, read_instance
from pacsbridge.report import (
    REPORT_TITLES,
    DocumentKind,
    ReportCandidate,
    ReportNotFound,
    classify_document,
    report_candidate,
)

logger = logging.getLogger(__name__)

__all__ = ["DeidJob", "DeidWorkers", "FileOutcome", "deidentify_file", "write_deidentified"]

#: Where :func:`deidentify_file` writes, inside the study's folder of received files.
STAGING = ".deidentified"
_PIXEL_DATA = Tag(0x7FE0, 0x0010)
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


@dataclass(frozen=True, slots=True)
class DeidJob:
    """Everything a worker needs to de-identify any received file (sent to it once)."""

    pseudonym_key: bytes
    max_date_shift_days: int
    options: DeidOptions
    limits: Limits = DEFAULT_LIMITS
    titles: frozenset[tuple[str, str]] = frozenset(REPORT_TITLES)
    max_report_chars: int = 200_000

    def __repr__(self) -> str:  # the key never reaches a log
        return f"DeidJob(options={self.options!r}, limits={self.limits!r})"


@dataclass(frozen=True)
class FileOutcome:
    """What one received file turned out to be. Exactly one of ``image`` (with ``written``),
    ``report``, ``left_aside`` and ``refused`` is set."""

    path: Path
    """The received file."""
    image: AnonymisedInstance | None = None
    """The de-identified header (without its pixel data) and the identity it came from."""
    written: Path | None = None
    """The de-identified file, in the study's staging folder, named by its pseudonymous
    SOP Instance UID; the caller moves it where it belongs, or deletes it."""
    report: tuple[ReportCandidate, OriginalIdentity] | None = None
    left_aside: DocumentKind | None = None
    """A document that is not a report (dose, CAD, measurement, KOS, our own SRs)."""
    refused: str | None = None
    """Why the file cannot be taken (it goes to quarantine with this reason)."""


def deidentify_file(path: Path, job: DeidJob) -> FileOutcome:
    """File one received instance under what it is (see the module doc); an image is
    written de-identified to ``<its folder>/.deidentified/<pseudonymous SOP UID>.dcm``.

    Raises
    ------
    OSError
        Our disk failed (the file could not be read back or the output written): no
        fault of the file's.
    """
    try:
        ds = read_instance(path, job.limits)
        kind = classify_document(ds, job.titles)
        if kind is not DocumentKind.NOT_A_DOCUMENT:
            return _document(path, ds, kind, job)
        check_pixels(ds, job.limits, ds.get("SOPInstanceUID", "instance"))
        anon = anonymise_header(ds, _pseudonymiser(job), job.options)
    except InvalidInstance as exc:
        return FileOutcome(path, refused=exc.reason)
    except ReportNotFound as exc:
        return FileOutcome(path, refused=str(exc))
    out = path.parent / STAGING / f"{anon.sop_instance_uid}.dcm"
    out.parent.mkdir(exist_ok=True)
    # whole, even when a retried transfer de-identifies it twice
    write_atomically(out, lambda part: write_deidentified(anon.dataset, path, part), WRITING_SUFFIX)
    if _PIXEL_DATA in anon.dataset:
        del anon.dataset[_PIXEL_DATA]  # what pairing and the database need is the header
    return FileOutcome(path, image=anon, written=out)


def _document(path: Path, ds: Dataset, kind: DocumentKind, job: DeidJob) -> FileOutcome:
    candidate = report_candidate(ds, job.titles)
    if candidate is None:
        return FileOutcome(path, left_aside=kind)
    if len(candidate.text) > job.max_report_chars:
        raise ReportNotFound(
            f"report of {len(candidate.text)} characters, over limits.max_report_chars "
            f"({job.max_report_chars})"
        )
    return FileOutcome(path, report=(candidate, OriginalIdentity.from_dataset(ds, job.options)))


_PSEUDONYMISERS: dict[tuple[bytes, int], Pseudonymiser] = {}


def _pseudonymiser(job: DeidJob) -> Pseudonymiser:
    key = (job.pseudonym_key, job.max_date_shift_days)
    if key not in _PSEUDONYMISERS:
        _PSEUDONYMISERS[key] = Pseudonymiser(job.pseudonym_key, job.max_date_shift_days)
    return _PSEUDONYMISERS[key]


def write_deidentified(ds: Dataset, source: Path, out: Path) -> None:
    """Write ``ds`` (read from ``source``, header de-identified, pixel data untouched) to
    ``out`` in the DICOM file format: the header by pydicom, the pixel data element copied
    from ``source`` when those bytes are what pydicom would write; else all by pydicom."""
    tail = _pixel_data_tail(ds, source)
    if tail is None:
        ds.save_as(out, enforce_file_format=True)
        return
    start, length = tail
    pixels = ds[_PIXEL_DATA]
    del ds[_PIXEL_DATA]
    try:
        with out.open("wb") as fh:
            ds.save_as(fh, enforce_file_format=True)
            fh.flush()
            with source.open("rb") as src:
                _copy_range(src.fileno(), fh.fileno(), start, length)
    finally:
        ds[_PIXEL_DATA] = pixels


def _copy_range(src: int, dst: int, start: int, length: int) -> None:
    """Copy ``length`` bytes of ``src`` from ``start`` to the end of ``dst``, in the kernel."""
    while length > 0:
        sent = os.sendfile(dst, src, start, length)
        if sent == 0:
            raise OSError(f"the received file ended {length} bytes early")
        start, length = start + sent, length - sent


def _pixel_data_tail(ds: Dataset, source: Path) -> tuple[int, int] | None:
    """(offset, length) of the pixel data element at the end of ``source`` when its bytes
    are exactly what pydicom writes for ``ds``'s pixel data (the same header, the same
    value: pixels masked since are not); ``None`` otherwise."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None or _PIXEL_DATA not in ds or max(ds.keys()) != _PIXEL_DATA:
        return None
    explicit = syntax != ImplicitVRLittleEndian
    if syntax.is_deflated or not syntax.is_little_endian:
        return None
    if syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian) and not syntax.is_compressed:
        return None
    elem = ds[_PIXEL_DATA]
    value = elem.value
    if elem.file_tell is None or not isinstance(value, bytes) or len(value) % 2:
        return None
    undefined = elem.is_undefined_length
    length_field = 0xFFFFFFFF if undefined else len(value)
    if explicit:
        if elem.VR not in ("OB", "OW"):
            return None
        header = struct.pack("<HH2sHI", 0x7FE0, 0x0010, elem.VR.encode(), 0, length_field)
    else:
        header = struct.pack("<HHI", 0x7FE0, 0x0010, length_field)
    start = elem.file_tell - len(header)
    trailer = _SEQUENCE_DELIMITER if undefined else b""
    total = len(header) + len(value) + len(trailer)
    with source.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if len(data) != start + total or data[start : elem.file_tell] != header:
            return None
        if trailer and data[start + total - len(trailer) : start + total] != trailer:
            return None
        with memoryview(data) as view:  # the pixels as read, not masked since
            if view[elem.file_tell : elem.file_tell + len(value)] != value:
                return None
    return start, total


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """While worker processes start: multiprocessing runs the main script again in each
    worker (or its forkserver) unless the main module is a package's ``__main__``. The
    workers need nothing from it (what they run is importable by name), and the
    ``pacslabel`` script imports the whole application, torch included: seconds of CPU
    per process. Without its ``__file__`` it is not run again."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


#: Tells the feeder thread to stop.
_STOP = Path("\0stop")


def _start_worker(job: DeidJob) -> None:
    """Build the pseudonymiser once (the pool's first tasks, which start its processes)."""
    _pseudonymiser(job)


def _init_worker(job: DeidJob, owner: int) -> None:
    """A worker's initialiser: exit when the process that owns the pool is gone.

    A forkserver's children hold the pipe that would tell the forkserver its owner died,
    and wait on a queue of which they hold both ends: killed (SIGKILL, a crash), the
    owner would leave them behind for good, holding its stdout and stderr open.
    """
    _pseudonymiser(job)
    threading.Thread(target=_exit_with, args=(owner,), name="owner-watch", daemon=True).start()


def _exit_with(owner: int) -> None:
    try:
        handle = os.pidfd_open(owner)
    except OSError:  # gone already (or no pidfd: Linux < 5.3); then poll
        handle = None
    if handle is not None:
        select.select([handle], [], [])  # readable once the process has exited
        os._exit(1)
    while True:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            os._exit(1)
        time.sleep(1.0)


class DeidWorkers:
    """:func:`deidentify_file` for the files submitted, in ``workers`` processes (0: in the
    calling process, when the outcome is asked for).

    :meth:`submit` never blocks (a storage SCP's handler calls it): a feeder thread hands
    the files to the pool. A file is known by its path, inode, size and modification time:
    an outcome computed for other bytes at the same path is not returned, the file is
    de-identified again. The processes are forked from a forkserver (never from this
    process while its network threads hold locks), started by :meth:`start` or the first
    file; a pool whose worker died is replaced, and a file a worker died on twice is
    refused.
    """

    def __init__(self, job: DeidJob, workers: int) -> None:
        self._job = job
        self._workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[Path, tuple[tuple[int, int, int], Future[FileOutcome]]] = {}
        self._submitted: dict[Path, list[Future[FileOutcome]]] = {}
        """Every job of each file (a retried transfer submits it again)."""
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._feeder: threading.Thread | None = None
        self._feeder_lock = threading.Lock()  # not the pool's: submit() never waits on it
        self._closed = False

    @property
    def workers(self) -> int:
        return self._workers

    def start(self, *, wait: bool = False) -> None:
        """Start the worker processes in the background (else they start with the first
        file); with ``wait``, return once they are up."""
        if not self._workers or self._closed:
            return
        if wait:
            with self._lock:
                pool = self._running_pool()
            pool.submit(_start_worker, self._job).result()
            return
        self._queue.put(None)  # wakes the feeder, which starts the pool
        self._ensure_feeder()

    def submit(self, path: Path) -> None:
        """De-identify ``path`` in the background; returns at once (nothing to do without
        workers)."""
        if self._workers and not self._closed:
            self._queue.put(path)
            self._ensure_feeder()

    def _ensure_feeder(self) -> None:
        with self._feeder_lock:
            if self._feeder is None:
                self._feeder = threading.Thread(target=self._feed, name="deid-feeder", daemon=True)
                self._feeder.start()

    def _feed(self) -> None:
        while True:
            path = self._queue.get()
            try:
                if path is _STOP:
                    return
                if path is None:
                    with self._lock:
                        self._running_pool()
                else:
                    self._submit_now(path)
            except Exception:  # the next file still goes: outcome() will retry this one
                logger.exception("cannot hand a received file to the de-identification workers")
            finally:
                self._queue.task_done()

    def settle(self) -> None:
        """Wait until every file submitted so far is in the workers' hands (so that the
        files of a study are not handed over again once it has been taken)."""
        if self._feeder is not None:
            self._queue.join()

    def _running_pool(self) -> ProcessPoolExecutor:
        """The pool (the lock held), its processes started."""
        if self._pool is None:
            with _main_script_hidden():
                self._pool = self._new_pool()
        return self._pool

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pacsbridge.received"])
        pool = ProcessPoolExecutor(
            self._workers, context, initializer=_init_worker, initargs=(self._job, os.getpid())
        )
        for _ in range(self._workers):  # starts every process now
            pool.submit(_start_worker, self._job)
        return pool

    def _submit_now(self, path: Path) -> Future[FileOutcome]:
        stamp = _stamp(path)
        with self._lock:
            known = self._pending.get(path)
            if known is not None and known[0] == stamp:
                return known[1]
            try:
                future = self._running_pool().submit(deidentify_file, path, self._job)
            except BrokenProcessPool:  # a worker died: a new pool
                self._drop_pool()
                future = self._running_pool().submit(deidentify_file, path, self._job)
            self._pending[path] = (stamp, future)
            self._submitted.setdefault(path, []).append(future)
        return future

    def outcome(self, path: Path) -> FileOutcome:
        """What ``path`` is (waiting for its worker, or computed here and now without
        workers).

        Raises
        ------
        OSError
            As :func:`deidentify_file`.
        """
        if not self._workers or self._closed:
            return deidentify_file(path, self._job)
        for _ in range(2):
            future = self._submit_now(path)
            try:
                return future.result()
            except BrokenProcessPool:
                with self._lock:
                    self._drop_pool()
            finally:  # taken (or broken): the next outcome() submits it anew
                with self._lock:
                    if self._pending.get(path, (None, None))[1] is future:
                        del self._pending[path]
        return FileOutcome(path, refused="a de-identification worker process died reading it")

    def forget(self, folder: Path) -> None:
        """Drop what was computed for the files of ``folder`` (they were taken), once no
        job of theirs is still writing into it (the folder may then be removed)."""
        with self._lock:
            for path in [p for p in self._pending if p.parent == folder]:
                del self._pending[path]
            jobs = [
                job
                for path in [p for p in self._submitted if p.parent == folder]
                for job in self._submitted.pop(path)
            ]
        for job in jobs:
            job.cancel()
        wait(jobs)

    def _drop_pool(self) -> None:
        """Forget a broken pool (the lock held); the next file starts a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Stop the feeder and the worker processes; files submitted later are left for
        :meth:`outcome`, which de-identifies them in the calling process."""
        self._closed = True
        with self._feeder_lock:
            feeder, self._feeder = self._feeder, None
        if feeder is not None:
            self._queue.put(_STOP)
            feeder.join()
        with self._lock:
            pool, self._pool = self._pool, None
            self._pending.clear()
            self._submitted.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0, 0)
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
