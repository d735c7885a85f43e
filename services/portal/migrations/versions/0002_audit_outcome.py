"""audit entries say whether the attempt was refused, and why

Revision ID: 0002_audit_outcome
Revises: 0001
Create Date: 2026-11-26 00:00:00.000000

Refused attempts (a token not accepted, a role that may not, an object out of the caller's
scope) are audited like the rest: outcome "refused" and the reason.
"""
from iaspipe.audit import add_outcome_columns


revision = '0002_audit_outcome'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outcome_columns()


def downgrade() -> None:
    raise NotImplementedError("the audit log only grows")
