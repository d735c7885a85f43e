"""people who signed in through the identity provider

Revision ID: 0004_people
Revises: 0003_account_admin
Create Date: 2026-12-06 00:00:00.000000

Production signs in with OpenID Connect and keeps no local accounts: the portal remembers who
signed in (subject, role, scope, name) so that a case can be assigned to a colleague of the
same CPias and the history names people rather than subjects.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_people'
down_revision = '0003_account_admin'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'people',
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=40), nullable=False),
        sa.Column('finess', sa.String(length=9), nullable=True),
        sa.Column('cpias', sa.String(length=40), nullable=True),
        sa.Column('region', sa.String(length=2), nullable=True),
        sa.Column('display_name', sa.String(length=200), nullable=False),
        sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('subject'),
    )
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_people_cpias'), ['cpias'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_people_cpias'))
    op.drop_table('people')
