"""What every HTTP service has: token verification, body limit, JSON bodies only, security
headers, problem answers, CORS closed unless configured, and /healthz, /readyz, /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import REGISTRY
from prometheus_client.registry import Collector

from iaspipe import db, kafka
from iaspipe.auth import Verifier
from iaspipe.http.health import health_router
from iaspipe.http.middleware import (
    BodyLimit,
    CloseUnreadBodies,
    JsonBodies,
    RejectControlCharacters,
    SecurityHeaders,
    UnexpectedErrors,
)
from iaspipe.http.problems import install_error_handlers
from iaspipe.http.refusals import RefusalLog
from iaspipe.runtime import DatabaseRuntime, Runtime
from iaspipe.uow import Transaction


def install_common(
    app: FastAPI,
    settings: Any,
    *,
    checks: dict[str, Callable[[], bool]],
    max_body_bytes: int = 64 * 1024,
) -> None:
    app.state.verifier = Verifier(settings.auth)
    app.add_middleware(BodyLimit, limit=max_body_bytes, seconds=settings.body_timeout_seconds)
    app.add_middleware(RejectControlCharacters)
    app.add_middleware(JsonBodies)
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.include_router(health_router(checks))
    # Added last, so outermost of the service's own: it sees every error the others let by.
    app.add_middleware(UnexpectedErrors)
    # Outside even that: every answer, early or not, closes a connection whose body is unread.
    app.add_middleware(CloseUnreadBodies)


def dependency_checks(settings: Any, engine: Any | None = None) -> dict[str, Callable[[], bool]]:
    """Readiness checks of a service: its database (when it has one) and the broker."""
    checks: dict[str, Callable[[], bool]] = {}
    if engine is not None:
        checks["database"] = lambda: db.is_reachable(engine)
    checks["broker"] = lambda: kafka.broker_reachable(settings.kafka_bootstrap_servers)
    return checks


class Resource(Protocol):
    """Something a service opens when it starts and closes when it stops (a connection pool)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


def service_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    start_workers: bool = True,
    max_body_bytes: int = 64 * 1024,
    collectors: tuple[Collector, ...] = (),
    checks: dict[str, Callable[[], bool]] | None = None,
    resources: tuple[Resource, ...] = (),
    refusals: Callable[[], Transaction] | None = None,
) -> FastAPI:
    """A service's FastAPI app: its lifespan migrates the database, registers the service's
    metric collectors, starts the workers, and stops everything on the way out. `refusals`
    gives the units of work in which refused attempts are audited; without it (no database)
    they are counted and written to the log."""
    database = runtime if isinstance(runtime, DatabaseRuntime) else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if database is not None:
            database.upgrade()
        for resource in resources:
            await resource.open()
        registered = []
        for collector in collectors:
            try:
                REGISTRY.register(collector)
                registered.append(collector)
            except ValueError:  # another app of this process already exports it
                pass
        try:
            with runtime.running(start_workers):
                yield
        finally:
            for resource in resources:
                await resource.close()
            for collector in registered:
                REGISTRY.unregister(collector)

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.settings = runtime.settings
    app.state.workers = runtime.workers
    if database is not None:
        app.state.sessions = database.sessions
    # Refused attempts are counted everywhere, audited in the service's database where it has
    # one, written to its log where it has none.
    app.state.refusals = RefusalLog(runtime.name, refusals)
    install_common(
        app,
        runtime.settings,
        checks={
            **dependency_checks(runtime.settings, database and database.engine),
            **(checks or {}),
        },
        max_body_bytes=max_body_bytes,
    )
    return app
