"""Router process: the routing consumer in a worker thread; health, metrics and the rules in
force over HTTP."""

from __future__ import annotations

from fastapi import FastAPI

from iaspipe.http.app import service_app
from iaspipe.runtime import Runtime
from services.router import api
from services.router.consumer import RoutingConsumer
from services.router.domain.routing_rules import RoutingData, load_routing_data
from services.router.settings import RouterSettings


def load(settings: RouterSettings) -> RoutingData:
    return load_routing_data(settings.rules_file, settings.reference_dir)


def create_app(
    settings: RouterSettings, data: RoutingData | None = None, *, start_workers: bool = True
) -> FastAPI:
    routing_data = data or load(settings)
    runtime = Runtime("router", settings)
    runtime.add_worker("consumer", RoutingConsumer(settings, routing_data).run)
    app = service_app(
        runtime,
        title="IAS router",
        description="Routes each declaration to the ARS, the CPias, Santé publique France and "
        "every vigilance concerned.",
        start_workers=start_workers,
        checks={"consumer": lambda: any(t.is_alive() for t in runtime.workers.threads)},
    )
    app.state.routing_data = routing_data
    app.include_router(api.router)
    return app
