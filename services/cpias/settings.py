"""CPias settings (environment prefix CPIAS_)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from iaspipe.settings import DatabaseServiceSettings
from services.cpias.domain.clusters import ClusterRules


class ClusterSettings(BaseModel):
    """The cluster rule and the thresholds (docs/clusters.md), e.g.
    CPIAS_CLUSTERS__WINDOW_DAYS=21, CPIAS_CLUSTERS__THRESHOLD_EPISODES=4."""

    # Largest gap between two episode dates (onset, else detection) for a suggestion.
    window_days: int = Field(default=30, ge=0, le=365)
    # Suggestions made for one new case at most (same département first, then the closest).
    max_suggestions: int = Field(default=10, ge=0, le=100)
    # N episodes of one mechanism family in one département within D days raise an alert.
    threshold_episodes: int = Field(default=3, ge=2, le=1000)
    threshold_days: int = Field(default=30, ge=1, le=365)

    def rules(self) -> ClusterRules:
        return ClusterRules(
            window_days=self.window_days,
            max_suggestions=self.max_suggestions,
            threshold_episodes=self.threshold_episodes,
            threshold_days=self.threshold_days,
        )


class CpiasSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CPIAS_")

    port: int = 8002
    database_url: SecretStr = SecretStr("sqlite:///.data/cpias.db")
    consumer_group: str = "cpias"
    # Time to acknowledge a new case, by priority (hours).
    ack_hours: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 4.0, "high": 24.0, "normal": 72.0}
    )
    clusters: ClusterSettings = Field(default_factory=ClusterSettings)

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
