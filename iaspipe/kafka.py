"""Kafka plumbing: producers, consumers, and the poll -> handle -> produce -> commit loop.

Delivery semantics (style.md, "The consumer loop"):
- offsets are never auto-committed; `offset + 1` is committed per partition only after every
  record the batch produced is acknowledged and the handler's database work is committed;
- a record that can never succeed (the handler raises PoisonMessage) goes to ias.dlq.v1 with its
  original bytes and source headers, then counts as done;
- any other exception is transient: nothing is committed, the consumer seeks back to the first
  record of the batch and retries after a back-off;
- N consecutive dead letters stop the loop (a bad deploy, not bad data).

A handler takes one record (`Handler`: the router, intake's status consumer, the notifier),
or the whole poll (`BatchHandler`: cpias opens the cases of a poll in one transaction). A
batch handler decides which records are poison in `prepare`, record by record, before any
database work, then handles the others together in `handle_batch`, all or nothing.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.exc import DataError

from iaspipe.settings import ServiceSettings
from schemas.reference import reference
from schemas.topics import DLQ, all_topics

log = logging.getLogger(__name__)

RECORDS = Counter("iaspipe_consumer_records_total", "Records handled", ["group", "topic"])
DEAD_LETTERS = Counter(
    "iaspipe_dead_letters_total", "Records sent to the dead-letter topic", ["group", "topic"]
)
LAG = Gauge(
    "iaspipe_consumer_lag",
    "Records behind the end of the partition",
    ["group", "topic", "partition"],
)
HANDLE_SECONDS = Histogram(
    "iaspipe_consumer_batch_seconds", "Time to handle, produce and commit one batch", ["group"]
)
ASSIGNED = Gauge(
    "iaspipe_consumer_assigned_partitions",
    "Partitions assigned to this member of the group (0: not yet joined, or nothing to read)",
    ["group"],
)
RETRIES = Counter(
    "iaspipe_consumer_retries_total", "Batches retried after a transient failure", ["group"]
)


class PoisonMessage(Exception):
    """This record can never be handled: dead-letter it."""


class TooManyDeadLetters(RuntimeError):
    """Too many dead letters in a row: stop instead of draining the topic into the DLQ."""


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


Handler = Callable[[Any], Sequence[Outgoing]]


class BatchHandler(Protocol):
    """Handles the records of one poll together (e.g. in one database transaction)."""

    def prepare(self, record: Any) -> Any:
        """What `handle_batch` needs of one record, called for each record in order; raises
        PoisonMessage for a record that can never be handled (it is dead-lettered and the
        others go on). A batch handler decides that here, before any database work."""

    def handle_batch(self, prepared: Sequence[Any]) -> Sequence[Outgoing]:
        """Handle the records `prepare` accepted (what it returned, in order): all or
        nothing. Any exception means nothing was committed: the poll is retried, except
        PoisonMessage, after which each record is handled again alone, so that the poison
        one is dead-lettered without the others."""


def handle_alone(handler: BatchHandler, record: Any) -> Sequence[Outgoing]:
    """One record as a poll of its own: `prepare`, then `handle_batch`."""
    return handler.handle_batch([handler.prepare(record)])


@dataclass(frozen=True)
class OneByOne:
    """A per-record handler as a BatchHandler: each record is handled, and its work
    committed, when `prepare` meets it."""

    handler: Handler

    def prepare(self, record: Any) -> Sequence[Outgoing]:
        return self.handler(record)

    def handle_batch(self, prepared: Sequence[Sequence[Outgoing]]) -> list[Outgoing]:
        return [o for outgoing in prepared for o in outgoing]


def connection(settings: ServiceSettings, client_id: str) -> dict[str, Any]:
    """What every client of a service shares: where the broker is, who asks, how fast to
    reach the broker again after it went away."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": client_id,
        "reconnect_backoff_max_ms": settings.kafka_reconnect_backoff_max_ms,
        "bootstrap_timeout_ms": settings.kafka_bootstrap_timeout_ms,
    }


