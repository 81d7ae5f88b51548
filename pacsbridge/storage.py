"""Receiving instances: our storage SCP (the C-MOVE destination) and the C-GET sink.

The received bytes are written unchanged (PS3.10 file format) into one
folder per study under ``incoming_dir``; nothing is decoded beyond the few
header attributes needed to file the instance. An instance that cannot be
read is written to ``quarantine_dir`` with the reason beside it, answered
with a failure status, and never stops the server.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import ssl
import struct
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pynetdicom import evt
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer

from pacsbridge.association import CONNECTION_HANDLERS, application_entity, storage_contexts
from pacsbridge.errors import InvalidInstance
from pacsbridge.files import arriving_path
from pacsbridge.limits import DEFAULT_LIMITS, Limits, read_instance
from pacsbridge.node import LocalAE
from pacsbridge.peers import Gate, Peer

__all__ = ["Receiver", "Refusal", "StorageSCP"]

logger = logging.getLogger(__name__)

_CANNOT_UNDERSTAND = 0xC210
_OUT_OF_RESOURCES = 0xA700
_NOT_AUTHORIZED = 0x0124  # PS3.7 C.4: Refused: Not Authorized


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
        Called with the file after each instance is written (e.g. to hand it to the
        de-identification workers); it must return at once.
    limits
        An instance larger than ``max_instance_bytes``, or a deflated one inflating
        past ``max_inflated_bytes``, is refused before it is decoded.
    may_push
        Whether the association an instance came on may store a study nobody is
        retrieving (:meth:`Gate.may_push`); an instance of a study under retrieval
        must come for the C-MOVE that asked for it.

    Every refused instance is kept in :attr:`refused` until :meth:`take_refused`.
    """

    def __init__(
        self,
        incoming_dir: Path,
        quarantine_dir: Path,
        name_for: Callable[[str], str],
        on_instance: Callable[[Path], None] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        may_push: Callable[[Event], bool] = lambda event: True,
    ) -> None:
        self._may_push = may_push
        self._incoming = incoming_dir
        self._quarantine = quarantine_dir
        self._name_for = name_for
        self._on_instance = on_instance
        self._limits = limits
        self._lock = threading.Lock()
        self._received: dict[str, set[str]] = defaultdict(set)
        self._retrievals: dict[int, str] = {}
        self._next_message_id = 0
        self._refused_of: dict[str, list[str]] = defaultdict(list)
        self._write_error: OSError | None = None
        self.refused: list[Refusal] = []
        """Instances refused since the last :meth:`take_refused`."""
        self.bytes_received = 0
        """Bytes of the instances filed since start."""
        incoming_dir.mkdir(parents=True, exist_ok=True)
        quarantine_dir.mkdir(parents=True, exist_ok=True)

    def study_dir(self, study_instance_uid: str) -> Path:
        """The folder that receives the instances of one study."""
        return self._incoming / self._name_for(study_instance_uid)

    def received(self, study_instance_uid: str) -> int:
        """How many distinct instances of the study arrived since start."""
        with self._lock:
            return len(self._received.get(study_instance_uid, ()))

    @contextmanager
    def retrieval(self, study_instance_uid: str) -> Iterator[int]:
        """While a C-MOVE of the study runs: the Message ID to send it with, by which the
        instances the PACS sends for it (Move Originator Message ID) are known to be the
        study's even when they cannot be read."""
        with self._lock:
            self._next_message_id = self._next_message_id % 0xFFFF + 1
            message_id = self._next_message_id
            self._retrievals[message_id] = study_instance_uid
        try:
            yield message_id
        finally:
            with self._lock:
                self._retrievals.pop(message_id, None)

    def refusals_of(self, study_instance_uid: str) -> list[str]:
        """Why instances of the study were refused since start (one reason each)."""
        with self._lock:
            return list(self._refused_of.get(study_instance_uid, ()))

    def take_refused(self) -> list[Refusal]:
        """The instances refused since the last call (and forget them)."""
        with self._lock:
            taken, self.refused = self.refused, []
        return taken

    def _arrived(self, event: Event) -> Path:
        """The instance as a file in the DICOM file format, beside where it will be filed:
        the file the association wrote it to as it arrived (chunked receiving, see
        :meth:`StorageSCP.start`), or, when another part of the process received it in
        memory, the bytes written out."""
        spooled = event.dataset_path
        part = arriving_path(self._incoming)
        if spooled is not None:
            shutil.move(spooled, part)
        else:
            part.write_bytes(event.encoded_dataset(include_meta=True))
        return part

    def handle_store(self, event: Event, study_instance_uid: str | None = None) -> int:
        """EVT_C_STORE handler: file the instance, answer a DIMSE status. An instance that
        cannot be filed is kept in quarantine, recorded in :attr:`refused`, and refused.
        ``study_instance_uid``: the study being retrieved, when the caller knows (C-GET)."""
        try:
            part = self._arrived(event)
        except OSError as exc:
            return self._cannot_write(exc)
        try:
            ds = read_instance(part, self._limits, tags=_FILING_TAGS)
            study_uid = _single_uid(ds, "StudyInstanceUID")
            sop_uid = _single_uid(ds, "SOPInstanceUID")
        except InvalidInstance as exc:
            status = _OUT_OF_RESOURCES if "limits." in exc.reason else _CANNOT_UNDERSTAND
            return self._refuse(event, part, exc.reason, study_instance_uid, status)
        except OSError as exc:  # ours: the file could not be read back, or inflated to disk
            part.unlink(missing_ok=True)
            return self._cannot_write(exc)
        except _UNREADABLE as exc:
            reason = f"unreadable header: {_first_line(exc)}"
            return self._refuse(event, part, reason, study_instance_uid)
        unasked = None if study_instance_uid else self._unasked(event, study_uid)
        if unasked:
            return self._refuse(event, part, unasked, study_instance_uid, _NOT_AUTHORIZED)
        folder = self.study_dir(study_uid)
        target = folder / f"{self._name_for(sop_uid)}.dcm"
        if self._conflicts(study_uid, sop_uid, part, target):
            reason = "its SOP Instance UID arrived before in this study, with other content"
            return self._refuse(event, part, reason, study_instance_uid)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(part, target)
        except OSError as exc:
            part.unlink(missing_ok=True)
            return self._cannot_write(exc)
        size = target.stat().st_size
        with self._lock:
            self._received[study_uid].add(sop_uid)
            self.bytes_received += size
        if self._on_instance is not None:
            try:
                self._on_instance(target)
            except Exception:  # the instance is filed; the callback is extra
                logger.exception("after filing %s", target.name)
        return 0x0000

    def _unasked(self, event: Event, study_uid: str) -> str | None:
        """Why an instance that came by C-STORE was not asked for, or ``None``: it belongs
        to a study being retrieved (and, when it says which C-MOVE it answers, to that
        one's study), or its peer may push."""
        originator = int(getattr(event.request, "MoveOriginatorMessageID", 0) or 0)
        with self._lock:
            moving = set(self._retrievals.values())
            answers = self._retrievals.get(originator) if originator else None
        if originator and answers is not None and answers != study_uid:
            return "it answers a C-MOVE of another study"
        if study_uid in moving and (not originator or answers == study_uid):
            return None
        if self._may_push(event):
            return None
        return "no study of it is being retrieved, and its sender may not push studies"

    def _cannot_write(self, error: OSError) -> int:
        """Our disk failed (full, read-only): answer "out of resources", keep the error for
        :meth:`take_write_error` (the retrieval stops; no study is to blame)."""
        logger.error("cannot write a received instance: %s", error)
        with self._lock:
            if self._write_error is None:
                self._write_error = error
        return _OUT_OF_RESOURCES

    def take_write_error(self) -> OSError | None:
        """The first error writing a received instance since the last call, if any."""
        with self._lock:
            error, self._write_error = self._write_error, None
        return error

    def _conflicts(self, study_uid: str, sop_uid: str, part: Path, target: Path) -> bool:
        """Whether the instance arrived before (since start) with other bytes: one UID
        for two images. The same bytes again (a retried transfer) are no conflict."""
        with self._lock:
            seen = sop_uid in self._received.get(study_uid, ())
        if not seen or not target.exists():
            return False
        return _digest(part) != _digest(target)

    def _study_of(self, event: Event, part: Path, given: str | None) -> str:
        """Whose instance a refused one is: the study being retrieved by C-GET, or by the
        C-MOVE it answers, or as its header says when that can be read; else ``""``."""
        if given:
            return given
        with self._lock:
            moved = self._retrievals.get(
                int(getattr(event.request, "MoveOriginatorMessageID", 0) or 0)
            )
        return moved or _readable_study_uid(
            part, deflated=event.context.transfer_syntax.is_deflated
        )

    def _refuse(
        self,
        event: Event,
        part: Path,
        reason: str,
        study_instance_uid: str | None,
        status: int = _CANNOT_UNDERSTAND,
    ) -> int:
        """Keep a refused instance's bytes in quarantine with the reason, record it."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        name = f"received-{stamp}-{threading.get_ident()}-{time.monotonic_ns()}"
        path = self._quarantine / f"{name}.dcm"
        calling = str(event.assoc.requestor.ae_title)
        sop = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        study = self._study_of(event, part, study_instance_uid)
        try:
            shutil.move(part, path)
            path.with_suffix(".reason").write_text(f"from {calling}: {reason}\n", encoding="utf-8")
        except OSError as exc:
            logger.error("cannot keep a refused instance in %s: %s", self._quarantine, exc)
            part.unlink(missing_ok=True)
        refusal = Refusal(
            calling,
            self._name_for(study) if study else "",
            self._name_for(sop) if sop else "",
            status,
            reason,
            path,
        )
        with self._lock:
            self.refused.append(refusal)
            if study:
                self._refused_of[study].append(reason)
        logger.warning("refused an instance from %s: %s (%s)", calling, reason, path.name)
        return status


@dataclass(frozen=True, slots=True)
class Refusal:
    """An instance the SCP refused: who sent it, which study and instance (by pseudonym, when
    readable), the status answered, why, and where its bytes are kept."""

    calling_ae_title: str
    study_pseudonym: str
    sop_pseudonym: str
    status: int
    reason: str
    path: Path


#: What decoding a hostile header raises.
_UNREADABLE = (
    AttributeError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    EOFError,
    OSError,
    InvalidDicomError,
    RecursionError,
    struct.error,
)
#: The only attributes needed to file an instance.
_FILING_TAGS = ["StudyInstanceUID", "SOPInstanceUID"]
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def _digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}"


def _readable_study_uid(path: Path, *, deflated: bool) -> str:
    """The Study Instance UID of a refused instance, when it can be read without risk (not
    from a deflated one: inflating it may be why it was refused); else ``""``."""
    if deflated:
        return ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds = dcmread(path, force=True, specific_tags=["StudyInstanceUID"])
        return _single_uid(ds, "StudyInstanceUID")
    except (InvalidInstance, *_UNREADABLE):
        return ""


def _single_uid(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    text = str(value) if value is not None and not isinstance(value, list | MultiValue) else ""
    if not text or len(text) > 64 or not _UID.match(text):
        raise InvalidInstance("instance", f"no valid {keyword}")
    return text


class StorageSCP:
    """A Storage SCP (PS3.4 Annex B) running in background threads.

    Parameters
    ----------
    local
        Our AE title, bind address and port (0 for any free port).
    incoming_dir, quarantine_dir, name_for, on_instance, limits
        As for :class:`Receiver`.
    peers
        Who may open associations (:class:`~pacsbridge.peers.Peer`: AE title, hosts,
        push, certificate names, a limit of open associations); everything else is
        rejected and recorded in :attr:`gate`'s refusals. ``None``: any calling AE
        from anywhere, allowed to push (the called AE title is checked either way).
    allowed_calling_ae_titles
        Shorthand for peers of these AE titles from any host, allowed to push.
    tls
        A server-side SSL context: the SCP accepts only TLS associations
        (DICOM secure transport, PS3.15 B.1).
    max_associations
        Associations open at once, all peers together.
    idle_timeout_s
        How long a connection may stay open without asking for an association (a
        few idle sockets must not fill the SCP).
    """

    def __init__(
        self,
        local: LocalAE,
        incoming_dir: Path,
        quarantine_dir: Path,
        name_for: Callable[[str], str],
        allowed_calling_ae_titles: Sequence[str] = (),
        *,
        peers: Sequence[Peer] | None = None,
        on_instance: Callable[[Path], None] | None = None,
        tls: ssl.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        max_associations: int = 64,
        idle_timeout_s: float = 10.0,
    ) -> None:
        self._local = local
        if peers is None and allowed_calling_ae_titles:
            peers = [Peer(title, push=True) for title in allowed_calling_ae_titles]
        self.gate = Gate(local.ae_title, peers)
        """Admits associations and keeps the refused ones."""
        self.receiver = Receiver(
            incoming_dir, quarantine_dir, name_for, on_instance, limits, self.gate.may_push
        )
        self._max_associations = max_associations
        self._idle_timeout_s = idle_timeout_s
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
        """Start listening; returns ``self``. Once the process has called
        :func:`~pacsbridge.receive_into_files` (the entry point does), instances are written
        to a file as they arrive: one of any size costs no memory before its limits are
        checked.

        Raises
        ------
        OSError
            The port is taken or the address cannot be bound.
        """
        ae = application_entity(self._local)
        ae.maximum_associations = self._max_associations
        ae.acse_timeout = self._idle_timeout_s  # waiting for the A-ASSOCIATE-RQ
        handlers = [
            *CONNECTION_HANDLERS,
            (evt.EVT_REQUESTED, self.gate.on_requested),
            (evt.EVT_CONN_CLOSE, self.gate.on_closed),
            (evt.EVT_C_STORE, self.receiver.handle_store),
        ]
        self._server = ae.start_server(
            (self._local.bind_address, self._local.storage_port),
            block=False,
            ssl_context=self._tls,
            evt_handlers=handlers,
            contexts=storage_contexts(),
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
