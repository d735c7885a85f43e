"""The consumer loop on a real broker: dead letters, duplicates, transient failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import func, select

from iaspipe import kafka as k
from iaspipe.db import make_engine, upgrade
from iaspipe.settings import ServiceSettings
from schemas import topics
from schemas.events import decode
from schemas.reference import reference
from services.cpias.adapters.orm import CaseRow, Outbox
from services.cpias.adapters.uow import SqlCpiasUnitOfWork
from services.cpias.app import MIGRATIONS
from services.cpias.consumer import CaseConsumer
from services.cpias.settings import CpiasSettings
from tests.conftest import Broker
from tests.events import routed_to_cpias, submitted

ACK = {"urgent": 4, "high": 24, "normal": 72}
TOPIC = "ias.to.cpias-ara.v1"


def settings(broker: Broker) -> ServiceSettings:
    return ServiceSettings(kafka_bootstrap_servers=[broker.bootstrap])


def produce(broker: Broker, topic: str, values: list[bytes], key: bytes = b"k") -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for value in values:
        producer.send(topic, key=key, value=value).get(10)
    producer.close()


def run_loop(
    broker: Broker,
    group: str,
    handler: Callable[[Any], Any],
    until: Callable[[], bool],
    *,
    max_dead: int = 50,
    timeout: float = 40,
) -> BaseException | None:
    stop = threading.Event()
    s = settings(broker)
    loop = k.ConsumerLoop(
        group=group,
        consumer=k.make_consumer(s, group, [TOPIC], "test"),
        producer=k.make_producer(s, "test"),
        handler=handler,
        stop=stop,
        max_consecutive_dead_letters=max_dead,
    )
    error: list[BaseException] = []

    def body() -> None:
        try:
            loop.run()
        except BaseException as exc:  # the test inspects it
            error.append(exc)
            stop.set()

    thread = threading.Thread(target=body)
    thread.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until() and not stop.is_set():
        time.sleep(0.1)
    stop.set()
    thread.join(20)
    return error[0] if error else None


def committed(broker: Broker, group: str) -> int:
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False
    )
    total = sum((consumer.committed(TopicPartition(TOPIC, p)) or 0) for p in range(3))
    consumer.close()
    return total


def read_all(broker: Broker, topic: str, expect: int, timeout: float = 15) -> list[Any]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < expect and time.monotonic() < deadline:
        out.extend(consumer)
    consumer.close()
    return out


@pytest.fixture
def cpias_db(database_url: str):  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import sessionmaker

    engine = make_engine(database_url)
    upgrade(engine, MIGRATIONS)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def case_handler(sessions: Any) -> Any:
    settings = CpiasSettings(ack_hours=ACK)
    return CaseConsumer(settings, lambda: SqlCpiasUnitOfWork(sessions), reference()).handle


def count_cases(sessions: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count(CaseRow.id))) or 0)


def test_duplicates_open_one_case_and_poison_goes_to_dlq(broker: Broker, cpias_db: Any) -> None:
    env = submitted()
    routed = routed_to_cpias(env)
    republished = routed_to_cpias(env)  # the router handling the same event again
    assert decode(routed)[0].event_id == decode(republished)[0].event_id
    produce(broker, TOPIC, [routed, b"\xff not json", routed, republished])
    handler = case_handler(cpias_db)
    error = run_loop(
        broker, "cpias-test", handler, until=lambda: committed(broker, "cpias-test") >= 4
    )
    assert error is None
    assert count_cases(cpias_db) == 1
    with cpias_db() as s:
        rows = [(o.topic, o.event_id) for o in s.scalars(select(Outbox))]
    # One new-case alert for the CPias team, and one "received" status event: each duplicate
    # says it again under the same event id (for an intake that never got the first).
    assert [t for t, _ in rows].count(topics.NOTIFICATIONS) == 1
    assert len({e for t, e in rows if t == topics.STATUS}) == 1
    assert [t for t, _ in rows].count(topics.STATUS) == 3
    dead = read_all(broker, topics.DLQ, 1)
    assert len(dead) == 1
    assert dead[0].value == b"\xff not json"
    headers = dict(dead[0].headers)
    assert headers["x-source-topic"] == TOPIC.encode()
    assert headers["x-source-offset"] == b"1"
    assert headers["x-source-partition"].isdigit()
    assert b"envelope" in headers["x-error"]
    assert committed(broker, "cpias-test") == 4


def test_transient_failure_is_not_committed_and_retried(broker: Broker, cpias_db: Any) -> None:
    produce(broker, TOPIC, [routed_to_cpias(submitted())])
    real = case_handler(cpias_db)
    calls: list[int] = []
    offsets_when_failing: list[int] = []

    def flaky(record: Any) -> Any:
        calls.append(record.offset)
        if len(calls) == 1:
            offsets_when_failing.append(committed(broker, "cpias-flaky"))
            raise ConnectionError("database unavailable")
        return real(record)

    error = run_loop(
        broker, "cpias-flaky", flaky, until=lambda: committed(broker, "cpias-flaky") >= 1
    )
    assert error is None
    assert calls == [0, 0]  # the same record, again
    assert offsets_when_failing == [0]
    assert count_cases(cpias_db) == 1


def test_consecutive_dead_letters_stop_the_consumer(broker: Broker, cpias_db: Any) -> None:
    produce(broker, TOPIC, [b"bad"] * 5)
    error = run_loop(
        broker,
        "cpias-bad",
        case_handler(cpias_db),
        until=lambda: False,
        max_dead=3,
        timeout=30,
    )
    assert isinstance(error, k.TooManyDeadLetters)
    assert committed(broker, "cpias-bad") >= 3


def test_consumers_wait_for_records_as_long_as_the_setting_says(session_broker: Broker) -> None:
    default = k.make_consumer(settings(session_broker), "wait-default", [TOPIC], "test")
    chosen = k.make_consumer(
        ServiceSettings(
            kafka_bootstrap_servers=[session_broker.bootstrap], kafka_fetch_max_wait_ms=10
        ),
        "wait-10",
        [TOPIC],
        "test",
    )
    try:
        assert default.config["fetch_max_wait_ms"] == 50
        assert chosen.config["fetch_max_wait_ms"] == 10
    finally:
        default.close(autocommit=False)
        chosen.close(autocommit=False)
