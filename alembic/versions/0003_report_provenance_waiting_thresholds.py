"""report provenance, waiting studies, prediction thresholds, SR revisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:40:00

Reports record the document they were taken from (SOP class, pseudonymous
instance UID, title), so stored reports can be re-checked against the
selection rule; studies waiting for a report or a second view record since
when, and how many instances they had; a prediction records the threshold it
was judged with; an SR export records the content it sent and the instance
it sent it as, so a changed content supersedes the old SR.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('instances_received', sa.Integer(), nullable=True))
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_class', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('document_uid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('document_title', sa.String(length=80), nullable=True))
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('threshold', sa.Float(), nullable=True))
    with op.batch_alter_table('sr_exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sop_uid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('series_uid', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sr_exports', schema=None) as batch_op:
        batch_op.drop_column('series_uid')
        batch_op.drop_column('sop_uid')
        batch_op.drop_column('content_hash')
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_column('threshold')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('document_title')
        batch_op.drop_column('document_uid')
        batch_op.drop_column('document_class')
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.drop_column('instances_received')
        batch_op.drop_column('waiting_since')
