"""The router as a process: topics at start, another client reads its output, metrics."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from kafka import KafkaAdminClient, KafkaProducer

from cli.broker import free_port, start_broker
from schemas import topics
from schemas.reference import reference
from tests.conftest import Broker
from tests.events import submitted
from tests.factories import make_declaration
from tests.kafka_read import read_topics
from tests.pipeline import Pipeline, eventually

pytestmark = pytest.mark.e2e


class BareBroker(Broker):
    """A broker with no topic at all: the router must create them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc = start_broker(self.port)


def test_router_creates_every_topic_and_another_client_reads_its_json(tmp_path: Path) -> None:
    broker = BareBroker()
    p = Pipeline(broker, tmp_path, router={"TOPIC_PARTITIONS": "2"})
    try:
        p.start("router")
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        wanted = set(topics.all_topics(reference()))
        eventually(lambda: wanted <= set(admin.list_topics()), what="topics created")
        described = admin.describe_topics(["ias.to.spf.v1"])
        assert len(described[0]["partitions"]) == 2
        admin.close()

        env = submitted(make_declaration())
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        producer.send(
            topics.DECLARATIONS, key=str(env.correlation_id).encode(), value=env.to_bytes()
        ).get(10)
        producer.send(topics.DECLARATIONS, key=b"x", value=b"not an event").get(10)
        producer.close()

        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": "ars-team",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe(["ias.to.ars-84.v1"])
        message = None
        deadline = time.monotonic() + 60
        while message is None and time.monotonic() < deadline:
            polled = consumer.poll(1.0)
            if polled is not None and polled.error() is None:
                message = polled
        consumer.close()
        assert message is not None, "confluent-kafka read nothing"
        assert message.key() == str(env.correlation_id).encode()
        event = json.loads(message.value())
        assert event["event_type"] == "DeclarationRouted"
        assert event["payload"]["recipient"]["legal_basis"] == ["R1413-79", "R6111-17"]
        assert event["payload"]["rules_version"] == "2026-11-v2"
        assert event["payload"]["declaration"]["establishment"]["finess"] == "690781810"

        dead = eventually(
            lambda: read_topics(broker.bootstrap, [topics.DLQ], expect=1, timeout=2),
            what="dead letter",
        )
        assert dead[0].value == b"not an event"
        assert dict(dead[0].headers)["x-source-topic"] == topics.DECLARATIONS.encode()

        metrics = p.get("router", "/metrics").text
        for pattern in (
            r'router_routed_total\{recipient_kind="ars",region="84"\} 1\.0',
            r'router_decisions_total\{kind="initial",priority="high",region="84"\} 1\.0',
            r"iaspipe_dead_letters_total\{[^}]*\} 1\.0",
            r"iaspipe_consumer_lag\{",
            r"router_processing_seconds_count 1\.0",
        ):
            assert re.search(pattern, metrics), pattern
    finally:
        p.stop_all()
        broker.stop()
