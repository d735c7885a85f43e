"""The request consumer: NotificationRequested from ias.notifications.v1 is stored with the
messages it calls for, the requests of one poll in one unit of work (a batch handler of
iaspipe.kafka's loop); the loop commits offsets afterwards, so a request is never lost, and a
copy already stored (same event id) changes nothing. Sending
is the dispatcher's work (dispatch.py): a mail server outage never holds the topic back."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from iaspipe import kafka
from iaspipe.kafka import Outgoing, PoisonMessage
from schemas import topics
from schemas.events import NotificationRequested, UndecodableEvent, decode, utcnow
from services.notifier import service
from services.notifier.ports import NotifierUnitOfWork
from services.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


Prepared = tuple[str, NotificationRequested]


class RequestConsumer:
    """Group `settings.consumer_group` on ias.notifications.v1, as a batch handler: `prepare`
    decodes each record (poison: undecodable), `handle_batch` stores the poll's requests in
    one unit of work (service.accept_requests)."""

    def __init__(
        self,
        settings: NotifierSettings,
        uow_factory: Callable[[], NotifierUnitOfWork],
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.clock = clock

    def prepare(self, record: Any) -> Prepared:
        try:
            env, payload = decode(record.value, {"NotificationRequested"})
        except UndecodableEvent as exc:
            raise PoisonMessage(str(exc)) from exc
        assert isinstance(payload, NotificationRequested)
        log.info(
            "topic=%s partition=%d offset=%d event=%s kind=%s declaration=%s received",
            record.topic,
            record.partition,
            record.offset,
            env.event_id,
            payload.kind.value,
            payload.declaration_id,
        )
        return str(env.event_id), payload

    def handle_batch(self, prepared: Sequence[Prepared]) -> list[Outgoing]:
        if not prepared:
            return []
        stored = service.accept_requests(
            self.uow_factory(), prepared, audiences=self.settings.audiences, now=self.clock()
        )
        log.info(
            "requests=%d stored=%d duplicates skipped=%d",
            len(prepared),
            stored,
            len(prepared) - stored,
        )
        return []

    def run(self, stop: threading.Event) -> None:
        kafka.consume(
            self.settings,
            group=self.settings.consumer_group,
            topics=[topics.NOTIFICATIONS],
            client_id="notifier",
            batch_handler=self,
            stop=stop,
        )
