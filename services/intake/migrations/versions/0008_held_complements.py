"""A complement received before its declaration's routing decision is held, then published

Revision ID: 0008_held_complements
Revises: 0007_no_c_auris_mechanism
Create Date: 2026-12-06 04:00:00.000000

A complement goes to the recipients of the initial routing decision. One that arrives before
that decision is back used to be refused (409, Retry-After); it is now kept, held, and
published when the decision arrives. Every complement stored before this revision was
published at once: none is held.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_held_complements'
down_revision = '0007_no_c_auris_mechanism'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('complements', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('held', sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('complements', schema=None) as batch_op:
        batch_op.drop_column('held')
