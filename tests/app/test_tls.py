"""DICOM over TLS: our SCU and our storage SCP with certificates from local.tls_* settings;
a certificate that chains to the CA but names someone else is refused both ways."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pacsbridge import (
    AssociationAborted,
    AssociationRejected,
    LocalAE,
    Node,
    Peer,
    Pseudonymiser,
    StorageSCP,
    store_instance,
)
from pacslabel.errors import InvalidSettings
from pacslabel.settings import load_settings
from pacslabel.tls import tls_context
from simhospital import generate_study

_NOW = dt.datetime.now(dt.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _pki(folder: Path, *names: str) -> tuple[Path, dict[str, tuple[Path, Path]]]:
    """A CA and, for each name, a certificate it signed for that name (DNS SAN)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("pacslabel test CA"))
        .issuer_name(_name("pacslabel test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - dt.timedelta(minutes=5))
        .not_valid_after(_NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, _ = _write(folder, "ca", ca, ca_key)
    leaves = {}
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - dt.timedelta(minutes=5))
            .not_valid_after(_NOW + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        leaves[name] = _write(folder, name, cert, key)
    return ca_path, leaves


def _contexts(folder: Path, ca: Path, leaf: tuple[Path, Path]) -> tuple[object, object]:
    cert, key = leaf
    local = {"tls_certificate": cert, "tls_private_key": key, "tls_ca_certificates": ca}
    settings = load_settings(data_dir=folder, local=local)
    return tls_context(settings, server=True), tls_context(settings, server=False)


def test_tls_store_and_plain_refused(tmp_path: Path) -> None:
    ca, leaves = _pki(tmp_path, "localhost")
    server, client = _contexts(tmp_path, ca, leaves["localhost"])
    study = generate_study(0, seed=5, scale=0.1)
    with StorageSCP(
        LocalAE("PACSLABEL", storage_port=0),
        tmp_path / "in",
        tmp_path / "q",
        Pseudonymiser(b"k" * 16).uid,
        peers=[Peer("SENDER", ("127.0.0.1",), push=True, tls_names=("localhost",))],
        tls=server,  # type: ignore[arg-type]
    ) as scp:
        node = Node("PACSLABEL", "127.0.0.1", scp.port, tls_name="localhost")
        store_instance(LocalAE("SENDER", tls_client=client), node, study.datasets[0])  # type: ignore[arg-type]
        assert scp.received(study.study_instance_uid) == 1
        with pytest.raises(AssociationAborted):
            store_instance(LocalAE("PLAIN", network_timeout_s=3), node, study.datasets[1])


def test_a_valid_chain_with_another_name_is_refused_both_ways(tmp_path: Path) -> None:
    """Our SCP refuses a client whose certificate chains to the CA but names another
    host than the peer's; our SCU refuses a PACS whose certificate names another host
    than pacs.tls_name."""
    ca, leaves = _pki(tmp_path, "pacs.hospital.example", "intruder.example")
    server, _ = _contexts(tmp_path, ca, leaves["pacs.hospital.example"])
    _, intruder = _contexts(tmp_path, ca, leaves["intruder.example"])
    study = generate_study(1, seed=5, scale=0.1)
    peer = Peer("PACS", ("127.0.0.1",), push=True, tls_names=("pacs.hospital.example",))
    with StorageSCP(
        LocalAE("PACSLABEL", storage_port=0),
        tmp_path / "in",
        tmp_path / "q",
        Pseudonymiser(b"k" * 16).uid,
        peers=[peer],
        tls=server,  # type: ignore[arg-type]
    ) as scp:
        right_name = Node("PACSLABEL", "127.0.0.1", scp.port, tls_name="pacs.hospital.example")
        with pytest.raises(AssociationRejected, match=r"(?i)calling AE title not recognised"):
            store_instance(LocalAE("PACS", tls_client=intruder), right_name, study.datasets[0])  # type: ignore[arg-type]
        refused = scp.gate.take_refusals()
        assert len(refused) == 1 and "intruder.example" in refused[0].reason
        assert scp.received(study.study_instance_uid) == 0
        # Our side as the client: the SCP's certificate names pacs.hospital.example.
        _, client = _contexts(tmp_path, ca, leaves["pacs.hospital.example"])
        wrong_name = Node("PACSLABEL", "127.0.0.1", scp.port, tls_name="other.example")
        with pytest.raises(AssociationAborted):  # the TLS handshake fails (pynetdicom logs why)
            store_instance(LocalAE("PACS", tls_client=client), wrong_name, study.datasets[0])  # type: ignore[arg-type]
        assert scp.received(study.study_instance_uid) == 0
        store_instance(LocalAE("PACS", tls_client=client), right_name, study.datasets[0])  # type: ignore[arg-type]
        assert scp.received(study.study_instance_uid) == 1


def test_half_configured_tls_is_refused(tmp_path: Path) -> None:
    _, leaves = _pki(tmp_path, "localhost")
    cert, key = leaves["localhost"]
    settings = load_settings(data_dir=tmp_path, local={"tls_certificate": cert})
    with pytest.raises(InvalidSettings, match="go together"):
        tls_context(settings, server=False)
    pair = {"tls_certificate": cert, "tls_private_key": key}
    no_ca = load_settings(data_dir=tmp_path, local=pair)
    with pytest.raises(InvalidSettings, match="tls_ca_certificates is required"):
        tls_context(no_ca, server=False)