def make_producer(settings: ServiceSettings, client_id: str, **overrides: Any) -> KafkaProducer:
    """A producer that never sends a record again by itself: a request that fails fails the
    batch, and the caller sends it again (the relay's next pass, the consumer loop's next try)
    with a new producer. Each record is acknowledged by every replica or the batch fails.

    Why no retries and no idempotence: when the broker was killed while a request was in
    flight and came back on its storage, kafka-python sent the request again under the same
    producer id and sequence; the broker acknowledged it and did not keep it (2 declarations
    of 10 in one run out of three, found by tests/test_e2e_outages.py's mid-publication test).
    A resent batch may be published twice; every consumer recognises a copy by its event id."""
    config: dict[str, Any] = {
        **connection(settings, client_id),
        "acks": "all",
        "enable_idempotence": False,
        "retries": 0,
        "linger_ms": 5,
        "max_block_ms": 5000,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "delivery_timeout_ms": settings.kafka_delivery_timeout_ms,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def make_consumer(
    settings: ServiceSettings, group_id: str, topics: Sequence[str], client_id: str
) -> KafkaConsumer:
    return KafkaConsumer(
        *topics,
        **connection(settings, client_id),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        max_poll_records=settings.kafka_max_poll_records,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )


def consume(
    settings: ServiceSettings,
    *,
    group: str,
    topics: Sequence[str],
    client_id: str,
    handler: Handler | None = None,
    batch_handler: BatchHandler | None = None,
    stop: threading.Event,
) -> None:
    """Run one member of `group` on `topics` until `stop` (see ConsumerLoop) with a handler
    of each record or of each poll; what it produces, and dead letters, go out through the
    member's own producer."""
    ConsumerLoop(
        group=group,
        consumer=make_consumer(settings, group, topics, client_id),
        producer=make_producer(settings, client_id),
        producer_factory=lambda: make_producer(settings, client_id),
        handler=handler,
        batch_handler=batch_handler,
        stop=stop,
        max_consecutive_dead_letters=settings.max_consecutive_dead_letters,
        max_records=settings.kafka_max_poll_records,
        loss_watch=LossWatch(
            lambda: make_admin(settings, f"{client_id}-watch"), ids=dict.fromkeys(topics, "")
        ),
    ).run()


def make_admin(settings: ServiceSettings, client_id: str) -> KafkaAdminClient:
    """An admin client, used to describe topics."""
    return KafkaAdminClient(**connection(settings, client_id), request_timeout_ms=10000)


def broker_reachable(bootstrap_servers: Sequence[str], timeout: float = 1.0) -> bool:
    """A TCP connection to one bootstrap server succeeds (readiness, not a full check)."""
    for server in bootstrap_servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def dead_letter(record: Any, error: str) -> Outgoing:
    headers = [
        *list(record.headers or []),
        ("x-error", error.encode()[:1000]),
        ("x-source-topic", record.topic.encode()),
        ("x-source-partition", str(record.partition).encode()),
        ("x-source-offset", str(record.offset).encode()),
    ]
    return Outgoing(DLQ, record.key, record.value if record.value is not None else b"", headers)


def send_all(
    producer: KafkaProducer, outgoing: Sequence[Outgoing], timeout: float = 30
) -> list[Any]:
    """Send, flush, and check every future: raises if any record was not acknowledged;
    else the records' metadata (topic, partition, offset)."""
    futures = [
        producer.send(o.topic, key=o.key, value=o.value, headers=o.headers) for o in outgoing
    ]
    if not futures:
        return []
    producer.flush(timeout=timeout)
    return [fut.get(timeout=timeout) for fut in futures]


@dataclass
class LossWatch:
    """Notices that the broker lost records it had acknowledged, as a broker started again
    without its data does: a topic written to comes back under another topic id (it was
    created anew). A broker restarted on the storage it keeps keeps its topics' ids, and
    nothing is lost then. (End offsets were compared first: the embedded broker on S3 storage
    reports end offsets that go back and forth, and `make chaos` saw a "loss" every few
    seconds.)

    `note()` records the topics of what one flush wrote (a consumer's are given at the start,
    in `ids`); `lost()` describes them, at most
    every `every_seconds`. A topic's id is learnt at its first description, so a broker that
    loses its data within those first seconds goes unnoticed here (intake's reconciliation
    still publishes what stays unconfirmed)."""

    admin_factory: Callable[[], KafkaAdminClient]
    every_seconds: float = 2.0
    ids: dict[str, str] = field(default_factory=dict)  # topic -> its id when first described
    _admin: KafkaAdminClient | None = None
    _checked_at: float = 0.0

    def note(self, acknowledged: Sequence[Any]) -> None:
        """Record the topics one flush wrote to (the metadata `send_all` returns)."""
        for meta in acknowledged:
            self.ids.setdefault(meta.topic, "")

    def lost(self) -> list[str]:
        """Once, the topics watched that were created anew since (empty: none)."""
        if not self.ids or time.monotonic() - self._checked_at < self.every_seconds:
            return []
        self._checked_at = time.monotonic()
        try:
            if self._admin is None:
                self._admin = self.admin_factory()
            described = self._admin.describe_topics(sorted(self.ids))
        except Exception:
            self.close()
            raise
        # A topic absent for now (error, no id) keeps the id it had: when it is made again,
        # its new id tells.
        now = {t["name"]: t["topic_id"] for t in described if t.get("topic_id")}
        anew = sorted(t for t, known in self.ids.items() if known and now.get(t, known) != known)
        self.ids.update({t: i for t, i in now.items() if t in self.ids})
        if anew:
            log.warning("the broker lost acknowledged records: %s created anew", ", ".join(anew))
        return anew

    def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


@dataclass(kw_only=True)
class ConsumerLoop:
    """Runs one consumer group member until `stop` is set (see module docstring), with
    `handler` (each record) or `batch_handler` (each poll): one of them."""

    group: str
    consumer: KafkaConsumer
    producer: KafkaProducer
    stop: threading.Event
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    max_consecutive_dead_letters: int = 50
    poll_timeout_ms: int = 500
    max_records: int = 200
    backoff_max: float = 10.0
    # Builds a new producer after a failed batch: nothing of the failed one (buffered
    # records, connections to a broker that went away) is carried into the next try.
    producer_factory: Callable[[], KafkaProducer] | None = None
    # Notices that the broker lost the topics read (restarted without its data): they are
    # read again from their beginning. Without it the member would wait at its old position,
    # beyond the new topic's end, and never see what is published again below it.
    loss_watch: LossWatch | None = None
    consecutive_dead: int = field(default=0, init=False)
    _backoff: float = field(default=0.5, init=False)
    _failures: int = field(default=0, init=False)
    _batch: BatchHandler = field(init=False)

    def __post_init__(self) -> None:
        if self.handler is not None and self.batch_handler is None:
            self._batch = OneByOne(self.handler)
        elif self.batch_handler is not None and self.handler is None:
            self._batch = self.batch_handler
        else:
            raise ValueError("a consumer loop takes a handler or a batch handler: one of them")

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.run_once()
        finally:
            self.consumer.close(autocommit=False)
            self.producer.flush(timeout=10)
            self.producer.close(timeout=10)
            if self.loss_watch is not None:
                self.loss_watch.close()

    def run_once(self) -> int:
        self._rewind_lost_topics()
        batch = self.consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
        ASSIGNED.labels(self.group).set(len(self.consumer.assignment()))
        if not batch:
            return 0
        started = time.perf_counter()
        try:
            count = self._handle(batch)
        except TooManyDeadLetters:
            raise
        except Exception as exc:
            RETRIES.labels(self.group).inc()
            self._failures += 1
            log.warning(
                "group=%s batch failed (%s: %s); retrying from its first record",
                self.group,
                type(exc).__name__,
                exc,
            )
            if self._failures >= 3:
                # Let the supervisor build new clients: the broker may have restarted.
                raise
            for tp, records in batch.items():
                self.consumer.seek(tp, records[0].offset)
            if self.producer_factory is not None:
                with contextlib.suppress(Exception):
                    self.producer.close(timeout=0)
                self.producer = self.producer_factory()
            self.stop.wait(self._backoff)
            self._backoff = min(self._backoff * 2, self.backoff_max)
            return 0
        self._backoff = 0.5
        self._failures = 0
        HANDLE_SECONDS.labels(self.group).observe(time.perf_counter() - started)
        return count

    def _rewind_lost_topics(self) -> None:
        if self.loss_watch is None:
            return
        try:
            anew = set(self.loss_watch.lost())
        except Exception as exc:  # the broker away: the poll will say so
            log.debug("group=%s loss watch unavailable (%s)", self.group, type(exc).__name__)
            return
        partitions = [tp for tp in self.consumer.assignment() if tp.topic in anew]
        if partitions:
            log.warning(
                "group=%s reading %s again from the beginning (the broker lost them)",
                self.group,
                ", ".join(sorted(anew)),
            )
            self.consumer.seek_to_beginning(*partitions)

    def _handle(self, batch: dict[TopicPartition, list[Any]]) -> int:
        outgoing: list[Outgoing] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        ready: list[tuple[Any, Any]] = []  # (record, what prepare made of it)
        for tp, records in batch.items():
            for record in records:
                try:
                    ready.append((record, self._batch.prepare(record)))
                    self.consecutive_dead = 0
                except PoisonMessage as exc:
                    outgoing.append(self._dead_letter(record, exc))
                RECORDS.labels(self.group, record.topic).inc()
                offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        outgoing.extend(self._work(ready))
        send_all(self.producer, outgoing)
        self.consumer.commit(offsets)
        for tp, meta in offsets.items():
            high = self.consumer.highwater(tp)
            if high is not None:
                LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(high - meta.offset, 0))
        if self.consecutive_dead >= self.max_consecutive_dead_letters:
            raise TooManyDeadLetters(
                f"{self.consecutive_dead} consecutive dead letters in group {self.group}"
            )
        return sum(len(r) for r in batch.values())

    def _work(self, ready: list[tuple[Any, Any]]) -> list[Outgoing]:
        """`handle_batch` on the records prepared; when it finds a poison record among
        several, each again alone, so that only the poison one is dead-lettered."""
        if not ready:
            return []
        try:
            try:
                return list(self._batch.handle_batch([prepared for _, prepared in ready]))
            except DataError as exc:
                # The database refuses these values for good (too long for a column, a NUL):
                # trying again would hold the partition back for ever.
                raise PoisonMessage(f"refused by the database ({type(exc.orig).__name__})") from exc
        except PoisonMessage as exc:
            if len(ready) == 1:
                return [self._dead_letter(ready[0][0], exc)]
            log.warning(
                "group=%s a record of a batch of %d is poison: each handled alone",
                self.group,
                len(ready),
            )
            return [o for one in ready for o in self._work([one])]

    def _dead_letter(self, record: Any, exc: PoisonMessage) -> Outgoing:
        self.consecutive_dead += 1
        log.warning(
            "group=%s topic=%s partition=%d offset=%d dead-lettered: %s",
            self.group,
            record.topic,
            record.partition,
            record.offset,
            exc,
        )
        DEAD_LETTERS.labels(self.group, record.topic).inc()
        return dead_letter(record, str(exc))


def ensure_topics(
    bootstrap: Sequence[str],
    topics: Sequence[str] | None = None,
    partitions: int = 3,
    replication_factor: int = 1,
    configs: dict[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (idempotent); returns those created."""
    wanted = list(topics) if topics is not None else all_topics(reference())
    admin = KafkaAdminClient(bootstrap_servers=list(bootstrap), client_id="iaspipe-topics")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        created = []
        for topic in missing:
            try:
                admin.create_topics(
                    [NewTopic(topic, partitions, replication_factor, topic_configs=configs or {})]
                )
                created.append(topic)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
