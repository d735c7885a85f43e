"""The submission's unit of work (ports.Submissions), in two forms:

- PgSubmissions: PostgreSQL through psycopg's async pool, one statement for a declaration, or
  for the several that arrive together (autocommit: the statement is its own transaction, one
  round trip). It takes each reference number from the region's sequence, writes each
  declaration, its timeline entry, its outbox row (the event's bytes assembled around the
  reference in SQL), its audit row and its idempotency key, and returns the references.
- SqlSubmissions: the same through the repositories and the SQLAlchemy unit of work, run in a
  worker thread (SQLite, the embedded default).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import anyio
from psycopg.errors import UndefinedTable, UniqueViolation
from psycopg_pool import AsyncConnectionPool

from iaspipe.db import is_database_unavailable
from services.intake import metrics, service
from services.intake.adapters import numbering
from services.intake.domain.records import KeyTaken, StoredAnswer
from services.intake.domain.submission import NewDeclaration
from services.intake.ports import IntakeUnitOfWork

COLUMNS = (
    # (parameter, array type, value of a NewDeclaration)
    ("id", "varchar", lambda n: n.id),
    ("seq_name", "text", lambda n: numbering.sequence_name(n.region_code, n.year)),
    ("prefix", "text", lambda n: n.reference_prefix),
    ("region", "varchar", lambda n: n.region_code),
    ("year", "int", lambda n: n.year),
    ("departement", "varchar", lambda n: n.departement),
    ("finess", "varchar", lambda n: n.finess),
    ("body", "text", lambda n: n.body_json),
    ("at", "timestamptz", lambda n: n.received_at),
    ("event_id", "varchar", lambda n: n.event_id),
    ("subject", "varchar", lambda n: n.caller.subject),
    ("role", "varchar", lambda n: n.caller.principal.role.value),
    ("address", "varchar", lambda n: n.caller.address),
    ("event_a", "text", lambda n: n.event_halves[0]),
    ("event_b", "text", lambda n: n.event_halves[1]),
    ("key", "varchar", lambda n: n.idempotency_key),
    ("key_scope", "varchar", lambda n: n.idempotency_scope),
    ("hash", "varchar", lambda n: n.request_hash),
    ("answer_a", "text", lambda n: n.answer_halves[0]),
    ("answer_b", "text", lambda n: n.answer_halves[1]),
    ("received_on", "date", lambda n: n.received_on),
    ("week", "date", lambda n: n.week),
)
# The facets of the batch's declarations (domain/figures.py), one array element each.
FACETS = (("f_id", "varchar"), ("f_kind", "varchar"), ("f_value", "varchar"))

# Several declarations in one statement. Arrays go in binary (their texts need no escaping);
# declarations are numbered in arrival order from their region's sequence; `numbered` is
# materialised once (nextval is volatile), so each declaration keeps one number throughout.
INSERT = f"""
WITH input AS (
  SELECT * FROM unnest({", ".join(f"%({name})b::{kind}[]" for name, kind, _ in COLUMNS)})
    WITH ORDINALITY AS i({", ".join(name for name, _, _ in COLUMNS)}, ord)),
numbered AS (
  SELECT i.*, nextval(i.seq_name::regclass) AS seq
  FROM (SELECT * FROM input ORDER BY ord OFFSET 0) i),
written AS (
  SELECT numbered.*,
         prefix || lpad(seq::text, greatest(6, length(seq::text)), '0') AS reference
  FROM numbered),
d AS (
  INSERT INTO declarations (id, reference, region_code, year, sequence, departement, finess,
      status, body, received_at, event_id, submitted_by, recipients, last_published_at,
      publish_count, received_on, week)
  SELECT id, reference, region, year, seq, departement, finess, 'submitted', body::json, at,
      event_id, subject, '[]'::json, at, 1, received_on, week
  FROM written ORDER BY ord),
f AS (
  INSERT INTO declaration_facets (declaration_id, kind, value, region_code, departement,
      received_on, week)
  SELECT w.id, f.kind, f.value, w.region, w.departement, w.received_on, w.week
  FROM unnest({", ".join(f"%({name})b::{kind}[]" for name, kind in FACETS)})
    AS f(id, kind, value)
  JOIN written w ON w.id = f.id),
t AS (
  INSERT INTO timeline (declaration_id, event_id, kind, at, detail)
  SELECT id, event_id, 'submitted', at, '{{}}'::json FROM written ORDER BY ord),
o AS (
  INSERT INTO outbox (event_id, topic, key, value, headers, created_at)
  SELECT event_id, %(topic)s, id, convert_to(event_a || reference || event_b, 'UTF8'),
      %(headers)s::json, at
  FROM written ORDER BY ord),
a AS (
  INSERT INTO audit_log (at, subject, role, action, object_type, object_id, address)
  SELECT at, subject, role, 'submit', 'declaration', id, address FROM written ORDER BY ord),
k AS (
  INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at)
  SELECT key_scope, key, hash, 201, (answer_a || reference || answer_b)::json, at
  FROM written WHERE key IS NOT NULL)
