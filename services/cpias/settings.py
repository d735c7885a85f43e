"""CPias settings (environment prefix CPIAS_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from iaspipe.settings import ServiceSettings


class CpiasSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CPIAS_", extra="ignore")

    port: int = 8002
    database_url: str = "sqlite:///.data/cpias.db"
    consumer_group: str = "cpias"
    # Time to acknowledge a new case, by priority (hours).
    ack_hours: dict[str, float] = {"urgent": 4, "high": 24, "normal": 72}
    relay_batch_size: int = 500
    max_body_bytes: int = 64 * 1024
