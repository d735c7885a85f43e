"""What a service process runs beside its HTTP routes: its database (engine, sessions,
migrations), its outbox relay and its background workers, started and stopped together."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import prometheus_client
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from iaspipe import db, kafka
from iaspipe.outbox import OutboxRelay
from iaspipe.settings import DatabaseServiceSettings, ServiceSettings
from iaspipe.workers import Workers

Worker = Callable[[threading.Event], None]


@dataclass
class Runtime:
    """Workers of a process without a database (the router)."""

    name: str
    settings: ServiceSettings
    workers: Workers = field(default_factory=Workers)
    _bodies: dict[str, Worker] = field(default_factory=dict)

    def add_worker(self, name: str, body: Worker) -> None:
        self._bodies[f"{self.name}-{name}"] = body

    def start(self) -> None:
        for name, body in self._bodies.items():
            self.workers.start(name, partial(body, self.workers.stop_event))

    def stop(self) -> None:
        self.workers.stop()

    @contextmanager
    def running(self, start: bool = True) -> Iterator[None]:
        """The workers running (when `start`) for the life of an app; stopped after, whatever
        ends it."""
        if start:
            self.start()
        try:
            yield
        finally:
            self.stop()


@dataclass
class DatabaseRuntime(Runtime):
    """Workers of a service with its own database, and its outbox when it publishes (intake,
    cpias): the relay is one of them. `start()` brings the database to the newest migration
    first. A service that publishes nothing (the notifier) passes no outbox model."""

    settings: DatabaseServiceSettings = field(kw_only=True)
    migrations: Path = field(kw_only=True)
    outbox_model: type[Any] | None = field(kw_only=True)
    engine: Engine = field(init=False)
    relay: OutboxRelay | None = field(init=False, default=None)
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.engine = db.make_engine(self.settings.database_url.get_secret_value())
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        if self.outbox_model is None:
            return
        relay = OutboxRelay(
            service=self.name,
            session_factory=self.sessions,
            model=self.outbox_model,
            producer_factory=lambda: kafka.make_producer(
                self.settings,
                f"{self.name}-relay",
                # The relay sends a burst then flushes: big batches, no waiting for more.
                linger_ms=1000,
                batch_size=1024 * 1024,
            ),
            stop=self.workers.stop_event,
            batch_size=self.settings.relay_batch_size,
            linger_seconds=self.settings.relay_linger_seconds,
            loss_watch=kafka.LossWatch(
                lambda: kafka.make_admin(self.settings, f"{self.name}-relay-watch")
            ),
            republish_window_seconds=self.settings.relay_republish_window_seconds,
        )
        self.relay = relay
        if self.settings.relay_in_process:
            self.add_worker("relay", lambda _stop: relay.run())

    def upgrade(self) -> None:
        db.upgrade(self.engine, self.migrations)

    def run_relay(self, metrics_port: int | None = None) -> None:
        """Run the outbox relay in this process until SIGTERM or SIGINT (`iaspipe relay
        SERVICE`), beside service processes started with RELAY_IN_PROCESS=false, so that
        publishing never competes with answering. Several relays may run at once on
        PostgreSQL (rows taken with SKIP LOCKED). Its metrics (the outbox backlog) are served
        on the service's host setting and `metrics_port`, when given."""
        if self.relay is None:
            raise ValueError(f"{self.name} has no outbox")
        if metrics_port is not None:
            prometheus_client.start_http_server(metrics_port, addr=self.settings.host)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.workers.stop_event.set())
        try:
            self.relay.run()
        finally:
            self.engine.dispose()

    def stop(self) -> None:
        super().stop()
        self.engine.dispose()
