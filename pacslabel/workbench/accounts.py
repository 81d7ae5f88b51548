"""Workbench accounts and sessions: local users with scrypt-hashed passwords and a
role, server-side sessions (the cookie holds a random token, the database its
SHA-256) each with its own CSRF token."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db import WorkbenchSession, WorkbenchUser, utcnow
from db.queries import audit
from pacslabel.errors import UsageError

__all__ = [
    "Role",
    "SignedIn",
    "add_user",
    "check_password",
    "end_session",
    "hash_password",
    "session_of",
    "sign_in",
]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_PASSWORD = 10


class Role(enum.StrEnum):
    ANNOTATOR = "annotator"
    """Labels studies."""
    RESEARCHER = "researcher"
    """Reads studies and the dashboards; labels nothing."""
    ADMIN = "admin"
    """Both."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def add_user(session: Session, username: str, password: str, role: Role) -> bool:
    """Create ``username`` or, when it exists, set its password and role; returns whether
    it was created.

    Raises
    ------
    UsageError
        A name with other characters than letters, digits, ``_.-``, or a password
        shorter than 10 characters.
    """
    if not _NAME.fullmatch(username):
        raise UsageError(f"user name {username!r}: letters, digits, '_', '.', '-' (1–64)")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters")
    user = session.get(WorkbenchUser, username)
    created = user is None
    if user is None:
        user = WorkbenchUser(username=username, role=role, password_hash=hash_password(password))
        session.add(user)
    else:
        user.role, user.password_hash, user.disabled = role, hash_password(password), False
        session.execute(delete(WorkbenchSession).where(WorkbenchSession.username == username))
    audit(session, "workbench.user", user=username, role=str(role), created=created)
    return created


@dataclass(frozen=True)
class SignedIn:
    username: str
    role: Role
    csrf: str

    @property
    def may_label(self) -> bool:
        return self.role in (Role.ANNOTATOR, Role.ADMIN)

    @property
    def may_research(self) -> bool:
        return self.role in (Role.RESEARCHER, Role.ADMIN)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(session: Session, username: str, password: str, hours: float) -> str | None:
    """A new session token for the right password (audited either way), else ``None``."""
    user = session.get(WorkbenchUser, username)
    if user is None or user.disabled or not check_password(password, user.password_hash):
        hash_password(password)  # the same time whether or not the user exists
        audit(session, "workbench.login_refused", actor=username[:64])
        return None
    token = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(hours=hours)
    session.add(
        WorkbenchSession(
            token_hash=_digest(token),
            username=username,
            csrf=secrets.token_urlsafe(32),
            expires_at=expires,
        )
    )
    session.execute(delete(WorkbenchSession).where(WorkbenchSession.expires_at < utcnow()))
    audit(session, "workbench.login", actor=username)
    return token


def session_of(session: Session, token: str | None) -> SignedIn | None:
    """Who holds ``token``, while the session lasts and the account is enabled."""
    if not token:
        return None
    row = session.execute(
        select(WorkbenchSession, WorkbenchUser)
        .join(WorkbenchUser, WorkbenchUser.username == WorkbenchSession.username)
        .where(WorkbenchSession.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    held, user = row
    expires = held.expires_at
    if expires.tzinfo is None:  # SQLite keeps no zone: stored as UTC
        expires = expires.replace(tzinfo=dt.UTC)
    if user.disabled or expires < utcnow():
        return None
    return SignedIn(user.username, Role(user.role), held.csrf)


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(
            delete(WorkbenchSession).where(WorkbenchSession.token_hash == _digest(token))
        )
