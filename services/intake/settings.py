"""Intake settings (environment prefix INTAKE_)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from iaspipe.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", extra="ignore", env_nested_delimiter="__"
    )

    processes: int = 1  # server processes; each runs its own relay and consumer
    port: int = 8001
    # May hold a password: a secret, never printed.
    database_url: SecretStr = SecretStr("sqlite:///.data/intake.db")
    max_body_bytes: int = 64 * 1024
    idempotency_retention_hours: int = 48
    reconcile_after_seconds: float = 600.0
    reconcile_every_seconds: float = 5.0
    relay_batch_size: int = 500
    # After a short batch, wait this long so the next pass carries more rows.
    relay_linger_seconds: float = 0.1
    timezone: str = "Europe/Paris"
    consumer_group: str = "intake"
    # Submissions allowed per token subject (limits' notation: "N/second|minute|hour").
    submit_rate_limit: str = "60/minute"
