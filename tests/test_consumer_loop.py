"""The consumer loop on a real broker: dead letters, duplicates, transient failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import event, func, select
from sqlalchemy.exc import DataError, OperationalError

from iaspipe import kafka as k
from iaspipe.db import make_engine, upgrade
from iaspipe.kafka import ensure_topics
from iaspipe.settings import ServiceSettings
from schemas import topics
from schemas.events import decode
from schemas.reference import reference
from services.cpias.adapters.orm import CaseRow, Outbox, ProcessedEvent
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
    handler: Callable[[Any], Any] | k.BatchHandler,
    until: Callable[[], bool],
    *,
    max_dead: int = 50,
    timeout: float = 40,
) -> BaseException | None:
    """The loop with a handler of each record, or of each poll (a BatchHandler)."""
    stop = threading.Event()
    s = settings(broker)
    loop = k.ConsumerLoop(
        group=group,
        consumer=k.make_consumer(s, group, [TOPIC], "test"),
        producer=k.make_producer(s, "test"),
        batch_handler=handler if hasattr(handler, "handle_batch") else k.OneByOne(handler),
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


def case_consumer(sessions: Any) -> CaseConsumer:
    settings = CpiasSettings(ack_hours=ACK)
    return CaseConsumer(settings, lambda: SqlCpiasUnitOfWork(sessions), reference())


def case_handler(sessions: Any, per: str = "record") -> Any:
    """The case consumer as the loop's handler: of each record (a unit of work each), or of
    each poll (one unit of work for the poll, as the service runs it)."""
    consumer = case_consumer(sessions)
    return consumer.handle if per == "record" else consumer


def count_cases(sessions: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count(CaseRow.id))) or 0)


@pytest.mark.parametrize("per", ["record", "poll"])
def test_duplicates_open_one_case_and_poison_goes_to_dlq(
    broker: Broker, cpias_db: Any, per: str
) -> None:
    env = submitted()
    routed = routed_to_cpias(env)
    republished = routed_to_cpias(env)  # the router handling the same event again
    assert decode(routed)[0].event_id == decode(republished)[0].event_id
    produce(broker, TOPIC, [routed, b"\xff not json", routed, republished])
    handler = case_handler(cpias_db, per)
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


@pytest.mark.parametrize("per", ["record", "poll"])
def test_consecutive_dead_letters_stop_the_consumer(
    broker: Broker, cpias_db: Any, per: str
) -> None:
    produce(broker, TOPIC, [b"bad"] * 5)
    error = run_loop(
        broker,
        "cpias-bad",
        case_handler(cpias_db, per),
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


class Polls:
    """The case consumer as the loop's batch handler, noting the events of each poll, and
    what `look()` sees before it is handled."""

    def __init__(self, sessions: Any, look: Callable[[], Any] = lambda: None) -> None:
        self.consumer = case_consumer(sessions)
        self.look = look
        self.polls: list[list[str]] = []
        self.seen: list[Any] = []

    def prepare(self, record: Any) -> Any:
        return self.consumer.prepare(record)

    def handle_batch(self, prepared: Any) -> Any:
        self.polls.append([d.event_id for d in prepared])
        self.seen.append(self.look())
        return self.consumer.handle_batch(prepared)


def outbox_topics(sessions: Any) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(Outbox.topic).order_by(Outbox.id)))


def test_a_poll_holding_two_copies_of_an_event_opens_one_case(
    broker: Broker, cpias_db: Any
) -> None:
    first, second = submitted(), submitted()
    copy = routed_to_cpias(first)
    produce(broker, TOPIC, [copy, routed_to_cpias(second), routed_to_cpias(first)])
    polls = Polls(cpias_db)
    error = run_loop(
        broker, "cpias-copies", polls, until=lambda: committed(broker, "cpias-copies") >= 3
    )
    assert error is None
    event_id = str(decode(copy)[0].event_id)
    assert [p.count(event_id) for p in polls.polls] == [2]  # both copies in one poll
    assert count_cases(cpias_db) == 2
    with cpias_db() as s:
        assert set(s.scalars(select(CaseRow.declaration_id))) == {
            str(first.correlation_id),
            str(second.correlation_id),
        }
    # Each case's team alert once; "received" for each case, and again for the copy.
    assert outbox_topics(cpias_db).count(topics.NOTIFICATIONS) == 2
    assert outbox_topics(cpias_db).count(topics.STATUS) == 3


def test_a_poison_record_in_the_middle_of_a_poll_is_dead_lettered_alone(
    broker: Broker, cpias_db: Any
) -> None:
    before, after = submitted(), submitted()
    for_the_ars = routed_to_cpias(submitted()).replace(b'"kind":"cpias"', b'"kind":"ars"')
    produce(
        broker,
        TOPIC,
        [routed_to_cpias(before), b"\xff not json", for_the_ars, routed_to_cpias(after)],
    )
    polls = Polls(cpias_db)
    error = run_loop(
        broker, "cpias-poison", polls, until=lambda: committed(broker, "cpias-poison") >= 4
    )
    assert error is None
    assert [len(p) for p in polls.polls] == [2]  # the two good ones, together
    with cpias_db() as s:
        assert set(s.scalars(select(CaseRow.declaration_id))) == {
            str(before.correlation_id),
            str(after.correlation_id),
        }
    dead = read_all(broker, topics.DLQ, 2)
    assert sorted(dict(d.headers)["x-source-offset"] for d in dead) == [b"1", b"2"]
    assert dead[0].value == b"\xff not json"
    assert committed(broker, "cpias-poison") == 4


def test_a_database_failure_in_the_middle_of_a_poll_commits_nothing_and_is_retried(
    broker: Broker, cpias_db: Any
) -> None:
    envs = [submitted() for _ in range(5)]
    produce(broker, TOPIC, [routed_to_cpias(e) for e in envs])
    engine = cpias_db.kw["bind"]
    failed: list[str] = []

    def lose_the_connection(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The cases and their processed events are written, the history not yet.
        if statement.startswith("INSERT INTO case_history") and not failed:
            failed.append(statement)
            raise OperationalError(statement, None, ConnectionError("server closed the connection"))

    event.listen(engine, "before_cursor_execute", lose_the_connection)
    polls = Polls(cpias_db, lambda: (count_cases(cpias_db), committed(broker, "cpias-db-down")))
    try:
        error = run_loop(
            broker, "cpias-db-down", polls, until=lambda: committed(broker, "cpias-db-down") >= 5
        )
    finally:
        event.remove(engine, "before_cursor_execute", lose_the_connection)
    assert error is None
    assert len(failed) == 1
    assert [len(p) for p in polls.polls] == [5, 5]  # failed, then retried whole
    assert polls.seen == [(0, 0), (0, 0)]  # before the retry: no case, no offset committed
    assert count_cases(cpias_db) == 5
    with cpias_db() as s:
        assert len(set(s.scalars(select(CaseRow.declaration_id)))) == 5
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 5
    assert outbox_topics(cpias_db).count(topics.NOTIFICATIONS) == 5
    assert outbox_topics(cpias_db).count(topics.STATUS) == 5


class Echo:
    """A batch handler without a database: each record's value to an output topic, all or
    nothing; a value b"late poison" is found poison only in handle_batch."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []

    def prepare(self, record: Any) -> bytes:
        if record.value == b"early poison":
            raise k.PoisonMessage("told by prepare")
        return bytes(record.value)

    def handle_batch(self, values: list[bytes]) -> list[k.Outgoing]:
        self.batches.append(list(values))
        if b"late poison" in values:
            raise k.PoisonMessage("told by handle_batch")
        if b"NUL" in values:  # what PostgreSQL answers a text holding a NUL
            raise DataError("INSERT ...", {}, ValueError("text fields cannot contain NUL"))
        return [k.Outgoing(ECHO, None, v) for v in values]


