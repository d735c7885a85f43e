"""The routing consumer: ias.declarations.v1 in, one message per recipient topic and one
decision record out, offsets committed once every message is acknowledged."""

from __future__ import annotations

import threading
from typing import Any

from iaspipe import kafka
from schemas import topics
from services.router.domain.routing_rules import RoutingData
from services.router.service import route
from services.router.settings import RouterSettings


class RoutingConsumer:
    """Group `settings.consumer_group` on ias.declarations.v1."""

    def __init__(self, settings: RouterSettings, data: RoutingData) -> None:
        self.settings = settings
        self.data = data

    def handle(self, record: Any) -> list[kafka.Outgoing]:
        return route(record.value, self.data)

    def run(self, stop: threading.Event) -> None:
        s = self.settings
        if s.create_topics:
            kafka.ensure_topics(
                s.kafka_bootstrap_servers,
                topics.all_topics(self.data.reference),
                s.topic_partitions,
            )
        kafka.consume(
            s,
            group=s.consumer_group,
            topics=[topics.DECLARATIONS],
            client_id="router",
            handler=self.handle,
            stop=stop,
        )
