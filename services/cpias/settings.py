"""CPias settings (environment prefix CPIAS_)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from iaspipe.settings import ServiceSettings


class CpiasSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CPIAS_", extra="ignore", env_nested_delimiter="__"
    )

    processes: int = 1  # server processes; each runs its own relay and consumer
    port: int = 8002
    # May hold a password: a secret, never printed.
    database_url: SecretStr = SecretStr("sqlite:///.data/cpias.db")
    consumer_group: str = "cpias"
    # Time to acknowledge a new case, by priority (hours).
    ack_hours: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 4.0, "high": 24.0, "normal": 72.0}
    )
    relay_batch_size: int = 500
    # After a short batch, wait this long so the next pass carries more rows.
    relay_linger_seconds: float = 0.1

    @field_validator("ack_hours")
    @classmethod
    def _every_priority(cls, value: dict[str, float]) -> dict[str, float]:
        missing = {"urgent", "high", "normal"} - set(value)
        if missing:
            raise ValueError(f"ack_hours needs a deadline for {', '.join(sorted(missing))}")
        if any(h <= 0 for h in value.values()):
            raise ValueError("ack_hours must be positive")
        return value

    max_body_bytes: int = 64 * 1024
