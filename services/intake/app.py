"""Intake: create_app(settings) wires the database, the outbox relay and the status consumer."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import limits
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from iaspipe import db, kafka
from iaspipe.api import install_common
from iaspipe.audit import audit_router
from iaspipe.outbox import OutboxRelay
from iaspipe.workers import Workers
from schemas import topics
from schemas.reference import reference
from services.intake import consumer, service
from services.intake.adapters.orm import AuditEntry, Outbox
from services.intake.api import errors, routes
from services.intake.settings import IntakeSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings, *, start_workers: bool = True) -> FastAPI:
    engine = db.make_engine(settings.database_url.get_secret_value())
    sessions = sessionmaker(engine, expire_on_commit=False)
    workers = Workers()

    def periodic() -> None:
        now = time.monotonic()
        if now - periodic.last < settings.reconcile_every_seconds:  # type: ignore[attr-defined]
            return
        periodic.last = now  # type: ignore[attr-defined]
        service.republish_unconfirmed(
            sessions, older_than=dt.timedelta(seconds=settings.reconcile_after_seconds)
        )
        service.purge_idempotency_keys(
            sessions, older_than=dt.timedelta(hours=settings.idempotency_retention_hours)
        )

    periodic.last = 0.0  # type: ignore[attr-defined]

    def relay() -> None:
        OutboxRelay(
            service="intake",
            session_factory=sessions,
            model=Outbox,
            producer_factory=lambda: kafka.make_producer(settings, "intake-relay"),
            stop=workers.stop_event,
            batch_size=settings.relay_batch_size,
            linger_seconds=settings.relay_linger_seconds,
            after_pass=periodic,
        ).run()

    def status_consumer() -> None:
        kafka.ConsumerLoop(
            group=settings.consumer_group,
            consumer=kafka.make_consumer(
                settings, settings.consumer_group, [topics.ROUTING, topics.STATUS], "intake-status"
            ),
            producer=kafka.make_producer(settings, "intake-dlq"),
            handler=consumer.make_handler(sessions),
            stop=workers.stop_event,
            max_consecutive_dead_letters=settings.max_consecutive_dead_letters,
            max_records=settings.kafka_max_poll_records,
        ).run()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        db.upgrade(engine, MIGRATIONS)
        if start_workers:
            workers.start("intake-relay", relay)
            workers.start("intake-status-consumer", status_consumer)
        try:
            yield
        finally:
            workers.stop()
            engine.dispose()

    app = FastAPI(
        title="IAS intake",
        description="Declarations of healthcare-associated infections (article R1413-79 of the "
        "Code de la santé publique): submit, follow, complement.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.reference = reference()
    app.state.workers = workers
    app.state.limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.MemoryStorage())
    app.state.submit_limit = limits.parse(settings.submit_rate_limit)
    install_common(app, settings, engine, settings.max_body_bytes)
    errors.install(app)
    app.include_router(routes.router)
    app.include_router(audit_router(AuditEntry, "declaration"))
    return app


def from_env() -> FastAPI:
    """Factory for multi-process serving: settings from the environment."""
    return create_app(IntakeSettings())
