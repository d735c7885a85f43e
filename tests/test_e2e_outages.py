"""Short versions of two of `make chaos`'s faults (the others, kill -9 of each service and a
broker that lost its data, are in test_e2e_faults.py and test_stack.py): PostgreSQL stopped
under intake, and the broker killed and started again on the storage it keeps (S3)."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bench.infra import S3, Postgres, start_s3_broker
from cli.broker import free_port
from iaspipe.kafka import (
    LossWatch,
    Outgoing,
    consume,
    ensure_topics,
    make_admin,
    make_producer,
    send_all,
)
from iaspipe.settings import ServiceSettings
from schemas import topics
from tests.conftest import IS_CI, Broker
from tests.factories import load_sample
from tests.pipeline import Pipeline, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def workdir(request: pytest.FixtureRequest) -> Iterator[Path]:
    # Not pytest's tmp_path: PostgreSQL runs as its own user, who cannot enter root's 0700
    # pytest directories. Kept, with the processes' logs, when the test failed.
    base = Path(tempfile.mkdtemp(prefix="iaspipe-outage-"))
    base.chmod(0o755)
    yield base
    if request.session.testsfailed:
        print(f"logs kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def own_postgres(workdir: Path) -> Iterator[Postgres]:
    """A PostgreSQL server of the test's own, so that the test can stop it."""
    try:
        pg = Postgres(workdir / "pg")
    except (RuntimeError, OSError) as exc:
        if IS_CI:
            pytest.fail(f"PostgreSQL's initdb and pg_ctl must be there in CI: {exc}")
        pytest.skip(f"PostgreSQL's initdb and pg_ctl are not on this machine: {exc}")
    pg.start()
    pg.create("intake")
    yield pg
    pg.stop()


def stored(pg: Postgres) -> int:
    with psycopg.connect(pg.dsn("intake")) as conn:
        row = conn.execute("SELECT count(*) FROM declarations").fetchone()
    assert row is not None
    return int(row[0])


def test_intake_answers_503_with_retry_after_while_postgresql_is_down_then_stores_the_retry_once(
    broker: object, workdir: Path, own_postgres: Postgres
) -> None:
    p = Pipeline(broker, workdir, intake={"DATABASE_URL": own_postgres.url("intake")})  # type: ignore[arg-type]
    try:
        p.start("intake")
        declarant = p.tokens.headers("declarant", finess="690781810")
        before = p.post("intake", "/v1/declarations", json=load_sample(), headers=declarant)
        assert before.status_code == 201

        own_postgres.stop()
        keyed = {**declarant, "Idempotency-Key": "outage-retry-1"}
        down = p.post("intake", "/v1/declarations", json=load_sample(), headers=keyed)
        assert down.status_code == 503, down.text
        assert 1 <= int(down.headers["Retry-After"]) <= 60
        assert down.json()["detail"]  # the problem format of every error
        assert down.json()["errors"][0]["rule"] == "database_unavailable"
        read = p.get("intake", f"/v1/declarations/{before.json()['id']}", headers=declarant)
        assert read.status_code == 503 and "Retry-After" in read.headers
        assert "Traceback" not in p.log_text("intake")

        own_postgres.start()

        def retried() -> httpx.Response | None:
            r = p.post("intake", "/v1/declarations", json=load_sample(), headers=keyed)
            return r if r.status_code == 201 else None

        first = eventually(retried, timeout=30, every=1, what="accepted once PostgreSQL is back")
        again = p.post("intake", "/v1/declarations", json=load_sample(), headers=keyed)
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert stored(own_postgres) == 2
    finally:
        p.stop_all()


@dataclass
class S3Broker:
    """The embedded broker keeping its data on a local S3 server, restartable on it."""

    base: Path

    def __post_init__(self) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.s3 = S3(self.base)
        self.storage = self.s3.bucket("broker")
        self.start()

    def start(self, *, data_lost: bool = False) -> None:
        if data_lost:
            self.buckets = getattr(self, "buckets", 0) + 1
            self.storage = self.s3.bucket(f"broker-{self.buckets}")
        self.proc = start_s3_broker(self.port, self.storage, self.s3, self.base / "broker.log")
        ensure_topics([self.bootstrap], partitions=1)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.kill9()
        self.s3.stop()


def one_case_each(p: Pipeline, ids: list[str]) -> None:
    """Start the router and cpias; every declaration gets its case, and only one."""
    p.start("router", "cpias")
    investigator = p.tokens.headers("cpias_investigator", cpias="cpias-ara")

    def cased() -> list[str]:
        r = p.get("cpias", "/v1/cases", params={"limit": 100}, headers=investigator)
        return [c["declaration_id"] for c in r.json()["items"]] if r.status_code == 200 else []

    eventually(lambda: set(ids) <= set(cased()), timeout=90, what="a case per declaration")
    assert sorted(cased()) == sorted(ids)


