"""Transactional outbox: rows written in the same transaction as the change they announce,
published by a relay thread, marked published only after the broker acknowledged them.

A row may be published twice (a crash between send and mark): every consumer is idempotent
on the event id, which is set when the row is written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    LargeBinary,
    String,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from iaspipe import db
from iaspipe.kafka import LossWatch, Outgoing, broker_reachable, send_all
from schemas.events import utcnow

log = logging.getLogger(__name__)

BACKLOG = Gauge("iaspipe_outbox_backlog", "Outbox rows not yet published", ["service"])
OLDEST_AGE = Gauge(
    "iaspipe_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
REPUBLISHED_AFTER_LOSS = Counter(
    "iaspipe_outbox_republished_after_loss_total",
    "Outbox rows published again because the broker lost acknowledged records",
    ["service"],
)
PUBLISH_LATENCY = Histogram(
    "iaspipe_outbox_publish_latency_seconds",
    "Time from outbox write to broker acknowledgement",
    ["service"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


class OutboxMixin:
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(db.UtcDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(db.UtcDateTime(), index=True)


def outbox_values(
    topic: str, key: str, event_id: str, event_type: str, value: bytes
) -> dict[str, Any]:
    """The columns of an outbox row announcing an event (see iaspipe.uow.UnitOfWork.publish)."""
    return {
        "event_id": event_id,
        "topic": topic,
        "key": key,
        "value": value,
        "headers": [["event_type", event_type]],
        "created_at": utcnow(),
        "published_at": None,
    }


class BrokerUnreachable(ConnectionError):
    """No bootstrap server accepts a connection."""


def _bootstrap(producer: KafkaProducer) -> list[str]:
    servers = producer.config["bootstrap_servers"]
    return servers.split(",") if isinstance(servers, str) else list(servers)


@dataclass(kw_only=True)
class OutboxRelay:
    """Publishes unpublished outbox rows in order until `stop` is set."""

    service: str
    session_factory: sessionmaker[Session]
    model: type[Any]
    producer_factory: Callable[[], KafkaProducer]
    stop: threading.Event
    batch_size: int = 500
    idle_seconds: float = 0.1
    linger_seconds: float = 0.02
    # When the broker lost acknowledged records (LossWatch), what was published in this
    # window before is published again: consumers recognise the copies by their event ids.
    loss_watch: LossWatch | None = None
    republish_window_seconds: float = 900.0
    _producer: KafkaProducer | None = field(default=None, init=False)
    _gauges_at: float = field(default=0.0, init=False)

    def run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                if self._producer is None:
                    self._producer = self.producer_factory()
                if self.loss_watch is not None and self.loss_watch.lost():
                    self.republish_recent()
                sent = self.publish_once(self._producer)
                self._update_gauges()
                backoff = 0.5
                if sent == 0:
                    self.stop.wait(self.idle_seconds)
                elif sent < self.batch_size:
                    # Let rows accumulate a little: one pass per row would cost more than
                    # the rows themselves under load.
                    self.stop.wait(self.linger_seconds)
            except Exception as exc:
                log.warning(
                    "service=%s outbox relay pass failed (%s); retrying in %.1fs",
                    self.service,
                    type(exc).__name__,
                    backoff,
                )
                # A new producer after a failure: nothing buffered by the failed one is sent
                # to a broker that restarted meanwhile; the rows, still unmarked, go again.
                producer, self._producer = self._producer, None
                if producer is not None:
                    with contextlib.suppress(Exception):
                        producer.close(timeout=0)
                with contextlib.suppress(Exception):
                    self._update_gauges(force=True)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        if self._producer is not None:
            self._producer.close(timeout=10)
        if self.loss_watch is not None:
            self.loss_watch.close()

    def republish_recent(self) -> int:
        """Make what was published in the window unpublished again (the relay sends it)."""
        since = utcnow() - dt.timedelta(seconds=self.republish_window_seconds)
        with self.session_factory() as session, session.begin():
            result = session.execute(
                update(self.model)
                .where(self.model.published_at >= since)
                .values(published_at=None)
                .execution_options(synchronize_session=False)
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        REPUBLISHED_AFTER_LOSS.labels(self.service).inc(count)
        log.warning(
            "service=%s %d outbox rows published again after the broker lost records",
            self.service,
            count,
        )
        return count

    def publish_once(self, producer: KafkaProducer) -> int:
        """One pass: send a batch, wait for every acknowledgement, then mark it published."""
        with self.session_factory() as session:
            if db.locks_rows(session):
                # Several relays may run: each takes rows the others have not locked.
                with session.begin():
                    rows = self._take(session, lock=True)
                    self._acknowledged(self._send(producer, rows))
                    self._mark(session, rows)
            else:
                # SQLite: never hold the write lock while waiting on the broker.
                with session.begin():
                    rows = self._take(session, lock=False)
                self._acknowledged(self._send(producer, rows))
                with session.begin():
                    self._mark(session, rows)
        return len(rows)

    def _send(
        self, producer: KafkaProducer, rows: list[tuple[int, dt.datetime, Outgoing]]
    ) -> list[Any]:
        """Send the rows; with no broker to take them, fail at once rather than leave them in
        the producer's buffer until the broker comes back: records kept across a broker
        restart and sent to it afterwards have been acknowledged without being kept (the
        embedded broker, with the idempotent producer this relay used before). The pass
        fails, the next one makes a new producer (see `make_producer`)."""
        if rows and not broker_reachable(_bootstrap(producer)):
            raise BrokerUnreachable(f"no broker at {', '.join(_bootstrap(producer))}")
        return send_all(producer, [out for _, _, out in rows])

    def _acknowledged(self, metadata: list[Any]) -> None:
        if self.loss_watch is not None:
            self.loss_watch.note(metadata)

    def _take(self, session: Session, *, lock: bool) -> list[tuple[int, dt.datetime, Outgoing]]:
        m = self.model
        query = (
            select(m.id, m.created_at, m.topic, m.key, m.value, m.headers)
            .where(m.published_at.is_(None))
            .order_by(m.id)
            .limit(self.batch_size)
        )
        if lock:
            query = query.with_for_update(skip_locked=True)
        return [
            (
                row_id,
                created_at,
                Outgoing(topic, key.encode(), bytes(value), [(k, v.encode()) for k, v in headers]),
            )
            for row_id, created_at, topic, key, value, headers in session.execute(query)
        ]

    def _mark(self, session: Session, rows: list[tuple[int, dt.datetime, Outgoing]]) -> None:
        if not rows:
            return
        now = utcnow()
        session.execute(
            update(self.model)
            .where(self.model.id.in_([i for i, _, _ in rows]))
            .values(published_at=now)
            .execution_options(synchronize_session=False)
        )
        latency = PUBLISH_LATENCY.labels(self.service)
        for _, created_at, _ in rows:
            latency.observe(max((now - created_at).total_seconds(), 0))

    def _update_gauges(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._gauges_at < 2:
            return
        self._gauges_at = time.monotonic()
        m = self.model
        with self.session_factory() as session, session.begin():
            count, oldest = session.execute(
                select(func.count(m.id), func.min(m.created_at)).where(m.published_at.is_(None))
            ).one()
        BACKLOG.labels(self.service).set(count)
        OLDEST_AGE.labels(self.service).set((utcnow() - oldest).total_seconds() if oldest else 0)
