"""The request consumer: NotificationRequested from ias.notifications.v1 is stored with the
messages it calls for, one unit of work per record; the loop commits offsets afterwards, so
a request is never lost, and a copy already stored (same event id) changes nothing. Sending
is the dispatcher's work (dispatch.py): a mail server outage never holds the topic back."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from iaspipe import kafka
from iaspipe.kafka import Outgoing, PoisonMessage
from iaspipe.uow import CommitConflict
from schemas import topics
from schemas.events import NotificationRequested, UndecodableEvent, decode, utcnow
from services.notifier import metrics, service
from services.notifier.ports import NotifierUnitOfWork
from services.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


class RequestConsumer:
    """Group `settings.consumer_group` on ias.notifications.v1."""

    def __init__(
        self,
        settings: NotifierSettings,
        uow_factory: Callable[[], NotifierUnitOfWork],
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.clock = clock

    def handle(self, record: Any) -> Sequence[Outgoing]:
        try:
            env, payload = decode(record.value, {"NotificationRequested"})
        except UndecodableEvent as exc:
            raise PoisonMessage(str(exc)) from exc
        assert isinstance(payload, NotificationRequested)
        try:
            stored = service.accept_request(
                self.uow_factory(),
                str(env.event_id),
                payload,
                audiences=self.settings.audiences,
                now=self.clock(),
            )
        except CommitConflict:
            stored = False
            metrics.DUPLICATES.inc()
        log.info(
            "topic=%s partition=%d offset=%d event=%s kind=%s declaration=%s %s",
            record.topic,
            record.partition,
            record.offset,
            env.event_id,
            payload.kind.value,
            payload.declaration_id,
            "stored" if stored else "duplicate skipped",
        )
        return []

    def run(self, stop: threading.Event) -> None:
        kafka.consume(
            self.settings,
            group=self.settings.consumer_group,
            topics=[topics.NOTIFICATIONS],
            client_id="notifier",
            handler=self.handle,
            stop=stop,
        )
