"""Keys and the encrypted linkage table.

Two secrets, both outside the database: the *pseudonym key* (keyed hash of
UIDs and patient IDs; it must never change, or every pseudonym changes) and
the *linkage key* (Fernet: AES-128-CBC + HMAC-SHA256) that encrypts the
clinical identity of each pseudonymous UID, needed only to retrieve
discovered studies and to write SRs back. Each comes from the settings
(environment variable) or from a file in the secrets folder, created with
mode 0600 on first use.

Losing the linkage key disables write-back for the studies it encrypted and
nothing else: a new key is made (and said loudly), new studies are linked
with it, and studies discovered but not yet retrieved are re-linked by the
next C-FIND (their pseudonyms do not depend on this key).

Rotation (:func:`rotate_linkage_key`) is crash-safe: the new key is written
next to the old one first (``linkage.key.next``, read as a second key), the
rows are re-encrypted in one transaction, then the new key replaces the old.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import Linkage
from pacsbridge import OriginalIdentity
from pacslabel.errors import LinkageError
from pacslabel.files import write_private

__all__ = ["Keys", "LinkageVault", "Rotation", "key_id", "load_keys", "rotate_linkage_key"]

logger = logging.getLogger(__name__)

_NEXT = "linkage.key.next"


@dataclass(frozen=True, slots=True)
class Keys:
    pseudonym: bytes
    linkage: bytes
    extra_linkage: tuple[bytes, ...] = ()
    """Keys still accepted for reading (a rotation that did not finish)."""
    linkage_from_file: Path | None = None
    """Where the linkage key came from (``None``: the environment)."""


def key_id(key: bytes) -> str:
    """A public fingerprint of a key (stored beside what it encrypted)."""
    return hashlib.sha256(key).hexdigest()[:16]


def _write_secret(path: Path, data: bytes) -> None:
    write_private(path, data + b"\n", durable=True)


def _read_or_create(path: Path, make: bytes, what: str) -> bytes:
    if path.is_file():
        return path.read_bytes().strip()
    logger.warning("no %s in %s: a new one is created", what, path)
    _write_secret(path, make)
    return make


def load_keys(
    secrets_dir: Path, pseudonym_key: SecretStr | None, linkage_key: SecretStr | None
) -> Keys:
    """The keys: given ones first, else files in ``secrets_dir`` (created when absent).

    Raises
    ------
    LinkageError
        A linkage key is not a valid Fernet key.
    """
    if pseudonym_key is not None:
        pseudonym = pseudonym_key.get_secret_value().encode()
    else:
        pseudonym = _read_or_create(
            secrets_dir / "pseudonym.key", base64.urlsafe_b64encode(os.urandom(32)), "pseudonym key"
        )
    source: Path | None = None
    if linkage_key is not None:
        linkage = linkage_key.get_secret_value().encode()
    else:
        source = secrets_dir / "linkage.key"
        linkage = _read_or_create(source, Fernet.generate_key(), "linkage key")
    extra: tuple[bytes, ...] = ()
    if (secrets_dir / _NEXT).is_file():
        extra = ((secrets_dir / _NEXT).read_bytes().strip(),)
    for key in (linkage, *extra):
        try:
            Fernet(key)
        except ValueError as exc:
            raise LinkageError(f"a linkage key is not a valid Fernet key: {exc}") from None
    return Keys(pseudonym, linkage, extra, source)


class LinkageVault:
    """Encrypts clinical identities into the ``linkage`` table and reads them back.

    Parameters
    ----------
    key
        The key that encrypts new rows.
    readable
        Further keys that may have encrypted existing rows.
    """

    def __init__(self, key: bytes, readable: tuple[bytes, ...] = ()) -> None:
        self._fernet = Fernet(key)
        self.key_id = key_id(key)
        self._by_id = {key_id(k): Fernet(k) for k in (key, *readable)}

    def put(
        self,
        session: Session,
        pseudonymous_uid: str,
        kind: str,
        identity: OriginalIdentity,
        *,
        replace: bool = False,
    ) -> None:
        """Store the identity behind ``pseudonymous_uid``. A row this vault cannot read (its
        key was lost) is replaced; a readable one only when ``replace`` (what the study's
        instances told after what its C-FIND answer told)."""
        row = session.get(Linkage, pseudonymous_uid)
        if row is not None and row.key_id in self._by_id and not replace:
            return
        payload = self._fernet.encrypt(json.dumps(identity.as_dict(), sort_keys=True).encode())
        if row is None:
            session.add(
                Linkage(
                    pseudonymous_uid=pseudonymous_uid,
                    kind=kind,
                    key_id=self.key_id,
                    ciphertext=payload,
                )
            )
        else:
            row.key_id, row.ciphertext = self.key_id, payload

    def get(self, session: Session, pseudonymous_uid: str) -> OriginalIdentity:
        """The clinical identity behind ``pseudonymous_uid``.

        Raises
        ------
        LinkageError
            No row, or the row was encrypted with a key that is not configured.
        """
        row = session.get(Linkage, pseudonymous_uid)
        if row is None:
            raise LinkageError(f"no linkage for {pseudonymous_uid}")
        fernet = self._by_id.get(row.key_id)
        if fernet is None:
            raise LinkageError(
                f"the linkage of {pseudonymous_uid} was encrypted with key {row.key_id}, "
                f"which is not configured (configured: {', '.join(sorted(self._by_id))})"
            )
        try:
            payload = fernet.decrypt(row.ciphertext)
        except InvalidToken:
            raise LinkageError(f"the linkage of {pseudonymous_uid} does not decrypt") from None
        return OriginalIdentity.from_dict(json.loads(payload))

    def unreadable(self, session: Session) -> int:
        """How many linkage rows no configured key can read."""
        return int(
            session.scalar(
                select(func.count()).select_from(Linkage).where(Linkage.key_id.not_in(self._by_id))
            )
            or 0
        )

    def reencrypt(self, session: Session, new_key: bytes) -> int:
        """Re-encrypt every readable row with ``new_key`` (in the caller's transaction)."""
        new = Fernet(new_key)
        new_id = key_id(new_key)
        count = 0
        for row in session.scalars(select(Linkage).where(Linkage.key_id.in_(self._by_id))):
            if row.key_id == new_id:
                continue
            payload = self._by_id[row.key_id].decrypt(row.ciphertext)
            row.ciphertext, row.key_id = new.encrypt(payload), new_id
            count += 1
        return count


@dataclass(frozen=True, slots=True)
class Rotation:
    rows: int
    new_key_id: str
    new_key_file: Path
    """Where the new key is: ``linkage.key`` (done), or ``linkage.key.next`` when the key
    comes from the environment (the operator puts it there, then deletes the file)."""


def rotate_linkage_key(session: Session, keys: Keys, secrets_dir: Path) -> Rotation:
    """Encrypt the linkage table with a new key and retire the old one.

    Raises
    ------
    LinkageError
        Some rows are encrypted with a key that is not configured (they would be lost).
    """
    vault = LinkageVault(keys.linkage, keys.extra_linkage)
    lost = vault.unreadable(session)
    if lost:
        raise LinkageError(
            f"{lost} linkage rows are encrypted with a key that is not "
            "configured; rotating now would make them unreadable for good"
        )
    new_key = Fernet.generate_key()
    next_file = secrets_dir / _NEXT
    _write_secret(next_file, new_key)  # first: a crash after the commit still has the key
    rows = vault.reencrypt(session, new_key)
    session.commit()
    if keys.linkage_from_file is None:
        return Rotation(rows, key_id(new_key), next_file)
    os.replace(next_file, keys.linkage_from_file)
    return Rotation(rows, key_id(new_key), keys.linkage_from_file)
