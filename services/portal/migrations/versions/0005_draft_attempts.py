"""a draft remembers the bodies sent whose answer was lost

Revision ID: 0005_draft_attempts
Revises: 0004_people
Create Date: 2026-12-07 01:30:00.000000

A draft sent while intake's answer was lost may have been stored. Changed and sent again under
the same key, intake answers 409; the portal then sends the earlier body again to learn the
declaration's reference. The drafts remember those bodies.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_draft_attempts'
down_revision = '0004_people'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('drafts', schema=None) as batch_op:
        batch_op.drop_column('attempts')
