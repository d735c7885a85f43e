"""CPias: create_app(settings) wires the database, the case consumer, the deadline watch,
the status relay and the HTTP routes."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from iaspipe.http.app import service_app
from iaspipe.http.audit import audit_router
from iaspipe.runtime import DatabaseRuntime
from schemas.reference import reference
from services.cpias.adapters.metrics import CaseGauges
from services.cpias.adapters.orm import Outbox
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.api import routes, stats
from services.cpias.api.deps import get_uow
from services.cpias.consumer import CaseConsumer
from services.cpias.deadlines import DeadlineWatch
from services.cpias.settings import CpiasSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def database_runtime(settings: CpiasSettings) -> DatabaseRuntime:
    """The cpias database, its outbox relay and its workers: the app's, or a relay process's
    of its own (`iaspipe relay cpias`)."""
    return DatabaseRuntime("cpias", settings=settings, migrations=MIGRATIONS, outbox_model=Outbox)


def create_app(settings: CpiasSettings, *, start_workers: bool = True) -> FastAPI:
    runtime = database_runtime(settings)
    uow_factory = partial(SqlCpiasUnitOfWork, runtime.sessions)
    runtime.add_worker("consumer", CaseConsumer(settings, uow_factory, reference()).run)
    runtime.add_worker("deadline-watch", DeadlineWatch(settings, uow_factory).run)
    app = service_app(
        runtime,
        title="IAS CPias cases",
        description="Investigators' queues, investigation and follow-up of declarations "
        "(R1413-83 3°).",
        start_workers=start_workers,
        max_body_bytes=settings.max_body_bytes,
        collectors=(CaseGauges(uow_factory),),
        refusals=uow_factory,
    )
    app.include_router(routes.router)
    app.include_router(stats.router)
    app.include_router(audit_router(get_uow, "case"))
    return app


def from_env() -> FastAPI:
    """Factory for multi-process serving: settings from the environment."""
    return create_app(CpiasSettings())
