"""rules v2: the initial routing decision kept with each declaration; FINESS optional

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00.000000

Complements go to the recipients of the initial decision, whatever rules are in force when
they arrive, so intake keeps that decision (as the router sent it). Community practice
(kind ville) declares without FINESS. Declarations routed before this revision keep a null
decision: nothing re-routes them.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routing_decision', sa.JSON(), nullable=True))
        batch_op.alter_column('finess', existing_type=sa.String(length=9), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.alter_column('finess', existing_type=sa.String(length=9), nullable=False)
        batch_op.drop_column('routing_decision')
