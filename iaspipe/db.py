"""Engines for SQLite (embedded default) and PostgreSQL, Alembic upgrades, and the few
statements that differ between the two (the only place that asks which one it talks to)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Dialect,
    Engine,
    Float,
    TypeDecorator,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

D = TypeVar("D")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def values_of(record: object, *, leave_out: Collection[str] = ()) -> dict[str, Any]:
    """A dataclass's fields by name, as the values of the row that stores it (its columns
    bear the fields' names)."""
    return {n: getattr(record, n) for n in _field_names(type(record)) if n not in leave_out}


def from_row(kind: type[D], row: object, **given: Any) -> D:
    """The dataclass `kind` read back from a row whose columns bear its fields' names; the
    fields `given` are read otherwise (converted, or from elsewhere)."""
    names = (n for n in _field_names(kind) if n not in given)
    return kind(**{n: getattr(row, n) for n in names}, **given)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine whose transactions behave alike on SQLite and PostgreSQL.

    On SQLite every transaction starts with BEGIN IMMEDIATE: writers queue on the busy
    timeout instead of failing when two threads upgrade read locks at once.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # Errors never quote the statement's values: they may hold what people typed.
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


# The key of the PostgreSQL advisory lock held while a process migrates its database.
MIGRATION_LOCK = 0x1A5_0001


def upgrade(engine: Engine, migrations_dir: Path, revision: str = "head") -> None:
    """Bring the database to the newest Alembic revision of a service (or to `revision`).

    On SQLite, a migration that rebuilds a referenced table (Alembic's batch mode) cannot run
    with foreign keys enforced: they are turned off outside the transaction, checked with
    foreign_key_check before it commits, and turned on again (SQLite's documented procedure
    for schema changes)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        if sqlite:
            raw.execute("PRAGMA foreign_keys=OFF")  # no effect inside a transaction
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    # Several processes of a service start together: one migrates, the others
                    # wait here, then find the database at the newest revision. (On SQLite,
                    # BEGIN IMMEDIATE already queues them.)
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # readiness probe: any failure means not ready
        return False


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back aware on both engines (SQLite keeps no zone:
    its values come back naive, and are marked UTC here)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(dt.UTC)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def locks_rows(session: Session) -> bool:
    """Row locks with SKIP LOCKED exist (PostgreSQL); SQLite locks the whole database."""
    return is_postgresql(session)


def insert_ignoring_conflict(
    session: Session, model: type[Any], values: dict[str, Any] | list[dict[str, Any]]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, in either dialect: one row, or several in one
    executemany (none: nothing is sent)."""
    dialect = postgresql if is_postgresql(session) else sqlite
    if isinstance(values, dict):
        session.execute(dialect.insert(model).values(**values).on_conflict_do_nothing())
    elif values:
        session.execute(dialect.insert(model.__table__).on_conflict_do_nothing(), values)


def present(session: Session, column: Any, values: Collection[str]) -> set[str]:
    """Those of `values` that `column` holds (one query; none when `values` is empty)."""
    if not values:
        return set()
    return set(session.scalars(select(column).where(column.in_(list(values)))))


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached or gave no connection in time: worth retrying later."""
    import psycopg
    import psycopg_pool
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        sa.OperationalError
        | sa.InterfaceError
        | sa.TimeoutError
        | psycopg.OperationalError
        | psycopg_pool.PoolTimeout,
    )


class _SecondsBetween(FunctionElement[float]):
    """Seconds from one timestamp to a later one (`seconds_between`)."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(_SecondsBetween, "postgresql")
def _seconds_between_postgresql(element: _SecondsBetween, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(_SecondsBetween, "sqlite")
def _seconds_between_sqlite(element: _SecondsBetween, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


def seconds_between(start: Any, end: Any) -> ColumnElement[float]:
    """The seconds from `start` to `end` (two timestamp columns), in either dialect."""
    return _SecondsBetween(start, end)
