"""The notifier's HTTP contracts: the address book an admin reads and edits, and the messages
sent about a declaration (docs/notifications.md)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from schemas.plain import In

# One mailbox, as an e-mail header carries it unchanged: a local part of dot-separated
# words (letters, digits and !#$%&'*+/=?^_`{|}~-, other alphabets' letters too), no dot at
# either end or twice; a domain of at least two labels of letters, digits and inner hyphens,
# no dot at its end. No space, line break, comma, colon, bracket or quote: an address can
# never add a mail header, a second recipient, or a group name the header would drop.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_LABEL = r"[^\W_](?:(?:[^\W_]|-)*[^\W_])?"
MAILBOX_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$"
Address = Annotated[str, StringConstraints(max_length=254, pattern=MAILBOX_PATTERN)]


def is_mailbox(address: str | None) -> bool:
    """One address an e-mail may be sent to (a declarant's, taken from a declaration)."""
    return (
        address is not None
        and len(address) <= 254
        and re.fullmatch(MAILBOX_PATTERN, address) is not None
    )


class NonUrgent(StrEnum):
    """How a CPias team hears of new non-urgent cases (urgent ones always come at once)."""

    immediate = "immediate"
    digest = "digest"


class Audience(StrEnum):
    declarant = "declarant"
    cpias = "cpias"
    ars = "ars"


class MessageStatus(StrEnum):
    pending = "pending"  # not sent yet (waiting, or retrying after a failure)
    sent = "sent"
    failed = "failed"  # refused for good by the mail server (an unknown mailbox)
    no_address = "no_address"  # nobody to send it to: the address book has no address


class CpiasAddressIn(In):
    """A CPias team's shared mailbox, and how it hears of non-urgent new cases."""

    address: Address
    non_urgent: NonUrgent = NonUrgent.immediate


class ArsAddressIn(In):
    """The mailbox of an ARS region that is warned when an acknowledgement deadline passes."""

    address: Address


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _AddressView(_Out):
    """An entry of the address book: whom it is for (the subclass's key), its address, its
    last change."""

    name: str
    address: str | None
    updated_at: AwareDatetime | None
    updated_by: str | None


class CpiasAddressView(_AddressView):
    cpias: str
    non_urgent: NonUrgent


class ArsAddressView(_AddressView):
    region_code: str


class _Changed(_Out):
    readdressed: int = Field(
        description="How many messages of the last 72 hours, left without an address, are now "
        "sent to this one"
    )


class CpiasAddressChanged(CpiasAddressView, _Changed):
    """The answer to a change of a CPias team's entry: the entry as it now stands."""


class ArsAddressChanged(ArsAddressView, _Changed):
    """The answer to a change of an ARS region's entry: the entry as it now stands."""


class AddressBook(_Out):
    """Every CPias and every ARS region, with its address (null when none is set)."""

    cpias: list[CpiasAddressView]
    ars: list[ArsAddressView]
    digest_hour: int | None = Field(
        default=None, description="Local hour (CPias's clock) of the daily digest, every CPias"
    )


class NotificationView(_Out):
    """One e-mail about a declaration: its kind, to whom, and what became of it. A daily
    digest appears under each declaration it lists."""

    message_id: str
    kind: str = Field(description="A NotificationKind, or `digest` (the daily list of a CPias)")
    audience: Audience
    to: str | None
    status: MessageStatus
    created_at: AwareDatetime
    sent_at: AwareDatetime | None
    attempts: int


class NotificationPage(_Out):
    """The messages sent (or to send) about one declaration, oldest first."""

    declaration_id: str
    items: list[NotificationView]
