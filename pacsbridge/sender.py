"""Sending many instances to one node fast: several associations at once, each kept
open for many C-STOREs (opening an association per instance costs more than sending
it), the instances given as files (sent as they are, without decoding, once the
process called :func:`~pacsbridge.receive_into_files`)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from types import TracebackType

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.association import Association
from pynetdicom.presentation import build_context

from pacsbridge.association import associate, check_alive
from pacsbridge.errors import AssociationAborted, AssociationError, StoreFailed
from pacsbridge.node import LocalAE, Node
from pacsbridge.status import Service, describe, is_success, is_warning

__all__ = ["ParallelStore"]


class ParallelStore:
    """C-STORE files of the given SOP classes to ``node`` over ``associations`` at once.

    Use it as a context manager; :meth:`submit` returns a future that raises what the
    send raised (:class:`StoreFailed`, :class:`AssociationError`). An association that
    failed is opened anew for the next file of its thread.
    """

    def __init__(
        self, local: LocalAE, node: Node, sop_classes: list[str], associations: int = 4
    ) -> None:
        self._local, self._node = local, node
        syntaxes = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        self._contexts = [build_context(c, syntaxes) for c in sorted(set(sop_classes))]
        self._pool = ThreadPoolExecutor(max_workers=associations, thread_name_prefix="store")
        self._held = threading.local()
        self._lock = threading.Lock()
        self._open: list[AbstractContextManager[Association]] = []

    def _association(self) -> Association:
        assoc: Association | None = getattr(self._held, "assoc", None)
        if assoc is not None and assoc.is_established:
            return assoc
        manager = associate(self._local, self._node, self._contexts)
        assoc = manager.__enter__()
        with self._lock:
            self._open.append(manager)
        self._held.assoc = assoc
        return assoc

    def _send(self, path: Path) -> None:
        assoc = self._association()
        try:
            status = assoc.send_c_store(path)
            check_alive(assoc, self._node, "C-STORE")
        except AssociationError:
            self._held.assoc = None
            raise
        if "Status" not in status:
            self._held.assoc = None
            raise AssociationAborted(f"no C-STORE response from {self._node}")
        code = int(status.Status)
        if not (is_success(code) or is_warning(code, Service.C_STORE)):
            raise StoreFailed(
                f"{self._node} refused the instance: {describe(code, Service.C_STORE)}", code
            )

    def submit(self, path: Path) -> Future[None]:
        """Send the DICOM file at ``path`` (it must stay there until the future is done)."""
        return self._pool.submit(self._send, path)

    def close(self) -> None:
        """Wait for what was submitted, then release every association."""
        self._pool.shutdown(wait=True)
        with self._lock:
            managers, self._open = self._open, []
        for manager in managers:
            with suppress(AssociationError):  # already gone: nothing to release
                manager.__exit__(None, None, None)

    def __enter__(self) -> ParallelStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
