"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from iaspipe.auth import AuthSettings


class ServiceSettings(BaseSettings):
    # A subclass's own model_config adds to this one: it only names its env prefix.
    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = 8000
    kafka_bootstrap_servers: Annotated[list[str], NoDecode] = ["127.0.0.1:9092"]
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1000
    kafka_max_poll_interval_ms: int = 30000
    kafka_max_poll_records: int = 200
    # How long the broker may hold a fetch that has no record yet (kafka-python's
    # fetch_max_wait_ms, whose default of 500 ms made each idle hop of the pipeline cost
    # ~130 ms at the median on the embedded broker; 10 ms: 4 ms). An idle consumer asks
    # this much more often: 20 fetches a second at 50 ms.
    kafka_fetch_max_wait_ms: int = 50
    # After the broker went away: the longest wait between two attempts to reach it again
    # (kafka-python's default of 30 s kept a relay idle up to 30 s after the broker was back),
    # and how long building a client waits for a first broker before it fails and is retried.
    kafka_reconnect_backoff_max_ms: int = 1000
    kafka_bootstrap_timeout_ms: int = 10000
    # How long a producer tries to have a record acknowledged before it gives up (the record
    # stays unpublished, or uncommitted, and is sent again by a new producer). After a broker
    # restarted without its data, kafka-python 3.0 retries every 100 ms until this runs out,
    # taking the new broker's "unknown producer id" for an expired producer state: its 30 s
    # default held every relay and consumer 30 s after the broker was back.
    kafka_request_timeout_ms: int = 5000
    kafka_delivery_timeout_ms: int = 10000
    max_consecutive_dead_letters: int = 50
    log_level: str = "INFO"
    auth: AuthSettings = Field(default_factory=AuthSettings)
    # Slow clients: a request whose headers, or whose body, take longer is cut (408 for a body).
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 20.0
    # Python's cyclic garbage collector, in a served process: what the process built at start
    # (modules, schemas, reference data) is set apart from its scans (gc.freeze), and it runs
    # after this many new container objects instead of 700. Its full scans of the start-up
    # heap were intake's slowest answers (docs/benchmarks.md). 0: Python's own settings.
    gc_threshold: int = 10_000
    # Origins allowed to call the API from a browser; none unless configured.
    cors_origins: Annotated[list[str], NoDecode] = []

    @field_validator("kafka_bootstrap_servers", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value


class DatabaseServiceSettings(ServiceSettings):
    """A service with its own database, an outbox and a consumer (intake, cpias)."""

    processes: int = 1  # server processes; each runs its own relay and consumer
    # May hold a password: a secret, never printed. Each service sets its own default.
    database_url: SecretStr = SecretStr("sqlite:///.data/service.db")
    consumer_group: str = "service"
    max_body_bytes: int = 64 * 1024
    relay_batch_size: int = 500
    # False: this process serves and consumes but leaves the outbox to a relay process of its
    # own (`iaspipe relay intake` or `iaspipe relay cpias`, with the same settings), so that
    # publishing never competes with answering.
    relay_in_process: bool = True
    # When the broker lost records it had acknowledged (a restart without its data), what the
    # relay published in this many seconds before is published again.
    relay_republish_window_seconds: float = 900.0
    # After a short batch, wait this long so the next pass carries more rows.
    relay_linger_seconds: float = 0.1
