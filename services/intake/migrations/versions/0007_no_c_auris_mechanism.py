"""C. auris is not a resistance mechanism: its mechanism facets go

Revision ID: 0007_no_c_auris_mechanism
Revises: 0006_regional_figures
Create Date: 2026-12-05 04:00:00.000000

The ARS dashboard's breakdown by mechanism listed "C. auris" beside OXA-48 or vanA: the cluster
rule groups C. auris as a family of its own, and the figures took its families as mechanisms.
C. auris is counted under its name among the micro-organisms; the facets filed for it as a
mechanism are removed (new declarations no longer get one: domain/figures.py).
"""
from alembic import op


revision = '0007_no_c_auris_mechanism'
down_revision = '0006_regional_figures'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM declaration_facets WHERE kind = 'mechanism' AND value = 'C. auris'")


def downgrade() -> None:
    # The facets would have to be computed again from the bodies (0006's backfill); nothing
    # reads them as mechanisms any more.
    pass
