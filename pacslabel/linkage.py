"""Keys and the encrypted linkage table.

Two secrets, both outside the database: the *pseudonym key* (keyed hash of
UIDs and patient IDs; it must never change, or every pseudonym changes) and
the *linkage key* (Fernet: AES-128-CBC + HMAC-SHA256) that encrypts the
clinical identity of each pseudonymous UID, needed only to write SRs back.
Each comes from the settings (environment variable) or from a file in the
secrets folder, created with mode 0600 on first use. Losing the linkage
key disables write-back and nothing else.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Linkage
from pacsbridge import OriginalIdentity

__all__ = ["Keys", "LinkageError", "LinkageVault", "load_keys"]


class LinkageError(RuntimeError):
    """The linkage key is missing or wrong, or a pseudonym has no linkage row."""


@dataclass(frozen=True, slots=True)
class Keys:
    pseudonym: bytes
    linkage: bytes


def _read_or_create(path: Path, make: bytes) -> bytes:
    if path.is_file():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(make + b"\n")
    return make


def load_keys(
    secrets_dir: Path, pseudonym_key: SecretStr | None, linkage_key: SecretStr | None
) -> Keys:
    """The two keys: given ones first, else files in ``secrets_dir`` (created when absent).

    Raises
    ------
    LinkageError
        The linkage key is not a valid Fernet key.
    """
    if pseudonym_key is not None:
        pseudonym = pseudonym_key.get_secret_value().encode()
    else:
        pseudonym = _read_or_create(
            secrets_dir / "pseudonym.key", base64.urlsafe_b64encode(os.urandom(32))
        )
    if linkage_key is not None:
        linkage = linkage_key.get_secret_value().encode()
    else:
        linkage = _read_or_create(secrets_dir / "linkage.key", Fernet.generate_key())
    try:
        Fernet(linkage)
    except ValueError as exc:
        raise LinkageError(f"the linkage key is not a valid Fernet key: {exc}") from None
    return Keys(pseudonym=pseudonym, linkage=linkage)


class LinkageVault:
    """Encrypts clinical identities into the ``linkage`` table and reads them back."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    def put(
        self, session: Session, pseudonymous_uid: str, kind: str, identity: OriginalIdentity
    ) -> None:
        """Store (or keep) the identity behind ``pseudonymous_uid``."""
        if session.get(Linkage, pseudonymous_uid) is not None:
            return
        payload = json.dumps(dataclasses.asdict(identity), sort_keys=True).encode()
        session.add(
            Linkage(
                pseudonymous_uid=pseudonymous_uid,
                kind=kind,
                key_id=self.key_id,
                ciphertext=self._fernet.encrypt(payload),
            )
        )

    def get(self, session: Session, pseudonymous_uid: str) -> OriginalIdentity:
        """The clinical identity behind ``pseudonymous_uid``.

        Raises
        ------
        LinkageError
            No row, or the row was encrypted with another key.
        """
        row = session.scalar(select(Linkage).where(Linkage.pseudonymous_uid == pseudonymous_uid))
        if row is None:
            raise LinkageError(f"no linkage for {pseudonymous_uid}")
        try:
            payload = self._fernet.decrypt(row.ciphertext)
        except InvalidToken:
            raise LinkageError(
                f"the linkage of {pseudonymous_uid} was encrypted with key {row.key_id}, "
                f"not with the configured key {self.key_id}"
            ) from None
        return OriginalIdentity(**json.loads(payload))
