"""DICOM peers: the remote ``Node`` (a PACS) and our own ``LocalAE``."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

__all__ = ["LocalAE", "Node"]


@dataclass(frozen=True, slots=True)
class Node:
    """A remote application entity, addressed as PS3.8 describes (AE title, host, port)."""

    ae_title: str
    host: str
    port: int
    tls_name: str | None = None
    """Over TLS: the name its certificate must carry (default: ``host``)."""

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class LocalAE:
    """Our own application entity.

    Attributes
    ----------
    ae_title
        Our AE title: calling AE of every association we open, called AE of
        our storage SCP, and the move destination the PACS must know.
    bind_address, storage_port
        Where our storage SCP listens (port 0: any free port).
    network_timeout_s
        ACSE/DIMSE/network timeout of each association.
    move_timeout_s
        How long one C-MOVE or C-GET may take before it is abandoned.
    max_pdu_bytes
        The largest PDU we accept (Maximum Length Received, PS3.8 D.1.1; 0: no limit).
        Peers send PDUs up to it: larger PDUs cost far less to receive in Python than
        the 16 kB default.
    """

    ae_title: str
    bind_address: str = "127.0.0.1"
    storage_port: int = 11112
    network_timeout_s: float = 30.0
    move_timeout_s: float = 600.0
    tls_client: ssl.SSLContext | None = None
    """When set, every association we open uses TLS (PS3.15 B.1 secure transport)."""
    max_pdu_bytes: int = 1024 * 1024
