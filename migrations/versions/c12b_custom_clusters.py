"""custom clusters of existing machines: clusters.cluster_type, optional account, custom_machines

Revision ID: c12b
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

import app.core.db  # noqa: F401 - custom column types

revision = 'c12b'
down_revision = 'e16a'
branch_labels = None
depends_on = None


def _columns(table):
    return {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade():
    # c12a (users and clusters, a parallel branch) adds the same cluster_type column: whichever
    # runs second finds it there
    has_type = 'cluster_type' in _columns('clusters')
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        if not has_type:
            batch_op.add_column(sa.Column('cluster_type', sa.String(length=16), nullable=False,
                                          server_default='standard'))
        batch_op.alter_column('account_id', existing_type=sa.Integer(), nullable=True)
    op.create_table('custom_machines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.Column('instance_ip', sa.String(length=64), nullable=False),
    sa.Column('login_name', sa.String(length=64), nullable=False),
    sa.Column('login_password_encrypted', sa.Text(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('custom_machines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_custom_machines_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_custom_machines_org_id'), ['org_id'], unique=False)


def downgrade():
    op.drop_table('custom_machines')  # its indexes go with it (MySQL keeps them while FKs need them)
    # custom clusters cannot exist without their type and machines
    op.execute("DELETE FROM clusters WHERE cluster_type = 'custom'")
    keep_type = 'extend_config' in _columns('clusters')  # c12a is applied and owns it then
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.alter_column('account_id', existing_type=sa.Integer(), nullable=False)
        if not keep_type:
            batch_op.drop_column('cluster_type')
