"""deadline notices: the reminders and overdue warnings requested for each case

Revision ID: 0003_notifications
Revises: 0003_clusters
Create Date: 2026-11-25 21:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_notifications'
down_revision = '0003_clusters'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deadline_notices',
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'kind')
    )


def downgrade() -> None:
    op.drop_table('deadline_notices')
