"""Our storage SCP admits only its peers (issue 18): the called AE title, the calling AE
title and its host, unsolicited studies, C-MOVE answers for another study, idle sockets
and per-peer limits; every rejection is recorded with the peer and the reason."""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dicom_checks import raw_store
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from pacsbridge import LocalAE, Node, Peer, Pseudonymiser, StorageSCP, store_instance
from pacsbridge.errors import AssociationRejected
from simhospital import SimulatedStudy, generate_study


@pytest.fixture(scope="module")
def studies() -> list[SimulatedStudy]:
    return [generate_study(i, seed=8, scale=0.05) for i in range(3)]


@pytest.fixture
def scp(tmp_path: Path) -> Iterator[StorageSCP]:
    peer = Peer("PACS", ("127.0.0.1",), push=False, max_associations=3)
    server = StorageSCP(
        LocalAE("PACSLABEL", storage_port=0, network_timeout_s=5),
        tmp_path / "in",
        tmp_path / "q",
        Pseudonymiser(b"k" * 16).uid,
        peers=[peer, Peer("ROUTER", ("127.0.0.0/8",), push=True)],
        idle_timeout_s=2,
    )
    with server:
        yield server


_send = functools.partial(raw_store, calling="PACS")


def test_only_peers_from_their_hosts_and_to_our_title(
    scp: StorageSCP, studies: list[SimulatedStudy]
) -> None:
    ds = studies[0].datasets[0]
    assert _send(ds, scp.port, called="ANYTHING") == -1
    assert _send(ds, scp.port, calling="EVIL") == -1
    assert _send(ds, scp.port, source="127.0.0.2") == -1  # the PACS's title, another host
    reasons = [r.reason for r in scp.gate.take_refusals()]
    assert len(reasons) == 3
    assert "called AE title 'ANYTHING'" in reasons[0]
    assert "'EVIL' is not a configured peer" in reasons[1]
    assert "PACS from 127.0.0.2, not one of its hosts" in reasons[2]
    ae = AE(ae_title="PACS")
    ae.add_requested_context(Verification)
    echo = ae.associate("127.0.0.1", scp.port, ae_title="ANYTHING")
    assert echo.is_rejected
    assert scp.received(studies[0].study_instance_uid) == 0


def test_instances_only_of_studies_being_retrieved_or_from_push_peers(
    scp: StorageSCP, studies: list[SimulatedStudy]
) -> None:
    first, second, third = studies
    assert _send(first.datasets[0], scp.port) == 0x0124  # nobody asked for it
    refused = scp.receiver.take_refused()
    assert len(refused) == 1 and "no study of it is being retrieved" in refused[0].reason
    with (
        scp.receiver.retrieval(first.study_instance_uid) as asked,
        scp.receiver.retrieval(second.study_instance_uid) as other,
    ):
        assert _send(first.datasets[0], scp.port) == 0  # no originator: its study
        assert _send(first.datasets[1], scp.port, originator=asked) == 0
        # An instance claiming to answer the C-MOVE of another study: refused.
        assert _send(first.datasets[2], scp.port, originator=other) == 0x0124
    assert scp.received(first.study_instance_uid) == 2
    assert _send(third.datasets[0], scp.port, calling="ROUTER") == 0  # a push peer
    assert scp.received(third.study_instance_uid) == 1


def test_idle_sockets_do_not_fill_the_scp_and_a_peer_has_a_limit(
    scp: StorageSCP, studies: list[SimulatedStudy]
) -> None:
    idle = [socket.create_connection(("127.0.0.1", scp.port)) for _ in range(20)]
    try:
        with scp.receiver.retrieval(studies[1].study_instance_uid):
            assert _send(studies[1].datasets[0], scp.port) == 0
            held = []
            for _ in range(3):
                ae = AE(ae_title="PACS")
                ae.add_requested_context(Verification)
                held.append(ae.associate("127.0.0.1", scp.port, ae_title="PACSLABEL"))
            assert all(a.is_established for a in held)
            assert _send(studies[1].datasets[1], scp.port) == -1  # its fourth at once
            for assoc in held:
                assoc.release()
            time.sleep(0.5)
            assert _send(studies[1].datasets[1], scp.port) == 0
        reasons = [r.reason for r in scp.gate.take_refusals()]
        assert reasons == ["PACS from 127.0.0.1 already has 3 associations open"]
        time.sleep(2.5)  # past idle_timeout_s: the idle sockets were closed by the SCP
        assert all(s.recv(1, socket.MSG_DONTWAIT) == b"" for s in idle)
    finally:
        for sock in idle:
            sock.close()


def test_a_library_scp_without_peers_takes_anyone(
    tmp_path: Path, studies: list[SimulatedStudy]
) -> None:
    with StorageSCP(
        LocalAE("PACSLABEL", storage_port=0), tmp_path / "in", tmp_path / "q", lambda u: u
    ) as open_scp:
        store_instance(
            LocalAE("ANYONE"), Node("PACSLABEL", "127.0.0.1", open_scp.port), studies[0].datasets[0]
        )
        assert open_scp.received(studies[0].study_instance_uid) == 1
        with pytest.raises(AssociationRejected):
            store_instance(
                LocalAE("ANYONE"), Node("WRONG", "127.0.0.1", open_scp.port), studies[0].datasets[0]
            )
