"""Router process: the consumer loop in a worker thread, health and metrics over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from iaspipe import kafka
from iaspipe.api import install_auth, security_headers
from iaspipe.auth import PrincipalDep
from iaspipe.broker import ensure_topics
from iaspipe.http import health_router
from iaspipe.workers import Workers
from schemas import topics
from schemas.problems import ProblemReport
from services.router.domain.rules import RoutingData, load_routing_data
from services.router.service import route
from services.router.settings import RouterSettings


def load(settings: RouterSettings) -> RoutingData:
    return load_routing_data(settings.rules_file, settings.reference_dir)


def create_app(
    settings: RouterSettings, data: RoutingData | None = None, *, start_workers: bool = True
) -> FastAPI:
    data = data or load(settings)
    workers = Workers()
    routing_data: RoutingData = data

    def handle(record: Any) -> list[kafka.Outgoing]:
        return route(record.value, routing_data)

    def loop() -> None:
        if settings.create_topics:
            ensure_topics(
                settings.kafka_bootstrap_servers,
                topics.all_topics(routing_data.reference),
                settings.topic_partitions,
            )
        kafka.ConsumerLoop(
            group=settings.consumer_group,
            consumer=kafka.make_consumer(
                settings, settings.consumer_group, [topics.DECLARATIONS], "router"
            ),
            producer=kafka.make_producer(settings, "router"),
            handler=handle,
            stop=workers.stop_event,
            max_consecutive_dead_letters=settings.max_consecutive_dead_letters,
            max_records=settings.kafka_max_poll_records,
        ).run()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_workers:
            workers.start("router-consumer", loop)
        try:
            yield
        finally:
            workers.stop()

    app = FastAPI(
        title="IAS router",
        version="1.0.0",
        lifespan=lifespan,
        description="Routes each declaration to the ARS, the CPias, Santé publique "
        "France and every vigilance concerned.",
    )
    app.state.workers = workers

    install_auth(app, settings)
    security_headers(app)

    @app.get(
        "/v1/rules",
        tags=["routing"],
        summary="The routing rules in force",
        responses={401: {"model": ProblemReport}},
    )
    def rules(_principal: PrincipalDep) -> dict[str, Any]:
        return routing_data.rules.model_dump(mode="json")

    app.include_router(
        health_router(
            {
                "broker": lambda: kafka.broker_reachable(settings.kafka_bootstrap_servers),
                "consumer": lambda: any(t.is_alive() for t in workers.threads),
            }
        )
    )
    return app
