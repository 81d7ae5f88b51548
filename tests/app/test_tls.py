"""DICOM over TLS: our SCU and our storage SCP with certificates from local.tls_* settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pacsbridge import AssociationAborted, LocalAE, Node, Pseudonymiser, StorageSCP, store_instance
from pacslabel.errors import InvalidSettings
from pacslabel.settings import load_settings
from pacslabel.tls import tls_context
from simhospital import generate_study


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pacslabel-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_store_and_plain_refused(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    settings = load_settings(
        data_dir=tmp_path,
        local={"tls_certificate": cert, "tls_private_key": key, "tls_ca_certificates": cert},
    )
    server, client = tls_context(settings, server=True), tls_context(settings, server=False)
    assert server is not None and client is not None
    study = generate_study(0, seed=5, scale=0.1)
    with StorageSCP(
        LocalAE("PACSLABEL", storage_port=0),
        tmp_path / "in",
        tmp_path / "q",
        Pseudonymiser(b"k" * 16).uid,
        tls=server,
    ) as scp:
        node = Node("PACSLABEL", "127.0.0.1", scp.port)
        store_instance(LocalAE("SENDER", tls_client=client), node, study.datasets[0])
        assert scp.received(study.study_instance_uid) == 1
        with pytest.raises(AssociationAborted):
            store_instance(LocalAE("PLAIN", network_timeout_s=3), node, study.datasets[1])


def test_half_configured_tls_is_refused(tmp_path: Path) -> None:
    cert, _ = _certificate(tmp_path)
    settings = load_settings(data_dir=tmp_path, local={"tls_certificate": cert})
    with pytest.raises(InvalidSettings, match="go together"):
        tls_context(settings, server=False)
