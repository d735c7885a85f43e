"""idempotency keys belong to an establishment (or to a subject without one)

Revision ID: 0005
Revises: 0004_audit_outcome
Create Date: 2026-11-26 00:30:00.000000

Two establishments may both send "Idempotency-Key: 1": each key is now looked up within its
sender's scope (the FINESS of the token, or its subject when it has none). Keys stored before
this revision had no scope; they are kept under "" for their 48 hours, where no sender looks.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004_audit_outcome'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table rather than a changed primary key: SQLite's has no name to drop.
    op.create_table(
        'idempotency_keys_scoped',
        sa.Column('scope', sa.String(length=220), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('response', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'key', name='idempotency_keys_scope_key'),
    )
    op.execute(
        "INSERT INTO idempotency_keys_scoped"
        " (scope, key, request_hash, status_code, response, created_at)"
        " SELECT '', key, request_hash, status_code, response, created_at FROM idempotency_keys"
    )
    op.drop_table('idempotency_keys')
    op.rename_table('idempotency_keys_scoped', 'idempotency_keys')
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'])


def downgrade() -> None:
    raise NotImplementedError("keys are kept 48 hours: let them expire instead")
