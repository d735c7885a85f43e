"""Each recipient of a declaration, and when it confirmed holding it

Revision ID: 0011_recipient_confirmations
Revises: 0010_status_order
Create Date: 2026-12-07 19:00:00.000000

Intake knew only the CPias's confirmation. It now keeps every recipient of a declaration's
initial routing decision, and when each confirmed: the CPias when it opened the case, the
others by a RecipientAcknowledged on ias.status.v1. Reconciliation publishes again a
declaration that a recipient of an awaited kind (INTAKE_AWAITED_RECIPIENT_KINDS) has not
confirmed. Declarations stored before this revision have no rows: nothing tells whether their
other recipients hold them, and publishing them all again at once would only make duplicates;
the CPias's confirmation keeps its own column, as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_recipient_confirmations'
down_revision = '0010_status_order'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('declaration_recipients',
    sa.Column('declaration_id', sa.String(length=36), nullable=False),
    sa.Column('recipient_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], ),
    sa.PrimaryKeyConstraint('declaration_id', 'recipient_id')
    )
    op.create_index('ix_declaration_recipients_unconfirmed', 'declaration_recipients', ['kind', 'declaration_id'], unique=False, postgresql_where=sa.text('confirmed_at IS NULL'), sqlite_where=sa.text('confirmed_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_declaration_recipients_unconfirmed', table_name='declaration_recipients', postgresql_where=sa.text('confirmed_at IS NULL'), sqlite_where=sa.text('confirmed_at IS NULL'))
    op.drop_table('declaration_recipients')
