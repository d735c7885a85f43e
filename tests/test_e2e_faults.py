"""Faults with real processes: broker outage, a lost message, kill -9 mid-stream."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas import topics
from schemas.events import (
    DeclarationRouted,
    RecipientAcknowledged,
    decode,
    envelope,
    utcnow,
)
from schemas.reference import reference
from services.router.domain.decide import decide
from tests.conftest import Broker
from tests.events import ROUTING, submitted
from tests.factories import declaration_in, make_declaration
from tests.kafka_read import read_to_end, read_topics
from tests.pipeline import Pipeline, eventually

pytestmark = pytest.mark.e2e


def cases(p: Pipeline) -> list[dict]:
    return list(p.get("cpias", "/v1/cases", params={"limit": 500}).json()["items"])


def test_broker_outage_never_refuses_and_publishes_each_once_when_back(
    broker: Broker, tmp_path: Path
) -> None:
    p = Pipeline(broker, tmp_path)
    try:
        p.start("intake")
        broker.stop()
        ids = []
        for i in range(5):
            r = p.post("intake", "/v1/declarations", json=declaration_in("69" if i % 2 else "29"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        assert p.get("intake", "/readyz").status_code == 503
        time.sleep(2)  # the relay is failing meanwhile
        broker.restart()
        records = eventually(
            lambda: (
                (r := read_topics(broker.bootstrap, [topics.DECLARATIONS], expect=5, timeout=5))
                and len(r) >= 5
                and r
            ),
            timeout=90,
            what="declarations published after the broker came back",
        )
        time.sleep(3)  # anything published twice would show now
        records = read_to_end(broker.bootstrap, [topics.DECLARATIONS])
        keys = sorted(r.key.decode() for r in records)
        assert keys == sorted(ids)
        event_ids = [decode(r.value)[0].event_id for r in records]
        assert len(set(event_ids)) == 5
        p.start("router", "cpias")
        eventually(lambda: len(cases(p)) == 5, timeout=90, what="five cases")
        assert sorted(c["declaration_id"] for c in cases(p)) == sorted(ids)
    finally:
        p.stop_all()


def lose_everything_published_so_far(broker: Broker, group: str) -> int:
    """Commit the group's offsets at the end of ias.declarations.v1: as if a router had
    consumed those messages and dropped them."""
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False
    )
    parts = [
        TopicPartition(topics.DECLARATIONS, i)
        for i in consumer.partitions_for_topic(topics.DECLARATIONS)
    ]
    ends = consumer.end_offsets(parts)
    from kafka.structs import OffsetAndMetadata

    consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in ends.items()})
    consumer.close()
    return sum(ends.values())


def test_lost_declaration_is_published_again_and_ends_in_exactly_one_case(
    broker: Broker, tmp_path: Path
) -> None:
    p = Pipeline(
        broker, tmp_path, intake={"RECONCILE_AFTER_SECONDS": "3", "RECONCILE_EVERY_SECONDS": "0.5"}
    )
    try:
        p.start("intake")
        created = p.post("intake", "/v1/declarations", json=make_declaration()).json()
        eventually(
            lambda: read_topics(broker.bootstrap, [topics.DECLARATIONS], expect=1, timeout=2),
            what="first copy published",
        )
        assert lose_everything_published_so_far(broker, "router") >= 1
        p.start("router", "cpias")
        eventually(
            lambda: p.get("intake", f"/v1/declarations/{created['id']}").json()["cpias_confirmed"],
            timeout=90,
            what="CPias confirmation",
        )
        time.sleep(5)  # later republications, if any, must not open a second case
        mine = [c for c in cases(p) if c["declaration_id"] == created["id"]]
        assert len(mine) == 1
        metrics = p.get("intake", "/metrics").text
        republished = re.search(r"^intake_declarations_republished_total (\S+)", metrics, re.M)
        assert republished and float(republished.group(1)) >= 1
        copies = read_to_end(broker.bootstrap, [topics.DECLARATIONS])
        assert len(copies) >= 2
        assert len({decode(r.value)[0].event_id for r in copies}) == 1
    finally:
        p.stop_all()


def test_an_awaited_recipient_gets_copies_until_its_system_acknowledges(
    broker: Broker, tmp_path: Path
) -> None:
    """An ARS whose system acknowledges on ias.status.v1 (INTAKE_AWAITED_RECIPIENT_KINDS):
    the CPias's confirmation is not enough, intake publishes the declaration again until the
    ARS's RecipientAcknowledged arrives, then stops; the declaration says who confirmed."""
    p = Pipeline(
        broker,
        tmp_path,
        intake={
            "RECONCILE_AFTER_SECONDS": "2",
            "RECONCILE_EVERY_SECONDS": "0.5",
            "AWAITED_RECIPIENT_KINDS": '["ars"]',
        },
    )

    def view() -> dict:
        return dict(p.get("intake", f"/v1/declarations/{did}").json())

    def copies() -> int:
        records = read_to_end(broker.bootstrap, [topics.DECLARATIONS])
        return sum(1 for r in records if r.key.decode() == did)

    def steady_copies() -> int | None:
        before = copies()
        time.sleep(1.5)
        return before if copies() == before else None

    try:
        p.start("intake", "router", "cpias")
        did = p.post("intake", "/v1/declarations", json=make_declaration()).json()["id"]
        eventually(lambda: view()["cpias_confirmed"], timeout=90, what="CPias confirmation")
        ars = next(r for r in view()["recipients"] if r.startswith("ars-"))
        eventually(lambda: copies() >= 3, timeout=60, what="copies while the ARS is silent")
        cpias = [r for r in view()["recipients"] if r.startswith("cpias-")]
        assert [c["recipient"] for c in view()["confirmed_by"]] == cpias  # the CPias alone

        # The ARS's system reads its topic and says it holds the declaration.
        [routed] = read_topics(broker.bootstrap, [topics.recipient_topic(ars)], expect=1)[:1]
        env, payload = decode(routed.value)
        assert isinstance(payload, DeclarationRouted) and payload.declaration_id == did
        said = RecipientAcknowledged(
            declaration_id=did, recipient_id=payload.recipient.id, acknowledged_at=utcnow()
        )
        ack = envelope("RecipientAcknowledged", said, correlation_id=env.correlation_id)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send(topics.STATUS, key=did.encode(), value=ack.to_bytes()).get(timeout=10)
        producer.close()
        eventually(
            lambda: ars in [c["recipient"] for c in view()["confirmed_by"]],
            timeout=60,
            what="the ARS's confirmation",
        )
        # A pass that read before the confirmation may still publish one copy: the count
        # settles (the same two reads 1.5 s apart), then stays.
        settled = eventually(steady_copies, timeout=60, what="copies settled")
        time.sleep(5)  # two reconciliation delays and more: no copy once confirmed
        assert copies() == settled
    finally:
        p.stop_all()


