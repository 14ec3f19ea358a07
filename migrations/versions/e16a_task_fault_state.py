"""tasks: cancel request, latest cloud error, waiting reason, last progress; batches: request time

Revision ID: e16a
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

import app.core.db  # noqa: F401 - custom column types

revision = 'e16a'
down_revision = 'r16b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('cancel_requested_at', app.core.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('cancel_by', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch.add_column(sa.Column('waiting_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('last_progress_at', app.core.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table('task_batches') as batch:
        batch.add_column(sa.Column('requested_at', app.core.db.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('task_batches') as batch:
        batch.drop_column('requested_at')
    with op.batch_alter_table('tasks') as batch:
        for name in ('last_progress_at', 'waiting_reason', 'last_error', 'cancel_by', 'cancel_requested_at'):
            batch.drop_column(name)
