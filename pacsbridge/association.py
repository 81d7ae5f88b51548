"""Opening associations and turning their failures into :mod:`pacsbridge.errors`.

Every AE pacsbridge makes (our SCU associations, our storage SCP, the
simulated hospital's PACS) comes from :func:`application_entity`, so they
share timeouts, transfer syntaxes and connection handlers. pynetdicom logs
the identifiers of queries (patient data) unless told not to: that is global
state, so the program's entry point calls :func:`quiet_identifier_logging`
once, as it configures logging.
"""

from __future__ import annotations

import copy
import logging
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydicom import uid
from pynetdicom import AE, DEFAULT_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import Verification

from pacsbridge.errors import AssociationAborted, AssociationRejected
from pacsbridge.node import LocalAE, Node

__all__ = [
    "CONNECTION_HANDLERS",
    "STORAGE_TRANSFER_SYNTAXES",
    "application_entity",
    "associate",
    "check_alive",
    "echo",
    "quiet_identifier_logging",
    "storage_contexts",
    "tcp_nodelay",
]

logger = logging.getLogger(__name__)


def tcp_nodelay(event: Event) -> None:
    """EVT_CONN_OPEN handler: send each PDU at once (no Nagle delay behind delayed ACKs).

    A DIMSE exchange is request/response of small PDUs; with Nagle's
    algorithm each one waits up to 40 ms for the peer's delayed ACK.
    """
    sock = event.assoc.dul.socket
    if sock is not None and sock.socket is not None:
        sock.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


#: What our SCPs accept for storage: the uncompressed syntaxes and the compressed
#: ones radiographs arrive in. Offering all ~45 syntaxes for every storage SOP class
#: costs ~30 ms of negotiation per association (measured), and associations are
#: opened per study.
STORAGE_TRANSFER_SYNTAXES: list[str] = [
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLosslessSV1,
    uid.JPEGLossless,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.RLELossless,
]


class _SharedUIDContext(PresentationContext):
    """A presentation context whose copies share its UIDs (immutable strings).

    pynetdicom deep-copies every supported context of an SCP for each association
    it accepts, and a deep copy re-creates each UID through its validating
    constructor: for our ~1,700 storage contexts that was ~30 ms of the interpreter
    lock per association, the largest part of it while receiving (docs/performance.md).
    A copy here is a new context (negotiation sets its result and roles) with the same
    UID objects.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedUIDContext:
        copied = copy.copy(self)
        copied._transfer_syntax = list(self._transfer_syntax)
        return copied


def storage_contexts() -> list[PresentationContext]:
    """What our storage SCPs accept: every storage SOP class in
    :data:`STORAGE_TRANSFER_SYNTAXES`, and Verification (C-ECHO)."""
    contexts: list[PresentationContext] = []
    for abstract, syntaxes in [
        *((cx.abstract_syntax, STORAGE_TRANSFER_SYNTAXES) for cx in AllStoragePresentationContexts),
        (Verification, DEFAULT_TRANSFER_SYNTAXES),
    ]:
        context = _SharedUIDContext()
        context.abstract_syntax = abstract
        context.transfer_syntax = list(syntaxes)
        contexts.append(context)
    return contexts


#: Handlers every server and association of ours binds.
CONNECTION_HANDLERS: list[tuple[Any, Any]] = [(evt.EVT_CONN_OPEN, tcp_nodelay)]


def quiet_identifier_logging() -> None:
    """Stop pynetdicom, process-wide, from logging C-FIND/C-MOVE identifiers (they carry
    patient data). Call it once, where logging is configured."""
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False


def receive_into_files() -> None:
    """Have pynetdicom write every C-STORE data set this process receives to a file as it
    arrives, instead of holding it in memory (``STORE_RECV_CHUNKED_DATASET``): memory stays
    bounded whatever size arrives; and send a file given by its path as its bytes are,
    without decoding it (``STORE_SEND_CHUNKED_DATASET``). Call it once, where the process
    starts; the storage SCP, the C-GET sink and :class:`~pacsbridge.ParallelStore` work
    either way."""
    _config.STORE_RECV_CHUNKED_DATASET = True
    _config.STORE_SEND_CHUNKED_DATASET = True


def application_entity(local: LocalAE) -> AE:
    """A pynetdicom AE with our title and timeouts."""
    ae = AE(ae_title=local.ae_title)
    ae.acse_timeout = local.network_timeout_s
    ae.dimse_timeout = local.network_timeout_s
    ae.network_timeout = local.network_timeout_s
    ae.maximum_pdu_size = local.max_pdu_bytes
    return ae


@contextmanager
def associate(
    local: LocalAE,
    node: Node,
    contexts: Sequence[PresentationContext],
    *,
    dimse_timeout_s: float | None = None,
    ext_neg: Sequence[Any] = (),
    handlers: Sequence[tuple[Any, ...]] = (),
) -> Iterator[Association]:
    """Open an association to ``node``, yield it, release it.

    Raises
    ------
    AssociationRejected
        The peer rejected us; the reason is in words (PS3.8 9.3.4).
    AssociationAborted
        No answer, a connection failure, or an abort by the peer.
    """
    ae = application_entity(local)
    if dimse_timeout_s is not None:
        ae.dimse_timeout = dimse_timeout_s
    ae.requested_contexts = list(contexts)
    try:
        assoc = ae.associate(
            node.host,
            node.port,
            ae_title=node.ae_title,
            ext_neg=list(ext_neg) or None,
            tls_args=(local.tls_client, node.tls_name or node.host) if local.tls_client else None,
            evt_handlers=[*CONNECTION_HANDLERS, *handlers],
        )
    except OSError as exc:
        ae.shutdown()
        raise AssociationAborted(f"cannot connect to {node}: {exc.strerror or exc}") from None
    if assoc.is_rejected:
        primitive = assoc.acceptor.primitive
        reason = primitive.reason_str if primitive is not None else "no reason given"
        raise AssociationRejected(node, reason)
    if not assoc.is_established:
        raise AssociationAborted(f"could not associate with {node}: no answer or aborted")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def echo(local: LocalAE, node: Node) -> None:
    """C-ECHO ``node`` (Verification, PS3.7 9.1.5): it accepts us and answers.

    Raises
    ------
    AssociationRejected, AssociationAborted
        It refuses us, does not answer, or answers with a failure status.
    """
    with associate(local, node, [build_context(Verification)]) as assoc:
        status = assoc.send_c_echo()
        check_alive(assoc, node, "C-ECHO")
        code = int(status.Status) if status is not None and "Status" in status else None
        if code != 0:
            raise AssociationAborted(f"{node} answered C-ECHO with status {code}")


def check_alive(assoc: Association, node: Node, what: str) -> None:
    """Raise :class:`AssociationAborted` when ``assoc`` died during ``what``."""
    if assoc.is_aborted or not assoc.is_established:
        raise AssociationAborted(f"association with {node} lost during {what}")
