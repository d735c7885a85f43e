"""Read whole topics back, for assertions."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def read_topics(
    bootstrap: str, topics: list[str], *, expect: int = 0, timeout: float = 30, idle_ms: int = 1500
) -> list[Any]:
    """Every record of the topics from the beginning (at least `expect`, within timeout)."""
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
        group_id=None,
    )
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            out.extend(consumer)
            if len(out) >= expect:
                break
    finally:
        consumer.close()
    return out


def read_to_end(bootstrap: str, topics: list[str], *, timeout: float = 60) -> list[Any]:
    """Every record the topics hold when called: from the beginning of each partition to
    its end offset of that moment, however slowly the broker answers."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    deadline = time.monotonic() + timeout
    try:
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topics} not read to their end within {timeout} s")
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        consumer.close()
