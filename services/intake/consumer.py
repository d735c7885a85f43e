"""The status consumer: intake follows what happens to each declaration. Routing decisions
(ias.routing.v1), case milestones and acknowledgements (ias.status.v1) become timeline
entries, the records of one poll in one transaction (a batch handler of iaspipe.kafka's
loop). A redelivered record changes nothing (its event id is already in the timeline);
events about declarations this intake does not hold are skipped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from iaspipe import kafka
from iaspipe.kafka import Outgoing, PoisonMessage
from schemas import topics
from schemas.events import UndecodableEvent, decode, event_type
from services.intake import service
from services.intake.domain.timeline import FollowedEvent
from services.intake.ports import IntakeUnitOfWork
from services.intake.settings import IntakeSettings

log = logging.getLogger(__name__)

EXPECTED = {"RoutingDecided", "CaseStatusChanged", "RecipientAcknowledged"}
# A cluster flagged for Santé publique France went to ias.status.v1 before it had its own
# topic (ias.clusters.v1): such a record still there is not part of any declaration's
# timeline, so it is skipped and committed, never dead-lettered.
NOT_FOLLOWED = {"ClusterFlagged"}

Prepared = tuple[str, FollowedEvent] | None


class StatusConsumer:
    """Group `settings.consumer_group` on ias.routing.v1 and ias.status.v1, as a batch
    handler: `prepare` decodes each record (poison: undecodable), `handle_batch` follows the
    poll's events in one unit of work (service.follow_events)."""

    def __init__(self, settings: IntakeSettings, uow_factory: Callable[[], IntakeUnitOfWork]):
        self.settings = settings
        self.uow_factory = uow_factory

    def prepare(self, record: Any) -> Prepared:
        try:
            env, payload = decode(record.value, EXPECTED)
        except UndecodableEvent as exc:
            if event_type(record.value) in NOT_FOLLOWED:
                log.info("offset=%d event not followed by intake: skipped", record.offset)
                return None
            raise PoisonMessage(str(exc)) from exc
        event: FollowedEvent = payload  # type: ignore[assignment]
        return str(env.event_id), event

    def handle_batch(self, prepared: Sequence[Prepared]) -> list[Outgoing]:
        events = [p for p in prepared if p is not None]
        if not events:
            return []
        done = service.follow_events(self.uow_factory(), events)
        if done.already_known or done.unknown_declaration:
            log.info(
                "events=%d followed=%d already_in_timeline=%d unknown_declaration=%d",
                len(events),
                done.added,
                done.already_known,
                done.unknown_declaration,
            )
        return []

    def run(self, stop: threading.Event) -> None:
        kafka.consume(
            self.settings,
            group=self.settings.consumer_group,
            topics=[topics.ROUTING, topics.STATUS],
            client_id="intake-status",
            batch_handler=self,
            stop=stop,
        )
