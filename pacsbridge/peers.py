"""Who may talk to our storage SCP: configured peers, each an AE title, the hosts or
networks its associations may come from, whether it may push studies nobody asked
for, and, over TLS, the names its certificate must carry.

An association is admitted only when the called AE title is ours, the calling AE
title is a peer's, it comes from one of that peer's hosts, its certificate (TLS)
names that peer, and the peer has fewer than its limit of associations open;
everything else is rejected before any data is exchanged, and recorded
(:class:`PeerRefusal`) with the peer and the reason.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pynetdicom.events import Event

__all__ = ["Gate", "Peer", "PeerRefusal"]

_REJECT_PERMANENT, _REJECT_TRANSIENT = 0x01, 0x02
_SERVICE_USER, _NO_REASON, _CALLING_UNKNOWN, _CALLED_UNKNOWN = 0x01, 0x01, 0x03, 0x07

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Peer:
    """A DICOM node allowed to open associations to our storage SCP."""

    ae_title: str
    hosts: tuple[str, ...] = ()
    """Addresses, networks (CIDR) or host names its associations may come from; empty:
    any host."""
    push: bool = False
    """May store instances of studies we are not retrieving (a routing rule of a PACS)."""
    tls_names: tuple[str, ...] = ()
    """Over TLS: names (DNS or IP subject alternative names, or the common name) one of
    which its certificate must carry; empty: any certificate of the configured CA."""
    max_associations: int = 16
    """Associations it may hold open at once."""


@dataclass(frozen=True, slots=True)
class PeerRefusal:
    """An association our storage SCP rejected: from whom, to whom, and why."""

    calling_ae_title: str
    address: str
    called_ae_title: str
    reason: str
    at: float = field(default_factory=time.time)


def _networks(hosts: Sequence[str]) -> list[Network]:
    """The networks ``hosts`` name (a host name: each address it resolves to now)."""
    out: list[Network] = []
    for host in hosts:
        try:
            out.append(ipaddress.ip_network(host, strict=False))
            continue
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            continue  # a name that does not resolve admits nobody
        out += [ipaddress.ip_network(info[4][0]) for info in infos]
    return out


def _parties(event: Event) -> tuple[str, str, str]:
    """Calling AE title, peer address, called AE title of a requested association."""
    request = event.assoc.requestor
    primitive = request.primitive
    calling = primitive.calling_ae_title if primitive is not None else request.ae_title
    called = primitive.called_ae_title if primitive is not None else ""
    return str(calling).strip(), str(request.address), str(called).strip()


def _certificate_names(sock: object) -> set[str]:
    if not isinstance(sock, ssl.SSLSocket):
        return set()
    cert: dict[str, Any] = sock.getpeercert() or {}
    alternative = cert.get("subjectAltName", ())
    names = {str(value) for kind, value in alternative if kind in ("DNS", "IP Address")}
    for rdn in cert.get("subject", ()):
        names |= {str(value) for key, value in rdn if key == "commonName"}
    return names


class Gate:
    """Admits or rejects associations (an EVT_REQUESTED handler) and tells which peer an
    admitted association is; ``peers`` ``None`` admits every calling AE from anywhere,
    each allowed to push (a library default; pacslabel always names its peers)."""

    def __init__(self, ae_title: str, peers: Sequence[Peer] | None) -> None:
        self._ae_title = ae_title
        self._peers = list(peers) if peers is not None else None
        self._networks = {peer: _networks(peer.hosts) for peer in self._peers or ()}
        self._lock = threading.Lock()
        self._open: Counter[Peer] = Counter()
        self._by_association: dict[int, Peer | None] = {}
        self.refusals: list[PeerRefusal] = []
        """Associations rejected since the last :meth:`take_refusals`."""

    def take_refusals(self) -> list[PeerRefusal]:
        with self._lock:
            taken, self.refusals = self.refusals, []
        return taken

    def refusals_since(self, moment: float) -> list[PeerRefusal]:
        """The refusals recorded from ``moment`` on (not taken away)."""
        with self._lock:
            return [r for r in self.refusals if r.at >= moment]

    def peer_of(self, event: Event) -> Peer | None:
        """The peer of an admitted association (``None`` when every peer is admitted)."""
        with self._lock:
            return self._by_association.get(id(event.assoc))

    def may_push(self, event: Event) -> bool:
        if self._peers is None:
            return True
        peer = self.peer_of(event)
        return peer is not None and peer.push

    def _judge(self, event: Event) -> tuple[Peer | None, str]:
        """The peer the association is from, or why it is refused."""
        calling, address, called = _parties(event)
        if called != self._ae_title:
            return None, f"called AE title {called!r} is not ours ({self._ae_title})"
        if self._peers is None:
            return None, ""
        named = [peer for peer in self._peers if peer.ae_title == calling]
        if not named:
            return None, f"calling AE title {calling!r} is not a configured peer"
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return None, f"{calling} from an address that cannot be read ({address!r})"
        here = [p for p in named if not p.hosts or any(ip in n for n in self._networks[p])]
        if not here:
            return None, f"{calling} from {address}, not one of its hosts"
        sock = event.assoc.dul.socket
        names = _certificate_names(sock.socket if sock is not None else None)
        if names or any(p.tls_names for p in here):
            here = [p for p in here if not p.tls_names or names & set(p.tls_names)]
            if not here:
                shown = ", ".join(sorted(names)) or "no name"
                return (
                    None,
                    f"{calling} from {address}: its certificate names {shown}, not the peer",
                )
        peer = here[0]
        with self._lock:
            if self._open[peer] >= peer.max_associations:
                limit = peer.max_associations
                return None, f"{calling} from {address} already has {limit} associations open"
        return peer, ""

    def on_requested(self, event: Event) -> None:
        """EVT_REQUESTED: reject what is not admitted (before any data), with the reason."""
        peer, reason = self._judge(event)
        if reason:
            refusal = PeerRefusal(*_parties(event), reason=reason)
            with self._lock:
                self.refusals.append(refusal)
            transient = "associations open" in reason
            diagnostic = _CALLED_UNKNOWN if reason.startswith("called") else _CALLING_UNKNOWN
            event.assoc.acse.send_reject(
                _REJECT_TRANSIENT if transient else _REJECT_PERMANENT,
                _SERVICE_USER,
                _NO_REASON if transient else diagnostic,
            )
            event.assoc.kill()  # as pynetdicom does after its own rejections: the PDU goes out
            return
        with self._lock:
            self._by_association[id(event.assoc)] = peer
            if peer is not None:
                self._open[peer] += 1

    def on_closed(self, event: Event) -> None:
        """EVT_CONN_CLOSE: the association's peer has one fewer open."""
        with self._lock:
            peer = self._by_association.pop(id(event.assoc), None)
            if peer is not None:
                self._open[peer] -= 1
