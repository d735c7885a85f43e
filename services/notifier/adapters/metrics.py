"""Gauges of the messages waiting to be sent, read from the database at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from schemas.events import utcnow
from services.notifier import service
from services.notifier.ports import NotifierUnitOfWork

log = logging.getLogger(__name__)


class PendingGauges(Collector):
    def __init__(self, uow_factory: Callable[[], NotifierUnitOfWork]) -> None:
        self.uow_factory = uow_factory

    def collect(self) -> Iterator[Any]:
        pending = GaugeMetricFamily("notifier_messages_pending", "Messages not sent yet")
        oldest = GaugeMetricFamily(
            "notifier_oldest_pending_age_seconds",
            "Age of the oldest message not sent yet (0 when none waits)",
        )
        try:
            count, created_at = service.pending_summary(self.uow_factory())
        except Exception as exc:  # a scrape must not fail because the database is down
            log.warning("pending gauges unavailable (%s)", type(exc).__name__)
            return
        pending.add_metric([], count)
        oldest.add_metric([], (utcnow() - created_at).total_seconds() if created_at else 0.0)
        yield pending
        yield oldest