def test_a_broker_restarted_on_its_kept_storage_loses_nothing(workdir: Path) -> None:
    broker = S3Broker(workdir)
    p = Pipeline(broker, workdir)  # type: ignore[arg-type]
    try:
        p.start("intake")
        declarant = p.tokens.headers("declarant", finess="690781810")
        ids = [
            p.post("intake", "/v1/declarations", json=load_sample(), headers=declarant).json()["id"]
            for _ in range(5)
        ]

        def published() -> bool:
            # Every row acknowledged and marked (the backlog gauge is refreshed every 2 s, so
            # it can still read 0 from before the submissions).
            metrics = httpx.get(f"{p.url('intake')}/metrics", timeout=5).text
            done = re.search(
                r'iaspipe_outbox_publish_latency_seconds_count\{service="intake"\} (\d+)', metrics
            )
            return done is not None and int(done.group(1)) >= len(ids)

        # Acknowledged by the broker while nobody consumes them, then the broker killed.
        eventually(published, timeout=30, what="the outbox published")
        broker.kill9()
        broker.start()
        one_case_each(p, ids)
        # Nothing was lost, so the relay had nothing to publish again.
        metrics = httpx.get(f"{p.url('intake')}/metrics", timeout=5).text
        assert 'iaspipe_outbox_republished_after_loss_total{service="intake"}' not in metrics
    finally:
        p.stop_all()
        broker.close()


def test_a_broker_killed_while_the_relay_publishes_loses_nothing(workdir: Path) -> None:
    """Killed -9 three times while declarations keep coming, so that a produce request is in
    flight at some kill: what the broker had not acknowledged is sent again by the relay, and
    never under a sequence the restarted broker takes for one it already has (it acknowledged
    such a request without keeping its records: 2 declarations of 10 lost in one run of three
    when the relay's producer retried by itself). Reconciliation (10 min) cannot hide a loss."""
    broker = S3Broker(workdir)
    p = Pipeline(broker, workdir)  # type: ignore[arg-type]
    try:
        p.start("intake")
        declarant = p.tokens.headers("declarant", finess="690781810")
        ids: list[str] = []

        def submit(n: int) -> None:
            for _ in range(n):
                r = p.post("intake", "/v1/declarations", json=load_sample(), headers=declarant)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])

        for _ in range(3):
            stream = threading.Thread(target=submit, args=(8,))
            stream.start()
            time.sleep(0.25)  # some published, some on their way
            broker.kill9()
            broker.start()
            stream.join(30)
        assert len(ids) == 24
        one_case_each(p, ids)
    finally:
        p.stop_all()
        broker.close()


def test_the_loss_watch_tells_a_broker_that_lost_its_topics_once_and_not_one_that_kept_them(
    workdir: Path,
) -> None:
    broker = S3Broker(workdir)
    settings = ServiceSettings(kafka_bootstrap_servers=[broker.bootstrap])
    producer = make_producer(settings, "loss-watch-test")
    watch = LossWatch(lambda: make_admin(settings, "loss-watch-test"), every_seconds=0)
    try:
        watch.note(send_all(producer, [Outgoing(topics.STATUS, b"k", b"v")]))
        assert watch.lost() == []

        broker.kill9()
        broker.start()  # on the storage it keeps
        time.sleep(1)
        assert watch.lost() == []
        assert watch.lost() == []

        broker.kill9()
        broker.start(data_lost=True)  # topics made anew on an empty storage
        assert eventually(watch.lost, what="the loss noticed") == [topics.STATUS]
        assert watch.lost() == []  # once
    finally:
        watch.close()
        producer.close(timeout=0)
        broker.close()


def test_a_consumer_reads_again_the_topics_a_broker_lost(broker: Broker) -> None:
    """Its old position is beyond the end of the topic made anew: without the rewind it would
    wait there, and what is published again below it would never be read."""
    topic = "test.rewind.v1"
    ensure_topics([broker.bootstrap], [topic], partitions=1)
    settings = ServiceSettings(kafka_bootstrap_servers=[broker.bootstrap])
    producer = make_producer(settings, "rewind-test")
    send_all(producer, [Outgoing(topic, b"k", f"before-{i}".encode()) for i in range(10)])
    producer.close(timeout=5)
    seen: list[bytes] = []
    stop = threading.Event()

    def handle(record: Any) -> list[Outgoing]:
        seen.append(record.value)
        return []

    consumer = threading.Thread(
        target=consume,
        kwargs={
            "settings": settings,
            "group": "rewind-test",
            "topics": [topic],
            "client_id": "rewind-test",
            "handler": handle,
            "stop": stop,
        },
        daemon=True,
    )
    consumer.start()
    try:
        eventually(lambda: len(seen) == 10, what="the first ten read")
        broker.stop()
        broker.restart()  # memory storage: every topic made anew, empty
        ensure_topics([broker.bootstrap], [topic], partitions=1)
        producer = make_producer(settings, "rewind-test-2")
        send_all(producer, [Outgoing(topic, b"k", f"after-{i}".encode()) for i in range(3)])
        producer.close(timeout=5)
        eventually(
            lambda: (
                [v for v in seen if v.startswith(b"after")] == [b"after-0", b"after-1", b"after-2"]
            ),
            timeout=60,
            what="what was published after the loss read",
        )
    finally:
        stop.set()
        consumer.join(30)
