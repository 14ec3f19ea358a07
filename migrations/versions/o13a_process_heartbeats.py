"""process heartbeats: Celery workers and beat say they are alive

Revision ID: o13a
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

import app.core.db  # noqa: F401 - custom column types

revision = 'o13a'
down_revision = 's11a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('process_heartbeats',
                    sa.Column('name', sa.String(length=191), nullable=False),
                    sa.Column('kind', sa.String(length=16), nullable=False),
                    sa.Column('hostname', sa.String(length=128), nullable=False),
                    sa.Column('pid', sa.Integer(), nullable=False),
                    sa.Column('started_at', app.core.db.UTCDateTime(), nullable=False),
                    sa.Column('seen_at', app.core.db.UTCDateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('name'))
    with op.batch_alter_table('process_heartbeats') as batch_op:
        batch_op.create_index('ix_process_heartbeats_seen_at', ['seen_at'], unique=False)


def downgrade():
    with op.batch_alter_table('process_heartbeats') as batch_op:
        batch_op.drop_index('ix_process_heartbeats_seen_at')
    op.drop_table('process_heartbeats')
