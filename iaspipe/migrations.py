"""Alembic environment shared by the services' migration folders."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, MetaData, create_engine


def run(metadata: MetaData) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _migrate(conn, metadata)
        return
    _migrate(connection, metadata)


def _migrate(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()
