"""outbreaks across establishments: episode keys, suggested links, clusters, threshold alerts

Revision ID: 0003_clusters
Revises: 0002
Create Date: 2026-11-24 09:00:00.000000

Every case gets its episode keys (organism, mechanism family, region, département, episode
date) in case_episodes, with the two indexes the cluster rule queries. Links get a status
(links made before this revision were made by investigators: confirmed) and the structured
reason of a suggestion. Cases opened before this revision are backfilled here, with the same
function that keys a case when it opens, so that new cases find them; no suggestion is made
among old cases (docs/clusters.md).
"""
from alembic import op
import sqlalchemy as sa

from services.cpias.domain.clusters import episode_keys


revision = '0003_clusters'
down_revision = '0002'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), server_default='confirmed', nullable=False))
        batch_op.add_column(sa.Column('basis', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('decided_at', TS, nullable=True))

    op.create_table('case_episodes',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('organism', sa.String(length=120), nullable=False),
    sa.Column('mechanism_family', sa.String(length=20), nullable=False),
    sa.Column('region_code', sa.String(length=2), nullable=False),
    sa.Column('departement', sa.String(length=3), nullable=False),
    sa.Column('finess', sa.String(length=9), nullable=True),
    sa.Column('episode_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'organism', 'mechanism_family')
    )
    with op.batch_alter_table('case_episodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_episodes_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_case_episodes_match', ['region_code', 'mechanism_family', 'organism', 'episode_date'], unique=False, postgresql_include=['case_id', 'reference', 'departement', 'finess'])
        batch_op.create_index('ix_case_episodes_threshold', ['departement', 'mechanism_family', 'episode_date'], unique=False, postgresql_include=['case_id'])

    op.create_table('clusters',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organism', sa.String(length=120), nullable=True),
    sa.Column('mechanism_family', sa.String(length=20), nullable=True),
    sa.Column('first_date', sa.Date(), nullable=False),
    sa.Column('last_date', sa.Date(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('spf_flagged_at', TS, nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('cluster_members',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('cluster_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('cpias', sa.String(length=40), nullable=False),
    sa.Column('region_code', sa.String(length=2), nullable=False),
    sa.Column('departement', sa.String(length=3), nullable=False),
    sa.Column('episode_date', sa.Date(), nullable=False),
    sa.Column('added_by', sa.String(length=200), nullable=False),
    sa.Column('added_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id')
    )
    with op.batch_alter_table('cluster_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cluster_members_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index('ix_cluster_members_cpias', ['cpias', 'cluster_id'], unique=False)
        batch_op.create_index('ix_cluster_members_region', ['region_code', 'cluster_id'], unique=False)

    op.create_table('threshold_alerts',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('mechanism_family', sa.String(length=20), nullable=False),
    sa.Column('departement', sa.String(length=3), nullable=False),
    sa.Column('region_code', sa.String(length=2), nullable=False),
    sa.Column('cpias', sa.String(length=40), nullable=False),
    sa.Column('episodes', sa.Integer(), nullable=False),
    sa.Column('first_date', sa.Date(), nullable=False),
    sa.Column('last_date', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('raised_at', TS, nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('threshold_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_threshold_alerts_cpias', ['cpias', 'expires_on'], unique=False)
        batch_op.create_index('ix_threshold_alerts_key', ['departement', 'mechanism_family', 'last_date'], unique=False)
        batch_op.create_index('ix_threshold_alerts_region', ['region_code', 'expires_on'], unique=False)

    backfill_episodes()


def backfill_episodes(batch: int = 1000) -> None:
    """Key every case opened before this revision, a batch at a time."""
    conn = op.get_bind()
    cases = sa.table('cases', sa.column('id'), sa.column('reference'), sa.column('region_code'), sa.column('declaration', sa.JSON()))
    episodes = sa.table('case_episodes', *(sa.column(c) for c in ('case_id', 'reference', 'organism', 'mechanism_family', 'region_code', 'departement', 'finess', 'episode_date')))
    last = ''
    while True:
        rows = conn.execute(
            sa.select(cases.c.id, cases.c.reference, cases.c.region_code, cases.c.declaration)
            .where(cases.c.id > last).order_by(cases.c.id).limit(batch)
        ).all()
        if not rows:
            return
        values = [
            {'case_id': r.id, 'reference': r.reference, 'organism': k.organism,
             'mechanism_family': k.mechanism_family, 'region_code': k.region_code,
             'departement': k.departement, 'finess': r.declaration['establishment'].get('finess'),
             'episode_date': k.episode_date}
            for r in rows for k in episode_keys(r.declaration, r.region_code)
        ]
        if values:
            conn.execute(episodes.insert(), values)
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table('threshold_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_threshold_alerts_region')
        batch_op.drop_index('ix_threshold_alerts_key')
        batch_op.drop_index('ix_threshold_alerts_cpias')
    op.drop_table('threshold_alerts')
    with op.batch_alter_table('cluster_members', schema=None) as batch_op:
        batch_op.drop_index('ix_cluster_members_region')
        batch_op.drop_index('ix_cluster_members_cpias')
        batch_op.drop_index(batch_op.f('ix_cluster_members_cluster_id'))
    op.drop_table('cluster_members')
    op.drop_table('clusters')
    with op.batch_alter_table('case_episodes', schema=None) as batch_op:
        batch_op.drop_index('ix_case_episodes_threshold')
        batch_op.drop_index('ix_case_episodes_match')
        batch_op.drop_index(batch_op.f('ix_case_episodes_case_id'))
    op.drop_table('case_episodes')
    with op.batch_alter_table('case_links', schema=None) as batch_op:
        batch_op.drop_column('decided_at')
        batch_op.drop_column('decided_by')
        batch_op.drop_column('basis')
        batch_op.drop_column('status')
