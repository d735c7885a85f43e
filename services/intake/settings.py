"""Intake settings (environment prefix INTAKE_)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from iaspipe.settings import DatabaseServiceSettings


class IntakeSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_")

    port: int = 8001
    database_url: SecretStr = SecretStr("sqlite:///.data/intake.db")
    consumer_group: str = "intake"
    idempotency_retention_hours: int = 48
    reconcile_after_seconds: float = 600.0
    reconcile_every_seconds: float = 5.0
    # PostgreSQL: store each submission in one statement over an async pool of this size.
    single_statement_submissions: bool = True
    submission_pool_size: int = 8
    # Statements writing submissions at the same time: the fewer, the larger each batch.
    submission_writers: int = 1
    # Submissions allowed per establishment, or per token subject for a sender without FINESS
    # (limits' notation: "N/second|minute|hour"), counted in this process (async+memory://) or in
    # Redis, shared by every intake process (async+redis://host:6379).
    submit_rate_limit: str = "60/minute"
    rate_limit_storage: str = "async+memory://"
