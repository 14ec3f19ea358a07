"""users: disabled, create_by; organisations: updated_at; clusters: BridgX's type, image, extend and
storage configs, update_by

Revision ID: c12a
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

import app.core.db  # noqa: F401 - custom column types

revision = 'c12a'
down_revision = 'e16a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('create_by', sa.String(length=64), nullable=False, server_default=''))
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', app.core.db.UTCDateTime(), nullable=True))
    # c12b (custom clusters, a parallel branch) adds the same cluster_type column: whichever runs
    # second finds it there
    has_type = 'cluster_type' in {c['name'] for c in sa.inspect(op.get_bind()).get_columns('clusters')}
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        if not has_type:
            batch_op.add_column(sa.Column('cluster_type', sa.String(length=16), nullable=False,
                                          server_default='standard'))
        batch_op.add_column(sa.Column('image_config', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('extend_config', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('storage_options', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('update_by', sa.String(length=64), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        for name in ('update_by', 'storage_options', 'extend_config', 'image_config'):
            batch_op.drop_column(name)
        if 'custom_machines' not in sa.inspect(op.get_bind()).get_table_names():  # else c12b owns it
            batch_op.drop_column('cluster_type')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('create_by')
        batch_op.drop_column('disabled')
