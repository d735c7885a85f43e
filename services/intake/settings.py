"""Intake settings (environment prefix INTAKE_)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from iaspipe.settings import DatabaseServiceSettings
from schemas.topics import NATIONAL_RECIPIENTS, REGIONAL_KINDS

# The kinds of recipient a routing decision names (schemas/topics.py).
RECIPIENT_KINDS = ("cpias", *REGIONAL_KINDS, *NATIONAL_RECIPIENTS)


class IntakeSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_")

    port: int = 8001
    database_url: SecretStr = SecretStr("sqlite:///.data/intake.db")
    consumer_group: str = "intake"
    idempotency_retention_hours: int = 48
    reconcile_after_seconds: float = 600.0
    reconcile_every_seconds: float = 5.0
    # Besides the CPias (always awaited: it confirms when it opens the case), the kinds of
    # recipient whose systems confirm on ias.status.v1 (RecipientAcknowledged), so that a
    # declaration one of them has not confirmed is published again too; as JSON, e.g.
    # INTAKE_AWAITED_RECIPIENT_KINDS='["ars", "spf"]'. Empty: no other system is connected
    # that confirms, and waiting for it would publish every declaration again for ever.
    awaited_recipient_kinds: list[str] = Field(default_factory=list)
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

    @field_validator("awaited_recipient_kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(RECIPIENT_KINDS))
        if unknown:
            raise ValueError(
                f"unknown recipient kind(s) {', '.join(unknown)}: "
                f"expected among {', '.join(RECIPIENT_KINDS)}"
            )
        return kinds
