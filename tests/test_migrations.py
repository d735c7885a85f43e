"""Each service's migrations build the schema its ORM models describe, on SQLite and
PostgreSQL: a column added to a model without its migration (or the other way round) fails
here, not in production."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from iaspipe.db import make_engine, upgrade

SERVICES = ["intake", "cpias", "notifier", "portal"]


@pytest.mark.parametrize("name", SERVICES)
def test_the_migrations_head_is_the_orms_schema(name: str, database_url: str) -> None:
    app = importlib.import_module(f"services.{name}.app")
    orm = importlib.import_module(f"services.{name}.adapters.orm")
    migrations: Path = app.MIGRATIONS
    engine = make_engine(database_url)
    try:
        upgrade(engine, migrations)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), orm.Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
