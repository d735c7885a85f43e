"""Router throughput against a raw kafka-python consume -> produce loop, same broker, same run.

The raw loop forwards each record to as many topics as the router writes for it (three
recipients and the decision log) and commits like the router does: it is the floor cost of
at-least-once forwarding with kafka-python, without decoding, rules or encoding.

A third loop, "prerouted", sends the router's own messages (their sizes and headers), computed
before the clock starts: the cost of the router's output alone, without routing. The gap
between raw and prerouted is what the messages' shape costs; the gap between prerouted and
router is `route` itself."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from kafka import KafkaProducer

from bench.load import SAMPLE
from cli.broker import free_port, start_broker
from iaspipe import kafka as k
from iaspipe.http.serving import settle_heap
from iaspipe.kafka import ensure_topics
from iaspipe.settings import ServiceSettings
from schemas.declaration import Declaration
from schemas.events import DeclarationSubmitted, envelope, utcnow
from schemas.reference import reference
from schemas.validation import declaration_warnings
from services.router.domain.routing_rules import load_routing_data
from services.router.service import route

RAW_OUT = ["bench.raw.a.v1", "bench.raw.b.v1", "bench.raw.c.v1", "bench.raw.d.v1"]


def _declaration() -> Declaration:
    return Declaration.model_validate_json(SAMPLE.read_text(encoding="utf-8"))


def submitted(declarations: Iterable[Declaration]) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of a DeclarationSubmitted for each declaration, as intake publishes
    them: each with a declaration id of its own and the warnings intake gave (the router
    computes them only for an event that does not carry them)."""
    ref = reference()
    for i, decl in enumerate(declarations):
        did = str(uuid.uuid4())
        payload = DeclarationSubmitted(
            declaration_id=did,
            reference=f"IAS-2026-84-{i:06d}",
            received_at=utcnow(),
            declaration=decl,
            warnings=declaration_warnings(decl, ref=ref),
        )
        env = envelope("DeclarationSubmitted", payload, correlation_id=uuid.UUID(did))
        yield did.encode(), env.to_bytes()


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


class Counted:
    """A batch handler that counts the records it is given, and calls `on_first` at the
    first one."""

    def __init__(self, inner: k.BatchHandler, on_first: Callable[[], None] | None) -> None:
        self.inner = inner
        self.on_first = on_first
        self.seen = 0
        self.first = 0.0

    def prepare(self, record: Any) -> Any:
        if not self.seen:
            if self.on_first is not None:
                self.on_first()
            self.first = time.perf_counter()
        self.seen += 1
        return self.inner.prepare(record)

    def handle_batch(self, prepared: Sequence[Any]) -> Sequence[k.Outgoing]:
        return self.inner.handle_batch(prepared)


def timed_loop(
    bootstrap: str,
    group: str,
    topic: str,
    n: int,
    handler: k.BatchHandler,
    max_records: int = 500,
    on_first: Callable[[], None] | None = None,
) -> float:
    """Seconds from the first record received to the last offset committed, for a
    ConsumerLoop (iaspipe.kafka, the services' own loop) with `handler` (k.OneByOne for a
    handler of each record); `on_first` is called at the first record (a profiler started
    then leaves out the group's join)."""
    settings = ServiceSettings(
        kafka_bootstrap_servers=[bootstrap], kafka_max_poll_records=max_records
    )
    counted = Counted(handler, on_first)
    loop = k.ConsumerLoop(
        group=group,
        consumer=k.make_consumer(settings, group, [topic], group),
        producer=k.make_producer(settings, group),
        batch_handler=counted,
        stop=threading.Event(),
        max_records=max_records,
    )
    deadline = time.monotonic() + 300
    while counted.seen < n and time.monotonic() < deadline:
        loop.run_once()
    end = time.perf_counter()
    loop.consumer.close(autocommit=False)
    loop.producer.close()
    if counted.seen < n:
        raise RuntimeError(f"{group} handled {counted.seen} of {n} records in time")
    return end - counted.first


def main(n: int = 5000, rounds: int = 2) -> dict[str, Any]:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_broker(port)
    data = load_routing_data()
    # As in the served router (iaspipe.http.serving.settle_heap); both loops run with it.
    settle_heap(ServiceSettings().gc_threshold)
    try:
        ensure_topics([bootstrap], partitions=3)
        ensure_topics([bootstrap], RAW_OUT, partitions=3)
        runs: dict[str, list[float]] = {"router": [], "raw": [], "prerouted": []}
        route_cpu: list[float] = []
        for r in range(rounds):
            source = f"bench.in.{r}.v1"
            ensure_topics([bootstrap], [source], partitions=3)
            records = list(submitted(itertools.repeat(_declaration(), n)))
            produce(bootstrap, source, records)
            cpu = time.process_time()
            ready = {value: route(value, data) for _, value in records}
            route_cpu.append((time.process_time() - cpu) / n)

            def raw(record: Any) -> list[k.Outgoing]:
                return [k.Outgoing(t, record.key, record.value) for t in RAW_OUT]

            def routed(record: Any) -> list[k.Outgoing]:
                return route(record.value, data)

            def prerouted(
                record: Any, ready: dict[bytes, list[k.Outgoing]] = ready
            ) -> list[k.Outgoing]:
                return ready[record.value]

            runs["raw"].append(timed_loop(bootstrap, f"raw-{r}", source, n, k.OneByOne(raw)))
            runs["prerouted"].append(
                timed_loop(bootstrap, f"prerouted-{r}", source, n, k.OneByOne(prerouted))
            )
            runs["router"].append(
                timed_loop(bootstrap, f"router-{r}", source, n, k.OneByOne(routed))
            )
    finally:
        broker.terminate()
        broker.wait(10)
    best = {name: min(times) for name, times in runs.items()}
    result = {
        "records": n,
        "rounds": rounds,
        "messages_out_per_record": 4,
        "router_records_per_s": round(n / best["router"], 1),
        "raw_records_per_s": round(n / best["raw"], 1),
        "throughput_ratio": round(best["raw"] / best["router"], 3),
        "prerouted_records_per_s": round(n / best["prerouted"], 1),
        "prerouted_ratio": round(best["raw"] / best["prerouted"], 3),
        "route_us_per_record": round((best["router"] - best["prerouted"]) / n * 1e6, 1),
        "route_cpu_us_per_record": round(min(route_cpu) * 1e6, 1),
        "seconds": {k2: [round(t, 3) for t in v] for k2, v in runs.items()},
    }
    print(json.dumps(result, indent=2))
    return result
