"""regional figures: the indexes of a region's open cases and acknowledgement times

Revision ID: 0006_regional_figures
Revises: 0005_audit_outcome
Create Date: 2026-11-27 09:00:00.000000

The ARS dashboard counts a region's open and overdue cases by CPias, and the time from
submission to acknowledgement of the cases acknowledged lately (docs/ars.md): two indexes
of the region, so that neither reads the whole table.
"""
from alembic import op


revision = '0006_regional_figures'
down_revision = '0005_audit_outcome'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_region_status', ['region_code', 'status', 'cpias'], unique=False)
        batch_op.create_index('ix_cases_region_acknowledged', ['region_code', 'acknowledged_at'], unique=False, postgresql_include=['received_at'])


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_region_acknowledged')
        batch_op.drop_index('ix_cases_region_status')
