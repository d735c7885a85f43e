"""Intake: create_app(settings) wires the database, the outbox relay, the status consumer,
the reconciler and the HTTP routes."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from iaspipe.http.app import service_app
from iaspipe.http.audit import audit_router
from iaspipe.runtime import DatabaseRuntime
from schemas.reference import reference
from services.intake.adapters.orm import Outbox
from services.intake.adapters.submissions import PgSubmissions, SqlSubmissions, conninfo_of
from services.intake.adapters.uow import SqlIntakeUnitOfWork
from services.intake.api import routes, stats, submit
from services.intake.api.deps import Desk, get_uow
from services.intake.consumer import StatusConsumer
from services.intake.reconciliation import Reconciler
from services.intake.settings import IntakeSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def database_runtime(settings: IntakeSettings) -> DatabaseRuntime:
    """The intake database, its outbox relay and its workers: the app's, or a relay process's
    of its own (`iaspipe relay intake`)."""
    return DatabaseRuntime("intake", settings=settings, migrations=MIGRATIONS, outbox_model=Outbox)


def create_app(settings: IntakeSettings, *, start_workers: bool = True) -> FastAPI:
    runtime = database_runtime(settings)
    uow_factory = partial(SqlIntakeUnitOfWork, runtime.sessions)
    reconciler = Reconciler(settings, uow_factory)
    conninfo = conninfo_of(settings.database_url.get_secret_value())
    submissions = (
        PgSubmissions(
            conninfo,
            writers=settings.submission_writers,
            max_size=settings.submission_pool_size,
        )
        if conninfo and settings.single_statement_submissions
        else SqlSubmissions(uow_factory)
    )
    runtime.add_worker("status-consumer", StatusConsumer(settings, uow_factory).run)
    runtime.add_worker("reconciler", reconciler.run)
    app = service_app(
        runtime,
        title="IAS intake",
        description="Declarations of healthcare-associated infections (article R1413-79 of "
        "the Code de la santé publique): submit, follow, complement.",
        start_workers=start_workers,
        max_body_bytes=settings.max_body_bytes,
        resources=(submissions,),
        refusals=uow_factory,
    )
    app.state.desk = Desk.build(submissions, reference(), settings)
    app.state.reference = reference()
    app.state.reconciler = reconciler
    app.include_router(submit.router)
    app.include_router(routes.router)
    app.include_router(stats.router)
    app.include_router(audit_router(get_uow, "declaration"))
    return app


def from_env() -> FastAPI:
    """Factory for multi-process serving: settings from the environment."""
    return create_app(IntakeSettings())