SELECT id, reference FROM written ORDER BY ord
"""  # noqa: S608 - only column names and types of this module go into the text

HEADERS = json.dumps([["event_type", "DeclarationSubmitted"]])

Pending = tuple[NewDeclaration, "asyncio.Future[str]"]


class PgSubmissions:
    """Group commit: submissions that arrive while a statement is being written wait for the
    next one, up to `max_batch` per statement and `writers` statements at a time. Under light
    load every submission is written at once, alone; under heavy load a statement (and its
    WAL flush) serves many. Each caller still gets its answer only once its own rows are
    committed. A statement that fails is retried one declaration at a time, so one taken
    idempotency key fails only its own submission."""

    def __init__(
        self,
        conninfo: str,
        *,
        writers: int = 1,
        min_size: int = 2,
        max_size: int = 8,
        max_batch: int = 64,
        connect_timeout: float = 5.0,
    ) -> None:
        # A connection is waited for `connect_timeout` seconds at most: a database out of
        # reach answers 503 soon, and the client retries.
        self.pool = AsyncConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=connect_timeout,
            kwargs={"autocommit": True, "connect_timeout": max(int(connect_timeout), 1)},
        )
        self.writers = writers
        self.max_batch = max_batch
        self._pending: list[Pending] = []
        self._writing = 0  # writers at work; changed only between awaits
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        await self.pool.open()
        year = dt.date.today().year
        for region in numbering.regions():
            for y in (year, year + 1):
                await self.ensure_sequence(region, y)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pool.close()

    async def ensure_sequence(self, region_code: str, year: int) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(numbering.START_AFTER, {"r": region_code, "y": year})
            row = await cur.fetchone()
            # UniqueViolation: created at the same moment by another process.
            with contextlib.suppress(UniqueViolation):
                await conn.execute(
                    numbering.create_sequence_sql(region_code, year, row[0] if row else 0)
                )

    async def add(self, new: NewDeclaration) -> str:
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((new, done))
        if self._writing < self.writers:
            self._writing += 1
            task = asyncio.create_task(self._write_pending())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    async def _write_pending(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._write(batch)
        finally:
            # No await between the last look at _pending and this: a submission added
            # meanwhile would have found this writer still counted, and waited forever.
            self._writing -= 1

    async def _write(self, batch: list[Pending]) -> None:
        try:
            references = await self._insert([new for new, _ in batch])
        except UndefinedTable:  # a region's year without its sequence yet
            for region, year in {(n.region_code, n.year) for n, _ in batch}:
                await self.ensure_sequence(region, year)
            await self._write(batch)
            return
        except Exception as exc:
            if is_database_unavailable(exc):
                # Nothing of the batch can be written: each caller hears it now (a 503 with
                # Retry-After), instead of one connection timeout after another.
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                return
            if len(batch) > 1:
                for one in batch:
                    await self._write([one])
                return
            new, done = batch[0]
            if (
                isinstance(exc, UniqueViolation)
                and new.idempotency_key
                and exc.diag.table_name == "idempotency_keys"
            ):
                exc = KeyTaken(new.idempotency_key)
            if not done.done():
                done.set_exception(exc)
            return
        for (_, done), reference in zip(batch, references, strict=True):
            if not done.done():
                done.set_result(reference)

    async def _insert(self, batch: list[NewDeclaration]) -> list[str]:
        parameters: dict[str, Any] = {
            name: [value(new) for new in batch] for name, _, value in COLUMNS
        }
        facets = [(new.id, kind, value) for new in batch for kind, value in new.facets]
        for i, (name, _) in enumerate(FACETS):
            parameters[name] = [facet[i] for facet in facets]
        parameters["topic"] = batch[0].topic
        metrics.SUBMISSION_BATCH.observe(len(batch))
        parameters["headers"] = HEADERS
        async with self.pool.connection() as conn:
            cur = await conn.execute(INSERT, parameters)
            rows = await cur.fetchall()
        by_id: dict[str, str] = dict(rows)
        return [by_id[new.id] for new in batch]

    async def answer(self, scope: str, key: str) -> StoredAnswer | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT request_hash, status_code, response FROM idempotency_keys"
                " WHERE scope = %s AND key = %s",
                (scope, key),
            )
            row = await cur.fetchone()
        return None if row is None else StoredAnswer(row[0], row[1], row[2])


class SqlSubmissions:
    def __init__(self, uow_factory: Callable[[], IntakeUnitOfWork]) -> None:
        self.uow_factory = uow_factory

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def add(self, new: NewDeclaration) -> str:
        return await anyio.to_thread.run_sync(service.store_submission, self.uow_factory(), new)

    async def answer(self, scope: str, key: str) -> StoredAnswer | None:
        return await anyio.to_thread.run_sync(service.stored_answer, self.uow_factory(), scope, key)


def conninfo_of(database_url: str) -> str | None:
    """The libpq address of a PostgreSQL database URL; None for any other database."""
    for scheme in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(scheme):
            return "postgresql://" + database_url[len(scheme) :]
    return None
