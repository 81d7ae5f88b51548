"""Opening associations and turning their failures into :mod:`pacsbridge.errors`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pynetdicom import AE, _config
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

from pacsbridge.errors import AssociationAborted, AssociationRejected
from pacsbridge.node import LocalAE, Node

logger = logging.getLogger(__name__)


def quiet_identifiers() -> None:
    """Stop pynetdicom from logging query identifiers (they carry patient data)."""
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False


def application_entity(local: LocalAE) -> AE:
    """A pynetdicom AE with our title and timeouts; identifier logging off."""
    quiet_identifiers()
    ae = AE(ae_title=local.ae_title)
    ae.acse_timeout = local.network_timeout_s
    ae.dimse_timeout = local.network_timeout_s
    ae.network_timeout = local.network_timeout_s
    return ae


@contextmanager
def associate(
    local: LocalAE,
    node: Node,
    contexts: Sequence[PresentationContext],
    *,
    dimse_timeout_s: float | None = None,
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
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title)
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


def check_alive(assoc: Association, node: Node, what: str) -> None:
    """Raise :class:`AssociationAborted` when ``assoc`` died during ``what``."""
    if assoc.is_aborted or not assoc.is_established:
        raise AssociationAborted(f"association with {node} lost during {what}")
