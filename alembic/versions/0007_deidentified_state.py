"""one word for de-identification: the state and the stage are named as PS3.15 names it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 21:00:00

The study state ``anonymised`` is now ``deidentified`` and the stage ``anonymise``
(recorded as a failed stage and a quarantine stage) ``deidentify``. The columns are
text (no database enum), so only the stored values change.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RENAMES = (
    ("studies", "state", "anonymised", "deidentified"),
    ("studies", "failed_stage", "anonymise", "deidentify"),
    ("quarantine", "stage", "anonymise", "deidentify"),
)


def upgrade() -> None:
    for table, column, old, new in _RENAMES:
        op.execute(f"UPDATE {table} SET {column} = '{new}' WHERE {column} = '{old}'")


def downgrade() -> None:
    for table, column, old, new in _RENAMES:
        op.execute(f"UPDATE {table} SET {column} = '{old}' WHERE {column} = '{new}'")
