"""De-identification in worker processes, fed as instances arrive.

:class:`DeidWorkers` runs :func:`~pacsbridge.received.deidentify_file` in a pool of
worker processes (the storage SCP's handler only writes the bytes and submits the
path), so that receiving and de-identifying overlap and neither holds the other's
interpreter lock. ``workers=0`` runs it in the calling process, on demand: the same
function, the same bytes.

The processes start from a forkserver. multiprocessing runs the main script again in
each unless the main module is a package's ``__main__``: an application whose main
script imports much should say it has nothing to run there (``pacslabel``'s entry
point does); the workers need nothing from it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import select
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from pacsbridge.received import DeidJob, FileOutcome, deidentify_file, job_pseudonymiser

__all__ = ["DeidWorkers"]

logger = logging.getLogger(__name__)


#: Tells the feeder thread to stop.
_STOP = Path("\0stop")


def _start_worker(job: DeidJob) -> None:
    """Build the pseudonymiser once (the pool's first tasks, which start its processes)."""
    job_pseudonymiser(job)


def _init_worker(job: DeidJob, owner: int) -> None:
    """A worker's initialiser: exit when the process that owns the pool is gone.

    A forkserver's children hold the pipe that would tell the forkserver its owner died,
    and wait on a queue of which they hold both ends: killed (SIGKILL, a crash), the
    owner would leave them behind for good, holding its stdout and stderr open.
    """
    job_pseudonymiser(job)
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
            self._pool = self._new_pool()
        return self._pool

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pacsbridge.workers"])
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
