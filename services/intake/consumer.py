"""The status consumer: intake follows what happens to each declaration. Routing decisions
(ias.routing.v1), case milestones and acknowledgements (ias.status.v1) become timeline
entries, one transaction per record. A redelivered record changes nothing (its event id is
unique in the timeline); events about declarations this intake does not hold are skipped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from iaspipe import kafka
from iaspipe.kafka import Outgoing, PoisonMessage
from iaspipe.uow import CommitConflict
from schemas import topics
from schemas.events import UndecodableEvent, decode, event_type
from services.intake import service
from services.intake.domain.timeline import FollowedEvent
from services.intake.ports import IntakeUnitOfWork
from services.intake.settings import IntakeSettings

log = logging.getLogger(__name__)

EXPECTED = {"RoutingDecided", "CaseStatusChanged", "RecipientAcknowledged"}
# Published on these topics for other readers (a cluster flagged for Santé publique France):
# not part of any declaration's timeline, so skipped and committed, never dead-lettered.
NOT_FOLLOWED = {"ClusterFlagged"}


class StatusConsumer:
    """Group `settings.consumer_group` on ias.routing.v1 and ias.status.v1."""

    def __init__(self, settings: IntakeSettings, uow_factory: Callable[[], IntakeUnitOfWork]):
        self.settings = settings
        self.uow_factory = uow_factory

    def handle(self, record: Any) -> Sequence[Outgoing]:
        try:
            env, payload = decode(record.value, EXPECTED)
        except UndecodableEvent as exc:
            if event_type(record.value) in NOT_FOLLOWED:
                log.info("offset=%d event not followed by intake: skipped", record.offset)
                return []
            raise PoisonMessage(str(exc)) from exc
        event: FollowedEvent = payload  # type: ignore[assignment]
        try:
            known = service.follow_event(self.uow_factory(), str(env.event_id), event)
        except CommitConflict:
            log.info("event=%s already in the timeline", env.event_id)
            return []
        if not known:
            log.info(
                "event=%s for unknown declaration=%s skipped", env.event_id, event.declaration_id
            )
        return []

    def run(self, stop: threading.Event) -> None:
        kafka.consume(
            self.settings,
            group=self.settings.consumer_group,
            topics=[topics.ROUTING, topics.STATUS],
            client_id="intake-status",
            handler=self.handle,
            stop=stop,
        )
