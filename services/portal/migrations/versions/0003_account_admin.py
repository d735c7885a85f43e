"""accounts can be disabled by an admin, and remember their last sign-in

Revision ID: 0003_account_admin
Revises: 0002_audit_outcome
Create Date: 2026-11-27 00:00:00.000000

A disabled account cannot sign in (its sessions are ended when it is disabled); the admin page
shows when each account last signed in.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_account_admin'
down_revision = '0002_audit_outcome'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('last_sign_in_at')
        batch_op.drop_column('disabled_at')
