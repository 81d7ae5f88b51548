"""The research views a task adds: ``research_cohort``, one row per study of the
corpus with a column group per finding of the task.

The fixed views (``research_studies``, ``research_labels`` …) come from the
migrations; this one depends on the task's findings, so it is written when
pacslabel opens a database for a task (:func:`refresh_cohort_view`) and
rewritten only when the findings change. Its definition is plain SQL over the
fixed views, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, exc, insert, inspect, select, text, update

from db.models import ResearchColumn, SiteSetting

__all__ = [
    "COHORT_VIEW",
    "READONLY_ROLE",
    "cohort_columns",
    "grant_readonly",
    "record_data_dir",
    "refresh_cohort_view",
    "research_views",
]

logger = logging.getLogger(__name__)

COHORT_VIEW = "research_cohort"
READONLY_ROLE = "pacslabel_research"
"""The PostgreSQL role that may read the research views (migration 0005)."""

_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")

#: Per finding: column suffix → (SQL over the fixed views, description).
_PER_FINDING = {
    "": ("lab.state", "the current label of what the report says (research_labels)"),
    "_source": ("lab.source", "where that label came from: human, nlp or rules"),
    "_version": ("lab.source_version", "the version of that labeller"),
    "_image": ("img.state", "an annotator's label of the images (research_image_labels)"),
    "_probability": ("pred.probability", "the current image model's probability"),
    "_positive": ("pred.positive", "1 when the probability reaches the model's cut-off"),
}


def cohort_columns(findings: Sequence[str]) -> dict[str, str]:
    """Column → description of ``research_cohort`` for ``findings`` (beyond the columns of
    ``research_studies``)."""
    return {
        f"{key}{suffix}": f"{key}: {description}"
        for key in findings
        for suffix, (_, description) in _PER_FINDING.items()
    }


def _definition(findings: Sequence[str]) -> str:
    selects, joins = ["st.*"], []
    for n, key in enumerate(findings):
        if not _KEY.fullmatch(key):
            raise ValueError(f"finding key {key!r} cannot name a column")
        for suffix, (expression, _) in _PER_FINDING.items():
            kind = expression.split(".")[0]
            selects.append(f'{expression.replace(kind, f"{kind}{n}", 1)} AS "{key}{suffix}"')
        joins += [
            f"LEFT JOIN research_labels lab{n} ON lab{n}.study_uid = st.study_uid "
            f"AND lab{n}.finding = '{key}'",
            f"LEFT JOIN research_image_labels img{n} ON img{n}.study_uid = st.study_uid "
            f"AND img{n}.finding = '{key}'",
            f"LEFT JOIN research_predictions pred{n} ON pred{n}.study_uid = st.study_uid "
            f"AND pred{n}.finding = '{key}'",
        ]
    return f"SELECT {', '.join(selects)}\nFROM research_studies st\n" + "\n".join(joins)


def _digest(definition: str) -> str:
    return hashlib.sha256(definition.encode()).hexdigest()


def _replace(connection: Connection, definition: str, findings: Sequence[str]) -> None:
    connection.execute(text(f"DROP VIEW IF EXISTS {COHORT_VIEW}"))
    connection.execute(text(f"CREATE VIEW {COHORT_VIEW} AS {definition}"))
    connection.execute(delete(ResearchColumn).where(ResearchColumn.view_name == COHORT_VIEW))
    described = {"(research_studies)": "every column of research_studies, then per finding:"}
    described |= cohort_columns(findings)
    for column, description in described.items():
        connection.execute(
            insert(ResearchColumn).values(
                view_name=COHORT_VIEW, column_name=column, description=description
            )
        )
    _put(connection, "cohort_view", _digest(definition))
    if connection.dialect.name == "postgresql":
        role = connection.scalar(
            text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": READONLY_ROLE}
        )
        if role:
            connection.execute(text(f"GRANT SELECT ON {COHORT_VIEW} TO {READONLY_ROLE}"))


def _put(connection: Connection, key: str, value: str) -> None:
    have = connection.scalar(select(SiteSetting.value).where(SiteSetting.key == key))
    if have is None:
        connection.execute(insert(SiteSetting).values(key=key, value=value))
    elif have != value:
        connection.execute(update(SiteSetting).where(SiteSetting.key == key).values(value=value))


def refresh_cohort_view(engine: Engine, findings: Sequence[str]) -> bool:
    """(Re)write ``research_cohort`` for ``findings`` when its definition changed; returns
    whether it was written. Two processes racing to write it: the loser leaves it to the
    winner."""
    definition = _definition(findings)
    with engine.connect() as connection:
        stored = connection.scalar(
            select(SiteSetting.value).where(SiteSetting.key == "cohort_view")
        )
    if stored == _digest(definition):
        return False
    try:
        with engine.begin() as connection:
            _replace(connection, definition, findings)
    except exc.DBAPIError as error:  # another process wrote it first
        logger.warning("research_cohort not rewritten: %s", error.orig)
        return False
    return True


def record_data_dir(engine: Engine, data_dir: Path) -> None:
    """Record the data folder the views' image paths are absolute from."""
    with engine.begin() as connection:
        _put(connection, "data_dir", str(data_dir.resolve()))


_ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def research_views(connection: Connection) -> list[str]:
    """The research views of this database."""
    views = inspect(connection).get_view_names()
    return sorted(name for name in views if name.startswith("research_"))


def grant_readonly(engine: Engine, user: str) -> bool:
    """Let PostgreSQL role ``user`` read the research views and nothing else, through the
    role ``pacslabel_research``; ``user`` is created (LOGIN, no password) when it does not
    exist. Returns whether it was created.

    Raises
    ------
    ValueError
        Not PostgreSQL, or ``user`` is not a plain role name.
    sqlalchemy.exc.DBAPIError
        This database user may not create or grant roles.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError("read-only roles exist on PostgreSQL only")
    if not _ROLE_NAME.fullmatch(user):
        raise ValueError(f"{user!r} is not a plain PostgreSQL role name")
    exists = "SELECT 1 FROM pg_roles WHERE rolname = :name"
    with engine.begin() as connection:
        if not connection.scalar(text(exists), {"name": READONLY_ROLE}):
            connection.execute(text(f"CREATE ROLE {READONLY_ROLE} NOLOGIN"))
        views = ", ".join(research_views(connection))
        connection.execute(text(f"GRANT SELECT ON {views} TO {READONLY_ROLE}"))
        created = not connection.scalar(text(exists), {"name": user})
        if created:
            connection.execute(text(f'CREATE ROLE "{user}" LOGIN'))
        connection.execute(text(f'GRANT {READONLY_ROLE} TO "{user}"'))
    return created
