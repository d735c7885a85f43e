"""regional figures: each declaration's day and ISO week, its priority, and its facets

Revision ID: 0006_regional_figures
Revises: 0005
Create Date: 2026-11-27 09:00:00.000000

The ARS dashboard counts a region's declarations by week and criterion, by département,
micro-organism, resistance and mechanism, and lists them with filters (docs/ars.md). Each
declaration gets the day it was received in its département, that day's ISO week (its Monday)
and the priority of its initial routing decision; its criteria, micro-organisms, resistances
and mechanism families go to declaration_facets. Declarations stored before this revision are
filled in here, in batches of 1,000, with the functions that file a new one.
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa

from services.intake.domain.figures import facets_of_body, received_on, week_of


revision = '0006_regional_figures'
down_revision = '0005'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('week', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.String(length=10), nullable=True))

    op.create_table('declaration_facets',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('declaration_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=120), nullable=False),
    sa.Column('region_code', sa.String(length=2), nullable=False),
    sa.Column('departement', sa.String(length=3), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['declaration_id'], ['declarations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('declaration_id', 'kind', 'value')
    )
    _backfill()
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.alter_column('received_on', existing_type=sa.Date(), nullable=False)
        batch_op.alter_column('week', existing_type=sa.Date(), nullable=False)
        batch_op.create_index('ix_declarations_region_day', ['region_code', 'received_on'], unique=False, postgresql_include=['week', 'departement', 'priority', 'status'])
        batch_op.create_index('ix_declarations_region_received', ['region_code', 'received_at'], unique=False)
    with op.batch_alter_table('declaration_facets', schema=None) as batch_op:
        batch_op.create_index('ix_declaration_facets_region', ['region_code', 'kind', 'received_on', 'value'], unique=False, postgresql_include=['week', 'declaration_id'])


def _backfill() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    declarations = sa.Table(
        'declarations', meta,
        sa.Column('id', sa.String(36)), sa.Column('region_code', sa.String(2)),
        sa.Column('departement', sa.String(3)), sa.Column('body', sa.JSON()),
        sa.Column('received_at', sa.DateTime(timezone=True)),
        sa.Column('routing_decision', sa.JSON()), sa.Column('received_on', sa.Date()),
        sa.Column('week', sa.Date()), sa.Column('priority', sa.String(10)),
    )
    facet_table = sa.Table(
        'declaration_facets', meta,
        sa.Column('declaration_id', sa.String(36)), sa.Column('kind', sa.String(20)),
        sa.Column('value', sa.String(120)), sa.Column('region_code', sa.String(2)),
        sa.Column('departement', sa.String(3)), sa.Column('received_on', sa.Date()),
        sa.Column('week', sa.Date()),
    )
    last = ''
    while True:
        rows = conn.execute(
            sa.select(declarations.c.id, declarations.c.region_code, declarations.c.departement,
                      declarations.c.body, declarations.c.received_at,
                      declarations.c.routing_decision)
            .where(declarations.c.id > last).order_by(declarations.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        facets, days = [], []
        for r in rows:
            day = received_on(r.departement, _aware(r.received_at))
            days.append({'b_id': r.id, 'b_on': day, 'b_week': week_of(day),
                         'b_priority': (r.routing_decision or {}).get('priority')})
            facets += [
                {'declaration_id': r.id, 'kind': kind, 'value': value,
                 'region_code': r.region_code, 'departement': r.departement,
                 'received_on': day, 'week': week_of(day)}
                for kind, value in facets_of_body(r.body)
            ]
        conn.execute(
            declarations.update().where(declarations.c.id == sa.bindparam('b_id')).values(
                received_on=sa.bindparam('b_on'), week=sa.bindparam('b_week'),
                priority=sa.bindparam('b_priority'),
            ),
            days,
        )
        if facets:
            conn.execute(facet_table.insert(), facets)
        last = rows[-1].id


def _aware(at: dt.datetime) -> dt.datetime:
    """SQLite gives timestamps back without their zone: they are UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def downgrade() -> None:
    with op.batch_alter_table('declaration_facets', schema=None) as batch_op:
        batch_op.drop_index('ix_declaration_facets_region')
    op.drop_table('declaration_facets')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_declarations_region_received')
        batch_op.drop_index('ix_declarations_region_day')
        batch_op.drop_column('priority')
        batch_op.drop_column('week')
        batch_op.drop_column('received_on')
