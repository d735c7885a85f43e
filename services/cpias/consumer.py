"""The case consumer: DeclarationRouted from every CPias topic opens (or completes) one case.

The records of one poll are one unit of work (service.receive_batch) holding their effects
and their processed event ids; the loop commits offsets afterwards. A poison record is told
before any database work (`prepare`) and dead-lettered alone. A copy already handled is
skipped; when one was committed concurrently by another member (a rebalance), the poll is
handled again one record per unit of work, each skipping what is already done."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Delivery:
    """A record decoded: a DeclarationRouted for a CPias."""

    record: Any
    event_id: str
    routed: DeclarationRouted


class CaseConsumer:
    """Group `settings.consumer_group` on every ias.to.cpias-*.v1 topic (a BatchHandler of
    iaspipe.kafka's loop)."""

    def __init__(
        self,
        settings: CpiasSettings,
        uow_factory: Callable[[], CpiasUnitOfWork],
        ref: ReferenceData,
    ) -> None:
        self.settings = settings
        self.uow_factory = uow_factory
        self.topics = cpias_topics(ref)

    def prepare(self, record: Any) -> Delivery:
        """The record decoded, or PoisonMessage: not a DeclarationRouted, or not for a CPias
        (a priority without a deadline)."""
        try:
            env, payload = decode(record.value, {"DeclarationRouted"})
        except UndecodableEvent as exc:
            raise PoisonMessage(str(exc)) from exc
        assert isinstance(payload, DeclarationRouted)
        if (
            payload.recipient.kind != "cpias"
            or payload.priority.value not in self.settings.ack_hours
        ):
            raise PoisonMessage(f"not a CPias delivery (recipient {payload.recipient.id})")
        return Delivery(record, str(env.event_id), payload)

    def handle_batch(self, deliveries: Sequence[Delivery]) -> Sequence[Outgoing]:
        try:
            done = self._receive(deliveries)
        except CommitConflict:  # one of them committed meanwhile by another member
            done = [handled for one in deliveries for handled in self._alone(one)]
        for delivery, handled in zip(deliveries, done, strict=True):
            record = delivery.record
            log.info(
                "topic=%s partition=%d offset=%d event=%s declaration=%s %s",
                record.topic,
                record.partition,
                record.offset,
                delivery.event_id,
                delivery.routed.declaration_id,
                "handled" if handled else "duplicate skipped",
            )
        return []

    def handle(self, record: Any) -> Sequence[Outgoing]:
        """One record in its own unit of work."""
        return self.handle_batch([self.prepare(record)])

    def _receive(self, deliveries: Sequence[Delivery]) -> list[bool]:
        return service.receive_batch(
            self.uow_factory(),
            [(d.event_id, d.routed) for d in deliveries],
            ack_hours=self.settings.ack_hours,
            clusters=self.settings.clusters.rules(),
        )

    def _alone(self, delivery: Delivery) -> list[bool]:
        try:
            return self._receive([delivery])
        except CommitConflict:
            metrics.DUPLICATES.inc()
            return [False]

    def run(self, stop: threading.Event) -> None:
        kafka.consume(
            self.settings,
            group=self.settings.consumer_group,
            topics=self.topics,
            client_id="cpias",
            batch_handler=self,
            stop=stop,
        )
