"""security hardening: organisation quotas, session epoch, login throttle

Revision ID: s11a
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

import app.core.db  # noqa: F401 - custom column types

revision = 's11a'
down_revision = 'c12a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'org_quotas',
        sa.Column('org_id', sa.Integer(), sa.ForeignKey('organizations.id'), primary_key=True),
        sa.Column('max_live_instances', sa.Integer(), nullable=True),
        sa.Column('max_instances_per_task', sa.Integer(), nullable=True),
        sa.Column('max_tasks_in_flight', sa.Integer(), nullable=True),
        sa.Column('updated_at', app.core.db.UTCDateTime(), nullable=False),
    )
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=191), primary_key=True),
        sa.Column('window_start', app.core.db.UTCDateTime(), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', app.core.db.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
    op.drop_table('login_throttle')
    op.drop_table('org_quotas')
