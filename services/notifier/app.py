"""Notifier: create_app(settings) wires the database, the request consumer, the dispatcher
(digests and sending), the address book seed and the HTTP routes."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from iaspipe.http.app import service_app
from iaspipe.http.audit import audit_router
from iaspipe.runtime import DatabaseRuntime
from schemas.reference import reference
from services.notifier import service
from services.notifier.adapters.mail import make_sender
from services.notifier.adapters.metrics import PendingGauges
from services.notifier.adapters.templates import JinjaRenderer
from services.notifier.adapters.uow import SqlNotifierUnitOfWork
from services.notifier.api import routes
from services.notifier.api.deps import get_uow
from services.notifier.consumer import RequestConsumer
from services.notifier.dispatch import Dispatcher
from services.notifier.ports import Sender
from services.notifier.settings import NotifierSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class AddressBookSeed:
    """Opened at start, once the database is migrated: writes the configured addresses the
    book does not hold yet."""

    def __init__(self, settings: NotifierSettings, runtime: DatabaseRuntime) -> None:
        self.settings = settings
        self.runtime = runtime

    async def open(self) -> None:
        book = self.settings.address_book
        await run_in_threadpool(
            service.seed_address_book,
            SqlNotifierUnitOfWork(self.runtime.sessions),
            cpias=book.cpias,
            ars=book.ars,
            ref=reference(),
        )

    async def close(self) -> None:
        pass


def create_app(
    settings: NotifierSettings, *, start_workers: bool = True, sender: Sender | None = None
) -> FastAPI:
    runtime = DatabaseRuntime(
        "notifier", settings=settings, migrations=MIGRATIONS, outbox_model=None
    )
    uow_factory = partial(SqlNotifierUnitOfWork, runtime.sessions)
    dispatcher = Dispatcher(
        settings,
        uow_factory,
        sender=sender or make_sender(settings),
        renderer=JinjaRenderer(),
        ref=reference(),
    )
    runtime.add_worker("consumer", RequestConsumer(settings, uow_factory).run)
    runtime.add_worker("dispatcher", dispatcher.run)
    app = service_app(
        runtime,
        title="IAS notifier",
        description="E-mails about declarations: receipts to declarants, new cases to the "
        "CPias teams, reminders and overdue warnings. They carry the reference and a link, "
        "never health data.",
        start_workers=start_workers,
        max_body_bytes=settings.max_body_bytes,
        collectors=(PendingGauges(uow_factory),),
        resources=(AddressBookSeed(settings, runtime),),
        refusals=uow_factory,
    )
    app.state.reference = reference()
    app.state.dispatcher = dispatcher
    app.include_router(routes.router)
    app.include_router(audit_router(get_uow, "address or message list"))
    return app


def from_env() -> FastAPI:
    """Factory for multi-process serving: settings from the environment."""
    return create_app(NotifierSettings())
