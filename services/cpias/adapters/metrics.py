"""Gauges for the ARS dashboards, read from the database at each scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from services.cpias import service


class CaseGauges(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

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
            counts = service.dashboard_counts(self.sessions)["open"]
        except Exception:  # a scrape must not fail because the database is down
            counts = []
        late: dict[tuple[str, str, str], int] = {}
        for cpias, region, priority, status, count, n_overdue in counts:
            open_cases.add_metric([cpias, region, priority, status], count)
            if status == "new":
                late[(cpias, region, priority)] = late.get((cpias, region, priority), 0) + int(
                    n_overdue or 0
                )
        for labels, value in late.items():
            overdue.add_metric(list(labels), value)
        yield open_cases
        yield overdue
