"""Notifier settings (environment prefix NOTIFIER_). docs/notifications.md lists them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from iaspipe.settings import DatabaseServiceSettings
from schemas.events import NotificationKind
from schemas.notifications import Address, Audience, CpiasAddressIn


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: SecretStr | None = None
    timeout_seconds: float = 15.0


class AddressBookSeed(BaseModel):
    """Addresses written to the address book at start when it has none for that CPias or
    region (NOTIFIER_ADDRESS_BOOK, JSON): {"cpias": {"cpias-ara": {"address": "...",
    "non_urgent": "digest"}}, "ars": {"84": "..."}}. Admins edit them afterwards."""

    cpias: dict[str, CpiasAddressIn] = Field(default_factory=dict)
    ars: dict[str, Address] = Field(default_factory=dict)


def default_audiences() -> dict[NotificationKind, list[Audience]]:
    return {
        NotificationKind.receipt: [Audience.declarant],
        NotificationKind.case_closed: [Audience.declarant],
        NotificationKind.new_case: [Audience.cpias],
        NotificationKind.ack_reminder: [Audience.cpias],
        NotificationKind.ack_overdue: [Audience.ars],
        NotificationKind.complement: [Audience.cpias],
    }


class NotifierSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_")

    port: int = 8004
    database_url: SecretStr = SecretStr("sqlite:///.data/notifier.db")
    consumer_group: str = "notifier"
    # "file": one .eml per message in mail_dir (the embedded default); "smtp": a mail server.
    sender: Literal["file", "smtp"] = "file"
    mail_dir: Path = Path(".data/mail")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    from_address: str = "Signalement IAS <ne-pas-repondre@signalement-ias.invalid>"
    # The portal: every link of a message points at one of its pages.
    portal_url: str = "http://127.0.0.1:8000"
    address_book: AddressBookSeed = Field(default_factory=AddressBookSeed)
    # Who gets each kind of message; kinds not given keep their default audience.
    audiences: dict[NotificationKind, list[Audience]] = Field(default_factory=default_audiences)
    # Local hour (the CPias's own clock) of the daily digest of non-urgent new cases.
    digest_hour: int = Field(default=8, ge=0, le=23)
    dispatch_every_seconds: float = 1.0
    batch_size: int = 50
    # A sender claims its batch for this long: another replica leaves it alone meanwhile.
    claim_seconds: float = 300.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 300.0

    @field_validator("audiences")
    @classmethod
    def _over_the_defaults(
        cls, value: dict[NotificationKind, list[Audience]]
    ) -> dict[NotificationKind, list[Audience]]:
        return {**default_audiences(), **value}
