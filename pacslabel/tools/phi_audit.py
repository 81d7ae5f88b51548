"""``pacslabel audit-phi``: look for patient identifiers where none should be.

The identifiers are those the linkage table knows (patient name parts, patient
ID, birth date, accession number, original UIDs), plus any given in a file.
The research side is scanned token by token: every value of every table
(the encrypted linkage payload excepted), every file of the pixel cache and of
the de-identified DICOM folder (their printable runs), and log files. A hit
reports where, what kind of identifier, and the identifier masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Base, Linkage
from pacslabel.context import Context
from pacslabel.errors import LinkageError

__all__ = ["Hit", "audit_phi", "known_identifiers"]

_TOKENS = re.compile(r"[A-Za-z0-9À-ÿ.\-]{3,}")
_PRINTABLE = re.compile(rb"[\x20-\x7e]{3,}")


@dataclass(frozen=True, slots=True)
class Hit:
    where: str
    kind: str
    masked: str


def _mask(value: str) -> str:
    return value[:2] + "*" * max(len(value) - 2, 1)


def known_identifiers(ctx: Context, extra_file: Path | None = None) -> dict[str, str]:
    """Identifier (upper case) → its kind, from every readable linkage row (and a file)."""
    found: dict[str, str] = {}
    with Session(ctx.engine) as session:
        for uid in session.scalars(select(Linkage.pseudonymous_uid)):
            try:
                identity = ctx.vault.get(session, uid)
            except LinkageError:
                continue
            for part in re.split(r"[\^\s]+", identity.patient_name):
                if len(part) >= 3:
                    found[part.upper()] = "patient name"
            for kind, value in (
                ("patient ID", identity.patient_id),
                ("birth date", identity.patient_birth_date),
                ("accession number", identity.accession_number),
                ("study UID", identity.study_instance_uid),
                ("series UID", identity.series_instance_uid),
                ("SOP instance UID", identity.sop_instance_uid),
            ):
                if value and len(value) >= 3:
                    found[value.upper()] = kind
    if extra_file is not None:
        for line in extra_file.read_text(encoding="utf-8").splitlines():
            if len(line.strip()) >= 3:
                found.setdefault(line.strip().upper(), "given identifier")
    return found


def _text_hits(text: str, where: str, identifiers: dict[str, str]) -> Iterator[Hit]:
    for token in _TOKENS.findall(text):
        for candidate in {token, token.strip(".-")}:
            kind = identifiers.get(candidate.upper())
            if kind is not None:
                yield Hit(where, kind, _mask(candidate))


def _database_hits(ctx: Context, identifiers: dict[str, str]) -> Iterator[Hit]:
    with ctx.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            key = next(iter(table.primary_key.columns))
            for row in connection.execute(table.select()):
                mapping = row._mapping
                for column in table.columns:
                    if table.name == "linkage" and column.name == "ciphertext":
                        continue
                    value = mapping[column]
                    if value is None or isinstance(value, bytes | int | float):
                        continue
                    text = value if isinstance(value, str) else json.dumps(value, default=str)
                    yield from _text_hits(
                        text,
                        f"db {table.name}.{column.name} ({key.name}={mapping[key]})",
                        identifiers,
                    )


def _file_hits(paths: Iterable[Path], identifiers: dict[str, str]) -> Iterator[Hit]:
    for path in paths:
        data = path.read_bytes()
        text = b" ".join(_PRINTABLE.findall(data)).decode("ascii").replace("^", " ")
        yield from _text_hits(text, f"file {path}", identifiers)


def audit_phi(
    ctx: Context, *, identifiers_file: Path | None = None, logs: Iterable[Path] = ()
) -> tuple[int, list[Hit]]:
    """Scan the research side; returns (identifiers looked for, hits)."""
    identifiers = known_identifiers(ctx, identifiers_file)
    if not identifiers:
        return 0, []
    hits = list(_database_hits(ctx, identifiers))
    folders = [ctx.paths.cache, ctx.paths.dicom]
    files = [
        p for folder in folders if folder.is_dir() for p in sorted(folder.rglob("*")) if p.is_file()
    ]
    hits += _file_hits([*files, *logs], identifiers)
    return len(identifiers), hits
