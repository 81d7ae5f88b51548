"""Deterministic UIDs under the 2.25 root (PS3.5 B.2: a UUID as an integer).

``pydicom.uid.generate_uid(prefix=None, entropy_srcs=...)`` ignores its
entropy and returns a random UUID, so deterministic UIDs are made here.
"""

from __future__ import annotations

import hashlib

__all__ = ["uid_from"]


def uid_from(*parts: str) -> str:
    """A ``2.25.<int>`` UID that depends only on ``parts`` (128 bits of SHA-256)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()[:16]
    return "2.25." + str(int.from_bytes(digest, "big"))