def test_a_lost_complement_is_published_again_and_attached_once(
    broker: Broker, tmp_path: Path
) -> None:
    """A complement the broker lost on the way to the router: intake publishes it again until
    the CPias says it is attached, naming it; then the copies stop."""
    p = Pipeline(
        broker, tmp_path, intake={"RECONCILE_AFTER_SECONDS": "3", "RECONCILE_EVERY_SECONDS": "0.5"}
    )
    try:
        p.start("intake", "router", "cpias")
        did = p.post("intake", "/v1/declarations", json=make_declaration()).json()["id"]
        eventually(
            lambda: p.get("intake", f"/v1/declarations/{did}").json()["cpias_confirmed"],
            timeout=90,
            what="case opened",
        )
        (case_id,) = [c["id"] for c in cases(p) if c["declaration_id"] == did]
        p.stop("router")
        body = {
            "cause_analysis": "Bionettoyage insuffisant des chambres",
            "action_plan": [{"action": "Audit des pratiques", "due_date": "2027-01-15"}],
        }
        answer = p.post("intake", f"/v1/declarations/{did}/complement", json=body)
        assert answer.status_code == 202
        cid = uuid.UUID(answer.json()["id"])
        eventually(
            lambda: any(
                decode(r.value)[0].event_id == cid
                for r in read_topics(broker.bootstrap, [topics.DECLARATIONS], expect=2, timeout=2)
            ),
            what="complement published",
        )
        assert lose_everything_published_so_far(broker, "router") >= 2
        p.start("router")

        def attached() -> list[dict]:
            return list(p.get("cpias", f"/v1/cases/{case_id}").json()["complements"])

        eventually(lambda: len(attached()) == 1, timeout=90, what="complement attached")

        def republished() -> float:
            metrics = p.get("intake", "/metrics").text
            found = re.search(r"^intake_complements_republished_total (\S+)", metrics, re.M)
            return float(found.group(1)) if found else 0.0

        def confirmed() -> bool:
            timeline = p.get("intake", f"/v1/declarations/{did}").json()["timeline"]
            return any(t["kind"] == "complement_received" for t in timeline)

        eventually(confirmed, timeout=60, what="complement confirmed to intake")
        assert republished() >= 1
        time.sleep(2)  # a pass under way when the confirmation came may still send one
        settled = republished()
        time.sleep(6)  # two reconciliation delays: no copy once confirmed
        assert republished() == settled
        assert len(attached()) == 1
    finally:
        p.stop_all()


