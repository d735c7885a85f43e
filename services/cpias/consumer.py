"""The case consumer: DeclarationRouted from every CPias topic opens (or completes) one case.

Each record is one unit of work holding its effect and its processed event id; the loop
commits offsets afterwards. A copy already handled (or committed concurrently) is skipped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from iaspipe import kafka
from iaspipe.kafka import Outgoing, PoisonMessage
from iaspipe.uow import CommitConflict
from schemas.events import DeclarationRouted, UndecodableEvent, decode
from schemas.reference import ReferenceData
from schemas.topics import recipient_topic
from services.cpias import metrics, service
from services.cpias.ports import CpiasUnitOfWork
from services.cpias.settings import CpiasSettings

log = logging.getLogger(__name__)


def cpias_topics(ref: ReferenceData) -> list[str]:
    return [recipient_topic(c) for c in ref.cpias_ids]


class CaseConsumer:
    """Group `settings.consumer_group` on every ias.to.cpias-*.v1 topic."""

    def __init__(
        self,
        settings: CpiasSettings,
        uow_factory: Callable[[], CpiasUnitOfWork],
        ref: ReferenceData,
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.topics = cpias_topics(ref)

    def handle(self, record: Any) -> Sequence[Outgoing]:
        try:
            env, payload = decode(record.value, {"DeclarationRouted"})
        except UndecodableEvent as exc:
            raise PoisonMessage(str(exc)) from exc
        assert isinstance(payload, DeclarationRouted)
        ack_hours = self.settings.ack_hours
        if payload.recipient.kind != "cpias" or payload.priority.value not in ack_hours:
            raise PoisonMessage(f"not a CPias delivery (recipient {payload.recipient.id})")
        try:
            done = service.receive_routed(
                self.uow_factory(),
                str(env.event_id),
                payload,
                ack_hours=ack_hours,
                clusters=self.settings.clusters.rules(),
            )
        except CommitConflict:
            done = False
            metrics.DUPLICATES.inc()
        log.info(
            "topic=%s partition=%d offset=%d event=%s declaration=%s %s",
            record.topic,
            record.partition,
            record.offset,
            env.event_id,
            payload.declaration_id,
            "handled" if done else "duplicate skipped",
        )
        return []

    def run(self, stop: threading.Event) -> None:
        kafka.consume(
            self.settings,
            group=self.settings.consumer_group,
            topics=self.topics,
            client_id="cpias",
            handler=self.handle,
            stop=stop,
        )
