"""deployment id, reconciler evidence and last-seen times, idempotency keys

Revision ID: r16b
Revises: 0001

The deployment id used to be derived from BRIDGX_SECRET_KEY. This migration stores it once: on a
database that already holds machines or tasks, the id the old derivation gives for the secret in
force now (so every tag and client token already issued keeps matching); on an empty one a new
random id. Without an app context (plain alembic) nothing is written and the app writes the row
at first use by the same rule.
"""
import hashlib
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

import app.core.db  # noqa: F401 - custom column types

revision = 'r16b'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('deployment',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('deployment_id', sa.String(length=32), nullable=False),
                    sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_table('reconcile_marks',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('cluster_id', sa.Integer(), nullable=False),
                    sa.Column('instance_id', sa.String(length=64), nullable=False),
                    sa.Column('kind', sa.String(length=16), nullable=False),
                    sa.Column('first_seen_at', app.core.db.UTCDateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('cluster_id', 'instance_id', 'kind', name='uq_mark_cluster_instance_kind'))
    with op.batch_alter_table('reconcile_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconcile_marks_cluster_id'), ['cluster_id'], unique=False)
    op.create_table('idempotency_keys',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('org_id', sa.Integer(), nullable=False),
                    sa.Column('key', sa.String(length=128), nullable=False),
                    sa.Column('task_id', sa.Integer(), nullable=False),
                    sa.Column('action', sa.String(length=16), nullable=False),
                    sa.Column('cluster_id', sa.Integer(), nullable=False),
                    sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['org_id'], ['organizations.id']),
                    sa.ForeignKeyConstraint(['task_id'], ['tasks.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('org_id', 'key', name='uq_idempotency_org_key'))
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', app.core.db.UTCDateTime(), nullable=True))
    _store_deployment_id()


def _store_deployment_id():
    try:
        from flask import current_app
        secret = current_app.config["SECRET_KEY"]
    except (RuntimeError, KeyError):
        return
    conn = op.get_bind()
    history = (conn.execute(sa.text("SELECT COUNT(*) FROM instances")).scalar()
               or conn.execute(sa.text("SELECT COUNT(*) FROM tasks")).scalar())
    value = hashlib.sha256(secret.encode()).hexdigest()[:8] if history else uuid.uuid4().hex[:8]
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, like every stored time
    conn.execute(sa.text("INSERT INTO deployment (id, deployment_id, created_at) VALUES (1, :v, :t)"),
                 {"v": value, "t": now})


def downgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('reconcile_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconcile_marks_cluster_id'))
    op.drop_table('reconcile_marks')
    op.drop_table('deployment')
