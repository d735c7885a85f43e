"""CPias: create_app(settings) wires the database, the case consumer and the status relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy.orm import sessionmaker

from iaspipe import db, kafka
from iaspipe.api import install_common
from iaspipe.audit import audit_router
from iaspipe.outbox import OutboxRelay
from iaspipe.workers import Workers
from schemas.reference import reference
from services.cpias import consumer
from services.cpias.adapters.metrics import CaseGauges
from services.cpias.adapters.orm import AuditEntry, Outbox
from services.cpias.api import errors, routes
from services.cpias.settings import CpiasSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CpiasSettings, *, start_workers: bool = True) -> FastAPI:
    engine = db.make_engine(settings.database_url.get_secret_value())
    sessions = sessionmaker(engine, expire_on_commit=False)
    workers = Workers()
    gauges = CaseGauges(sessions)

    def relay() -> None:
        OutboxRelay(
            service="cpias",
            session_factory=sessions,
            model=Outbox,
            producer_factory=lambda: kafka.make_producer(settings, "cpias-relay"),
            stop=workers.stop_event,
            batch_size=settings.relay_batch_size,
            linger_seconds=settings.relay_linger_seconds,
        ).run()

    def cases_consumer() -> None:
        kafka.ConsumerLoop(
            group=settings.consumer_group,
            consumer=kafka.make_consumer(
                settings, settings.consumer_group, consumer.cpias_topics(reference()), "cpias"
            ),
            producer=kafka.make_producer(settings, "cpias-dlq"),
            handler=consumer.make_handler(sessions, settings.ack_hours),
            stop=workers.stop_event,
            max_consecutive_dead_letters=settings.max_consecutive_dead_letters,
            max_records=settings.kafka_max_poll_records,
        ).run()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        db.upgrade(engine, MIGRATIONS)
        try:
            REGISTRY.register(gauges)
            registered = True
        except ValueError:  # another app of this process already exports the case gauges
            registered = False
        if start_workers:
            workers.start("cpias-relay", relay)
            workers.start("cpias-consumer", cases_consumer)
        try:
            yield
        finally:
            workers.stop()
            if registered:
                REGISTRY.unregister(gauges)
            engine.dispose()

    app = FastAPI(
        title="IAS CPias cases",
        version="1.0.0",
        lifespan=lifespan,
        description="Investigators' queues, investigation and follow-up of "
        "declarations (R1413-83 3°).",
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.workers = workers
    install_common(app, settings, engine, settings.max_body_bytes)
    errors.install(app)
    app.include_router(routes.router)
    app.include_router(audit_router(AuditEntry, "case"))
    return app


def from_env() -> FastAPI:
    """Factory for multi-process serving: settings from the environment."""
    return create_app(CpiasSettings())
