"""The simple peers intake is measured against, each a FastAPI app served like intake
(`python -m bench.peers NAME`, uvicorn with its C loop and parser, one process):

- `bare`: a FastAPI POST that reads the JSON body and answers, nothing else;
- `orm`: validates the same body with the Declaration model and inserts it as one row through
  the SQLAlchemy ORM (what most teams write);
- `async`: validates it and inserts it with psycopg 3 in one round trip, autocommit, from a
  small pool of async connections (the strongest simple peer).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import JSON, DateTime, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from iaspipe.http.serving import serve
from iaspipe.settings import ServiceSettings
from schemas.declaration import Declaration

TABLE = "peer_declarations"
INSERT = f"INSERT INTO {TABLE} (id, body, received_at) VALUES (%s, %s, %s)"  # noqa: S608
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id VARCHAR(36) PRIMARY KEY, body JSON NOT NULL, received_at TIMESTAMPTZ NOT NULL)"""


class Base(DeclarativeBase):
    pass


class PeerRow(Base):
    __tablename__ = TABLE
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


def bare() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/declarations", status_code=201)
    def post(body: dict[str, Any]) -> dict[str, bool]:
        return {"ok": bool(body)}

    return app


def orm(url: str) -> FastAPI:
    engine = create_engine(url, pool_size=10, max_overflow=20)
    Base.metadata.create_all(engine)
    app = FastAPI()

    @app.post("/v1/declarations", status_code=201)
    def post(declaration: Declaration) -> dict[str, str]:
        row = PeerRow(
            id=str(uuid.uuid4()),
            body=declaration.model_dump(mode="json"),
            received_at=dt.datetime.now(dt.UTC),
        )
        with Session(engine) as session:
            session.add(row)
            session.commit()
            return {"id": row.id}

    return app


def async_insert(url: str) -> FastAPI:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    pool = AsyncConnectionPool(
        conninfo, min_size=4, max_size=8, open=False, kwargs={"autocommit": True}
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        async with pool.connection() as conn:
            await conn.execute(DDL)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/declarations", status_code=201)
    async def post(declaration: Declaration) -> dict[str, str]:
        declaration_id = str(uuid.uuid4())
        async with pool.connection() as conn:
            await conn.execute(
                INSERT,
                (
                    declaration_id,
                    json.dumps(declaration.model_dump(mode="json")),
                    dt.datetime.now(dt.UTC),
                ),
            )
        return {"id": declaration_id}

    return app


def main() -> None:
    name, port = sys.argv[1], int(sys.argv[2])
    url = os.environ.get("BENCH_DATABASE_URL", "")
    builders: dict[str, Callable[[], FastAPI]] = {
        "bare": bare,
        "orm": lambda: orm(url),
        "async": lambda: async_insert(url),
    }
    app = builders[name]()
    # The same server settings as intake's, its garbage collector's included
    # (BENCH_PEERS_GC_THRESHOLD=0: Python's own, as a peer written without thought for it).
    gc_threshold = int(os.environ.get("BENCH_PEERS_GC_THRESHOLD", ServiceSettings().gc_threshold))
    serve(app, "127.0.0.1", port, "warning", gc_threshold=gc_threshold)


if __name__ == "__main__":
    main()
