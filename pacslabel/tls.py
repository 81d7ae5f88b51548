"""Our DICOM application entity from the settings, with TLS when it is configured."""

from __future__ import annotations

import ssl

from pacsbridge import LocalAE, Node
from pacslabel.errors import InvalidSettings
from pacslabel.settings import Settings

__all__ = ["local_ae", "pacs_node", "tls_context"]


def tls_context(settings: Settings, *, server: bool) -> ssl.SSLContext | None:
    """An SSL context for DICOM over TLS (PS3.15 B.1), from ``local.tls_*``; ``None``
    when TLS is not configured.

    Both sides present the certificate and verify the peer's against
    ``local.tls_ca_certificates`` (required: the system's store would admit any
    publicly certified name). As a client we check that the PACS's certificate
    names ``pacs.tls_name`` (else ``pacs.host``); as a server the storage SCP checks
    the names its peers' certificates carry (:class:`~pacsbridge.Peer`).

    Raises
    ------
    InvalidSettings
        Only one of certificate and key is set, no CA is given, or a file cannot be
        loaded.
    """
    local = settings.local
    if local.tls_certificate is None and local.tls_private_key is None:
        return None
    if local.tls_certificate is None or local.tls_private_key is None:
        raise InvalidSettings("local.tls_certificate and local.tls_private_key go together")
    if local.tls_ca_certificates is None:
        raise InvalidSettings(
            "local.tls_ca_certificates is required with TLS: the CA bundle the peers' "
            "certificates must chain to"
        )
    purpose = ssl.Purpose.CLIENT_AUTH if server else ssl.Purpose.SERVER_AUTH
    try:
        context = ssl.create_default_context(purpose, cafile=local.tls_ca_certificates)
        context.load_cert_chain(local.tls_certificate, local.tls_private_key)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidSettings(f"local.tls_*: cannot load the TLS files: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    if not server:
        context.check_hostname = True  # the PACS's certificate must name pacs.tls_name
    return context


def local_ae(settings: Settings, tls_client: ssl.SSLContext | None = None) -> LocalAE:
    """Our AE as ``local.*`` describes it; associations we open use ``tls_client``
    (default: :func:`tls_context` of the settings).

    Raises
    ------
    InvalidSettings
        The TLS files are misconfigured.
    """
    local = settings.local
    return LocalAE(
        local.ae_title,
        local.bind_address,
        local.storage_port,
        local.network_timeout_s,
        local.move_timeout_s,
        tls_client=tls_client or tls_context(settings, server=False),
        max_pdu_bytes=local.max_pdu_kb * 1024,
    )


def pacs_node(settings: Settings) -> Node:
    """The PACS as ``pacs.*`` describes it."""
    pacs = settings.pacs
    return Node(pacs.ae_title, pacs.host, pacs.port, tls_name=pacs.tls_name)
