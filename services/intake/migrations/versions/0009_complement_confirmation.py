"""A complement is confirmed by the CPias, or published again

Revision ID: 0009_complement_confirmation
Revises: 0008_held_complements
Create Date: 2026-12-06 22:00:00.000000

Reconciliation published again only the declarations the CPias had not confirmed; a complement
lost on the way had no second chance. Each complement now records when the CPias confirmed it
(its CaseStatusChanged "complement_received") and when intake last published it. The
complements stored before this revision are taken as confirmed when received: nothing tells
whether they were, and publishing them all again at once would only make duplicates.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_complement_confirmation'
down_revision = '0008_held_complements'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('complements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_published_at', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE complements SET confirmed_at = received_at, last_published_at = received_at')


def downgrade() -> None:
    with op.batch_alter_table('complements', schema=None) as batch_op:
        batch_op.drop_column('last_published_at')
        batch_op.drop_column('confirmed_at')
