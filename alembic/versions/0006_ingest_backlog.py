"""ingest backlog: the C-FIND remainder a pass could not take

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:10:00

Discovery records the newest studies first; when a C-FIND answers more new
studies than ``ingest.max_studies_per_run``, ``backlog_before`` keeps the day up
to which older ones may remain, and later passes record them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ingest_watermarks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backlog_before', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ingest_watermarks', schema=None) as batch_op:
        batch_op.drop_column('backlog_before')
