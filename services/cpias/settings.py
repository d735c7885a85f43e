"""CPias settings (environment prefix CPIAS_)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from iaspipe.settings import DatabaseServiceSettings


class CpiasSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CPIAS_", extra="ignore", env_nested_delimiter="__"
    )

    port: int = 8002
    database_url: SecretStr = SecretStr("sqlite:///.data/cpias.db")
    consumer_group: str = "cpias"
    # Time to acknowledge a new case, by priority (hours).
    ack_hours: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 4.0, "high": 24.0, "normal": 72.0}
    )

    # Remind the CPias team of a new case this long before its deadline, for these
    # priorities (hours); a warning goes to the ARS once any deadline has passed.
    remind_before_hours: dict[str, float] = Field(default_factory=lambda: {"urgent": 1.0})
    deadline_watch_every_seconds: float = 30.0

    @field_validator("remind_before_hours")
    @classmethod
    def _known_priorities(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - {"urgent", "high", "normal"}
        if unknown:
            raise ValueError(f"remind_before_hours: unknown priority {', '.join(sorted(unknown))}")
        if any(h <= 0 for h in value.values()):
            raise ValueError("remind_before_hours must be positive")
        return value

    @field_validator("ack_hours")
    @classmethod
    def _every_priority(cls, value: dict[str, float]) -> dict[str, float]:
        missing = {"urgent", "high", "normal"} - set(value)
        if missing:
            raise ValueError(f"ack_hours needs a deadline for {', '.join(sorted(missing))}")
        if any(h <= 0 for h in value.values()):
            raise ValueError("ack_hours must be positive")
        return value
