"""Read whole topics back, for assertions."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer


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
