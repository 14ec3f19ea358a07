"""usage export: the spans starting or ending on a day are index-only ranges (created_at,
deleted_at leading, covering cluster_id and instance_type); they replace the bare deleted_at index

Revision ID: u15a
Revises: x14a
"""
from alembic import op

revision = 'u15a'
down_revision = 'x14a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_created_span', ['created_at', 'deleted_at', 'cluster_id', 'instance_type'],
                              unique=False)
        batch_op.create_index('ix_instances_deleted_span', ['deleted_at', 'created_at', 'cluster_id', 'instance_type'],
                              unique=False)
        batch_op.drop_index('ix_instances_deleted_at')


def downgrade():
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_deleted_at', ['deleted_at'], unique=False)
        batch_op.drop_index('ix_instances_deleted_span')
        batch_op.drop_index('ix_instances_created_span')
