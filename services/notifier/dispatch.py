"""The dispatcher: every second, make the digests that are due, then send the messages that
are due, recording each sending (service.send_due). A message the server did not take waits
its backoff and is tried again; nothing is ever dead-lettered."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from schemas.events import utcnow
from schemas.reference import ReferenceData
from services.notifier import service
from services.notifier.ports import NotifierUnitOfWork, Renderer, Sender
from services.notifier.settings import NotifierSettings


class Dispatcher:
    def __init__(
        self,
        settings: NotifierSettings,
        uow_factory: Callable[[], NotifierUnitOfWork],
        *,
        sender: Sender,
        renderer: Renderer,
        ref: ReferenceData,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.sender = sender
        self.renderer = renderer
        self.ref = ref
        self.clock = clock
        self.delivery = service.Delivery(
            portal_url=settings.portal_url,
            batch_size=settings.batch_size,
            claim_for=dt.timedelta(seconds=settings.claim_seconds),
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
        )

    def run_once(self) -> int:
        """One pass; returns how many messages were sent."""
        service.compose_digests(
            self.uow_factory(), now=self.clock(), hour=self.settings.digest_hour, ref=self.ref
        )
        try:
            return service.send_due(
                self.uow_factory,
                sender=self.sender,
                renderer=self.renderer,
                delivery=self.delivery,
                ref=self.ref,
                clock=self.clock,
            )
        finally:
            self.sender.close()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            sent = self.run_once()
            if sent < self.settings.batch_size:
                stop.wait(self.settings.dispatch_every_seconds)