ECHO = "ias.test-echo.v1"


def test_a_poison_record_found_by_handle_batch_is_dead_lettered_and_the_others_handled_alone(
    broker: Broker,
) -> None:
    ensure_topics([broker.bootstrap], [ECHO])
    values = [b"one", b"early poison", b"two", b"late poison", b"three"]
    produce(broker, TOPIC, values)
    echo = Echo()
    error = run_loop(broker, "echo", echo, until=lambda: committed(broker, "echo") >= 5)
    assert error is None
    assert echo.batches == [
        [b"one", b"two", b"late poison", b"three"],
        [b"one"],
        [b"two"],
        [b"late poison"],
        [b"three"],
    ]
    assert sorted(r.value for r in read_all(broker, ECHO, 3)) == [b"one", b"three", b"two"]
    dead = read_all(broker, topics.DLQ, 2)
    assert sorted(r.value for r in dead) == [b"early poison", b"late poison"]


def test_a_record_the_database_refuses_for_good_is_dead_lettered_not_retried(
    broker: Broker,
) -> None:
    """A value the database can never store (a DataError: too long for its column, a NUL)
    would fail every try and hold its partition back: it is poison, dead-lettered alone,
    and the records after it are handled."""
    ensure_topics([broker.bootstrap], [ECHO])
    produce(broker, TOPIC, [b"one", b"NUL", b"two"])
    echo = Echo()
    error = run_loop(broker, "echo-data", echo, until=lambda: committed(broker, "echo-data") >= 3)
    assert error is None
    assert echo.batches == [[b"one", b"NUL", b"two"], [b"one"], [b"NUL"], [b"two"]]
    assert sorted(r.value for r in read_all(broker, ECHO, 2)) == [b"one", b"two"]
    [dead] = read_all(broker, topics.DLQ, 1)
    assert dead.value == b"NUL"
    assert b"refused by the database" in dict(dead.headers)["x-error"]
