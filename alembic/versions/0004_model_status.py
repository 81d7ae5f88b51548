"""model status: current, candidate, retired (the promotion gate)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:40:00

An image model predicts only when it is its task's *current* model; a newly
trained one becomes current only if it does not lose to the current one on the
same held-out studies, else it stays a candidate with the reason. Existing
registries: the newest image model of each task becomes current, older ones
retired; report labellers are current.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('status', sa.String(length=16), nullable=False, server_default='candidate')
        )
        batch_op.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('promoted_at', sa.DateTime(timezone=True), nullable=True))
    models = sa.table(
        'models',
        sa.column('id', sa.Integer),
        sa.column('task', sa.String),
        sa.column('mode', sa.String),
        sa.column('status', sa.String),
        sa.column('status_reason', sa.Text),
        sa.column('created_at', sa.DateTime(timezone=True)),
        sa.column('promoted_at', sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    connection.execute(
        models.update().where(models.c.mode == 'nlp').values(status='current')
    )
    connection.execute(
        models.update()
        .where(models.c.mode != 'nlp')
        .values(status='retired', status_reason='registered before the promotion gate')
    )
    newest = (
        sa.select(sa.func.max(models.c.id))
        .where(models.c.mode != 'nlp')
        .group_by(models.c.task)
    )
    connection.execute(
        models.update()
        .where(models.c.id.in_(newest))
        .values(
            status='current',
            status_reason='the newest model when the promotion gate came',
            promoted_at=models.c.created_at,
        )
    )


def downgrade() -> None:
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_column('promoted_at')
        batch_op.drop_column('status_reason')
        batch_op.drop_column('status')