def test_router_killed_mid_stream_loses_nothing(broker: Broker, tmp_path: Path) -> None:
    n = 1000
    envs = []
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=20)
    deps = list(reference().departements)
    for i in range(n):
        env = submitted(
            declaration_in(deps[i % len(deps)]),
            reference=f"IAS-2026-00-{i:06d}",
            declaration_id=str(uuid.uuid4()),
        )
        envs.append(env)
        producer.send(
            topics.DECLARATIONS, key=env.correlation_id.bytes.hex().encode(), value=env.to_bytes()
        )
    producer.flush()
    producer.close()
    p = Pipeline(broker, tmp_path, router={"KAFKA_MAX_POLL_RECORDS": "20"})
    try:
        p.start("router")
        eventually(lambda: decisions(p) >= 60, every=0.02, timeout=60, what="router under way")
        p.kill9("router")
        partial = len(read_topics(broker.bootstrap, [topics.ROUTING], timeout=2, idle_ms=500))
        assert partial < n, "the router finished before it was killed"
        p.start("router")
        expected: dict[str, set[str]] = defaultdict(set)
        for env in envs:
            decision = decide(submitted_declaration(env), ROUTING)
            for r in decision.recipients:
                expected[r.topic].add(str(env.correlation_id))
        routing = eventually(
            lambda: (
                (r := read_topics(broker.bootstrap, [topics.ROUTING], expect=n, timeout=10))
                and len({decode(x.value)[1].declaration_id for x in r}) == n
                and r
            ),  # type: ignore[attr-defined]
            timeout=120,
            what="every declaration routed",
        )
        assert len(routing) >= n
        all_topics = sorted(expected)
        total = sum(len(v) for v in expected.values())
        records = read_topics(broker.bootstrap, all_topics, expect=total, timeout=60)
        got: dict[str, set[str]] = defaultdict(set)
        ids_by_copy: dict[tuple[str, str], set[uuid.UUID]] = defaultdict(set)
        for rec in records:
            env, payload = decode(rec.value)
            got[rec.topic].add(payload.declaration_id)  # type: ignore[attr-defined]
            ids_by_copy[(rec.topic, payload.declaration_id)].add(env.event_id)  # type: ignore[attr-defined]
        for topic in all_topics:
            assert got[topic] == expected[topic], topic
        assert all(len(v) == 1 for v in ids_by_copy.values()), "copies with different ids"
        assert len(records) >= total
    finally:
        p.stop_all()


def decisions(p: Pipeline) -> float:
    text = p.get("router", "/metrics").text
    return sum(float(v) for v in re.findall(r"^router_decisions_total\{[^}]*\} (\S+)", text, re.M))


def submitted_declaration(env):  # type: ignore[no-untyped-def]
    return decode(env.to_bytes())[1].declaration


def test_cpias_killed_between_database_and_offset_commits_keeps_one_case_each(
    broker: Broker, tmp_path: Path
) -> None:
    n = 400
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=20)
    ids = []
    for i in range(n):
        env = submitted(make_declaration(), reference=f"IAS-2026-84-{i:06d}")
        ids.append(str(env.correlation_id))
        producer.send(
            topics.DECLARATIONS, key=str(env.correlation_id).encode(), value=env.to_bytes()
        )
    producer.flush()
    producer.close()
    # cpias commits the cases of a poll in one transaction, then the poll's offsets: a kill
    # lands between the two only by chance. So cpias is killed while it opens cases (most
    # likely inside a poll's transaction), then comes back in a new consumer group, which is
    # delivered every record again: as if none of its offset commits had reached the broker,
    # each of them killed after its database commit.
    p = Pipeline(broker, tmp_path, cpias={"KAFKA_MAX_POLL_RECORDS": "50"})
    try:
        p.start("router")
        eventually(
            lambda: (
                len(read_topics(broker.bootstrap, ["ias.to.cpias-ara.v1"], expect=n, timeout=5))
                >= n
            ),
            timeout=120,
            what="all routed to the CPias",
        )
        p.start("cpias")

        def opened() -> int:
            with sqlite3.connect(tmp_path / "cpias.db", timeout=30) as db:
                return int(db.execute("SELECT count(*) FROM cases").fetchone()[0])

        eventually(lambda: opened() >= 50, every=0.05, timeout=60, what="cases being opened")
        p.kill9("cpias")
        before = opened()
        assert before < n, "cpias opened every case before it was killed"
        p.extra["cpias"]["CONSUMER_GROUP"] = "cpias-again"
        p.start("cpias")
        eventually(lambda: opened() >= n, timeout=120, what="every case opened")
        time.sleep(2)
        listed = p.get("cpias", "/v1/cases", params={"limit": 500}).json()
        assert listed["total"] == n
        assert sorted(c["declaration_id"] for c in listed["items"]) == sorted(ids)
        metrics = p.get("cpias", "/metrics").text
        dup = re.search(r"^cpias_duplicate_events_total (\S+)", metrics, re.M)
        assert dup and float(dup.group(1)) >= before, "the records handled were not skipped"
    finally:
        p.stop_all()
