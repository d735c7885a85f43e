"""A declaration's status follows the latest change the CPias made, not the last one heard

Revision ID: 0010_status_order
Revises: 0009_complement_confirmation
Create Date: 2026-12-07 01:00:00.000000

The CPias's status changes can arrive out of order (published again after a broker lost them,
or by two relays). Each declaration now records when the change that set its status was made;
an older one heard later goes to the timeline without taking the status back. Declarations
stored before this revision have none: the next change heard sets it.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_status_order'
down_revision = '0009_complement_confirmation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_column('status_changed_at')
