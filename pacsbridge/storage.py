"""Receiving instances: our storage SCP (the C-MOVE destination) and the C-GET sink.

The received bytes are written unchanged (PS3.10 file format) into one
folder per study under ``incoming_dir``; nothing is decoded beyond the few
header attributes needed to file the instance. An instance that cannot be
read is written to ``quarantine_dir`` with the reason beside it, answered
with a failure status, and never stops the server.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from pydicom.errors import InvalidDicomError
from pynetdicom import AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from pacsbridge.association import (
    CONNECTION_HANDLERS,
    STORAGE_TRANSFER_SYNTAXES,
    application_entity,
)
from pacsbridge.node import LocalAE

__all__ = ["Receiver", "StorageSCP"]

logger = logging.getLogger(__name__)

_CANNOT_UNDERSTAND = 0xC210
_OUT_OF_RESOURCES = 0xA700


class Receiver:
    """Files instances as they arrive (by C-STORE from a C-MOVE, or inside a C-GET).

    Parameters
    ----------
    incoming_dir
        Where received instances are written, one folder per study.
    quarantine_dir
        Where instances that cannot be read are kept, with a ``.reason`` file.
    name_for
        Maps a clinical UID to the file/folder name to use (so that clinical
        UIDs do not appear in paths); pass the pseudonymiser's UID function.
    on_instance
        Called with the study's folder after each instance is written.
    """

    def __init__(
        self,
        incoming_dir: Path,
        quarantine_dir: Path,
        name_for: Callable[[str], str],
        on_instance: Callable[[Path], None] | None = None,
    ) -> None:
        self._incoming = incoming_dir
        self._quarantine = quarantine_dir
        self._name_for = name_for
        self._on_instance = on_instance
        self._lock = threading.Lock()
        self._received: dict[str, set[str]] = defaultdict(set)
        incoming_dir.mkdir(parents=True, exist_ok=True)
        quarantine_dir.mkdir(parents=True, exist_ok=True)

    def study_dir(self, study_instance_uid: str) -> Path:
        """The folder that receives the instances of one study."""
        return self._incoming / self._name_for(study_instance_uid)

    def received(self, study_instance_uid: str) -> int:
        """How many distinct instances of the study arrived since start."""
        with self._lock:
            return len(self._received.get(study_instance_uid, ()))

    def handle_store(self, event: Event) -> int:
        """EVT_C_STORE handler: write the instance, answer a DIMSE status."""
        try:
            ds = event.dataset
            study_uid = str(ds.StudyInstanceUID)
            sop_uid = str(ds.SOPInstanceUID)
        except (AttributeError, KeyError, ValueError, InvalidDicomError) as exc:
            return self._quarantine_bytes(event, f"unreadable header: {exc}")
        if not study_uid or not sop_uid:
            return self._quarantine_bytes(event, "no StudyInstanceUID or SOPInstanceUID")
        folder = self.study_dir(study_uid)
        path = folder / f"{self._name_for(sop_uid)}.dcm"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, event.encoded_dataset(include_meta=True))
        except OSError as exc:
            logger.error("cannot write a received instance: %s", exc)
            return _OUT_OF_RESOURCES
        with self._lock:
            self._received[study_uid].add(sop_uid)
        if self._on_instance is not None:
            self._on_instance(folder)
        return 0x0000

    def _quarantine_bytes(self, event: Event, reason: str) -> int:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        name = f"received-{stamp}-{threading.get_ident()}-{time.monotonic_ns()}"
        path = self._quarantine / f"{name}.dcm"
        _write_atomically(path, event.encoded_dataset(include_meta=True))
        path.with_suffix(".reason").write_text(
            f"from {event.assoc.requestor.ae_title}: {reason}\n", encoding="utf-8"
        )
        logger.warning(
            "quarantined an instance from %s: %s (%s)",
            event.assoc.requestor.ae_title,
            reason,
            path.name,
        )
        return _CANNOT_UNDERSTAND


class StorageSCP:
    """A Storage SCP (PS3.4 Annex B) running in background threads.

    Parameters
    ----------
    local
        Our AE title, bind address and port (0 for any free port).
    incoming_dir, quarantine_dir, name_for, on_instance
        As for :class:`Receiver`.
    allowed_calling_ae_titles
        When given, associations from other calling AE titles are rejected
        ("calling AE title not recognised").
    tls
        A server-side SSL context: the SCP accepts only TLS associations
        (DICOM secure transport, PS3.15 B.1).
    """

    def __init__(
        self,
        local: LocalAE,
        incoming_dir: Path,
        quarantine_dir: Path,
        name_for: Callable[[str], str],
        allowed_calling_ae_titles: Sequence[str] = (),
        *,
        on_instance: Callable[[Path], None] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._local = local
        self.receiver = Receiver(incoming_dir, quarantine_dir, name_for, on_instance)
        self._allowed = list(allowed_calling_ae_titles)
        self._tls = tls
        self._server: ThreadedAssociationServer | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (resolved when configured as 0)."""
        if self._server is None:
            raise RuntimeError("the storage SCP is not running")
        return int(self._server.server_address[1])

    @property
    def ae_title(self) -> str:
        return self._local.ae_title

    def start(self) -> StorageSCP:
        """Start listening; returns ``self``.

        Raises
        ------
        OSError
            The port is taken or the address cannot be bound.
        """
        ae = application_entity(self._local)
        ae.maximum_associations = 16
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax, STORAGE_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        if self._allowed:
            ae.require_calling_aet = self._allowed
        self._server = ae.start_server(
            (self._local.bind_address, self._local.storage_port),
            block=False,
            ssl_context=self._tls,
            evt_handlers=[*CONNECTION_HANDLERS, (evt.EVT_C_STORE, self.receiver.handle_store)],
        )
        logger.info(
            "storage SCP %s listening on %s:%d%s",
            self.ae_title,
            self._local.bind_address,
            self.port,
            " (TLS)" if self._tls else "",
        )
        return self

    def stop(self) -> None:
        """Stop the server and close its associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> StorageSCP:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def study_dir(self, study_instance_uid: str) -> Path:
        return self.receiver.study_dir(study_instance_uid)

    def received(self, study_instance_uid: str) -> int:
        return self.receiver.received(study_instance_uid)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.part")
    with tmp.open("wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
