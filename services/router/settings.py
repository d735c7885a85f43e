"""Router settings (environment prefix ROUTER_)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from iaspipe.settings import ServiceSettings
from services.router.domain.routing_rules import RULES_DIR


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_")

    port: int = 8003
    rules_file: Path = RULES_DIR / "rules.json"
    reference_dir: Path | None = None
    consumer_group: str = "router"
    topic_partitions: int = 3
    create_topics: bool = True
