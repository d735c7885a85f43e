"""Gauges for the ARS dashboards, read from the database at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.cpias import service
from services.cpias.ports import CpiasUnitOfWork

log = logging.getLogger(__name__)


class CaseGauges(Collector):
    def __init__(self, uow_factory: Callable[[], CpiasUnitOfWork]) -> None:
        self.uow_factory = uow_factory

    def collect(self) -> Iterator[Any]:
        open_cases = GaugeMetricFamily(
            "cpias_open_cases", "Cases not closed", labels=["cpias", "region", "priority", "status"]
        )
        overdue = GaugeMetricFamily(
            "cpias_overdue_cases",
            "New cases past their acknowledgement deadline",
            labels=["cpias", "region", "priority"],
        )
        try:
            counts = service.open_counts(self.uow_factory())
        except Exception as exc:  # a scrape must not fail because the database is down
            log.warning("case gauges unavailable (%s)", type(exc).__name__)
            counts = []
        late: dict[tuple[str, str, str], int] = {}
        for cpias, region, priority, status, count, n_overdue in counts:
            open_cases.add_metric([cpias, region, priority, status], count)
            if status == "new":
                key = (cpias, region, priority)
                late[key] = late.get(key, 0) + n_overdue
        for labels, value in late.items():
            overdue.add_metric(list(labels), value)
        yield open_cases
        yield overdue
