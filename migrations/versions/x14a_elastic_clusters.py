"""elastic clusters: desired/min/max, protection, batch placement, leases, replacements,
schedules, capacity cache

Revision ID: x14a
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

import app.core.db  # noqa: F401 - custom column types

revision = 'x14a'
down_revision = 'o13a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('desired', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('min_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('elastic', sa.JSON(), nullable=True))
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('protected', sa.Boolean(), server_default='0', nullable=False))
    with op.batch_alter_table('task_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placement', sa.JSON(), nullable=True))
    op.create_table('elastic_leases',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('holder', sa.String(length=128), nullable=True),
                    sa.Column('expires_at', app.core.db.UTCDateTime(), nullable=True),
                    sa.PrimaryKeyConstraint('name'))
    op.create_table('machine_replacements',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('org_id', sa.Integer(), nullable=False),
                    sa.Column('cluster_id', sa.Integer(), nullable=False),
                    sa.Column('instance_id', sa.String(length=64), nullable=False),
                    sa.Column('reason', sa.String(length=32), nullable=False),
                    sa.Column('detail', sa.String(length=255), nullable=False),
                    sa.Column('detected_at', app.core.db.UTCDateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['org_id'], ['organizations.id']),
                    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id']),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_replacements_cluster_at', 'machine_replacements', ['cluster_id', 'detected_at'])
    op.create_table('scaling_schedules',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('org_id', sa.Integer(), nullable=False),
                    sa.Column('cluster_id', sa.Integer(), nullable=False),
                    sa.Column('name', sa.String(length=128), nullable=False),
                    sa.Column('cron', sa.String(length=128), nullable=False),
                    sa.Column('timezone', sa.String(length=64), nullable=False),
                    sa.Column('desired', sa.Integer(), nullable=True),
                    sa.Column('min_size', sa.Integer(), nullable=True),
                    sa.Column('max_size', sa.Integer(), nullable=True),
                    sa.Column('enabled', sa.Boolean(), nullable=False),
                    sa.Column('last_slot', app.core.db.UTCDateTime(), nullable=True),
                    sa.Column('last_result', sa.String(length=255), nullable=False),
                    sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
                    sa.Column('updated_at', app.core.db.UTCDateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['org_id'], ['organizations.id']),
                    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('cluster_id', 'name', name='uq_schedule_cluster_name'))
    op.create_index('ix_scaling_schedules_org_id', 'scaling_schedules', ['org_id'])
    op.create_index('ix_scaling_schedules_cluster_id', 'scaling_schedules', ['cluster_id'])
    op.create_table('capacity_shortages',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('account_id', sa.Integer(), nullable=False),
                    sa.Column('region_id', sa.String(length=64), nullable=False),
                    sa.Column('zone_id', sa.String(length=64), nullable=False),
                    sa.Column('instance_type', sa.String(length=64), nullable=False),
                    sa.Column('spot', sa.Boolean(), nullable=False),
                    sa.Column('until', app.core.db.UTCDateTime(), nullable=False),
                    sa.Column('reason', sa.String(length=255), nullable=False),
                    sa.ForeignKeyConstraint(['account_id'], ['cloud_accounts.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('account_id', 'region_id', 'zone_id', 'instance_type', 'spot',
                                        name='uq_capacity_shortage'))


def downgrade():
    op.drop_table('capacity_shortages')
    op.drop_index('ix_scaling_schedules_cluster_id', table_name='scaling_schedules')
    op.drop_index('ix_scaling_schedules_org_id', table_name='scaling_schedules')
    op.drop_table('scaling_schedules')
    op.drop_index('ix_replacements_cluster_at', table_name='machine_replacements')
    op.drop_table('machine_replacements')
    op.drop_table('elastic_leases')
    with op.batch_alter_table('task_batches', schema=None) as batch_op:
        batch_op.drop_column('placement')
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.drop_column('protected')
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.drop_column('elastic')
        batch_op.drop_column('max_size')
        batch_op.drop_column('min_size')
        batch_op.drop_column('desired')
