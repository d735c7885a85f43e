"""Messages: one e-mail to one mailbox, born from a notification request (or from the day's
non-urgent new cases of a CPias, the digest). Pure.

A message's id is derived from its cause: uuid5 of the request's event id and the audience,
or of the CPias and the day for a digest. The same request handled twice yields the same
message, which is stored once; the id is also the e-mail's Message-ID."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from schemas.events import NotificationKind, NotificationRequested, Priority, derived_event_id
from schemas.notifications import Audience, MessageStatus, NonUrgent, is_mailbox
from schemas.reference import ReferenceData, time_zone_of
from services.notifier.domain.address_book import CpiasEntry

DIGEST = "digest"
# Digest ids: uuid5 of this namespace and "<cpias>:<day>".
DIGEST_NAMESPACE = uuid.UUID("6f1d3f1e-5d0c-4c43-9a53-9c1f0e6a2b10")


@dataclass
class Message:
    message_id: str
    kind: str
    audience: Audience
    to: str | None
    status: MessageStatus
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    declaration_id: str | None = None
    request_event_id: str | None = None
    attempts: int = 0
    sent_at: dt.datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Plan:
    """What a request becomes: its messages, and whether it waits for the CPias's digest."""

    messages: list[Message]
    awaits_digest: bool


def message_id(event_id: str, audience: Audience) -> str:
    return str(derived_event_id(uuid.UUID(event_id), f"message:{audience.value}"))


def digest_id(cpias: str, day: dt.date) -> str:
    return str(uuid.uuid5(DIGEST_NAMESPACE, f"{cpias}:{day.isoformat()}"))


def goes_to_digest(request: NotificationRequested, entry: CpiasEntry | None) -> bool:
    """A non-urgent new case, for a CPias team that asked for a daily digest."""
    return (
        request.kind is NotificationKind.new_case
        and request.priority is not Priority.urgent
        and entry is not None
        and entry.non_urgent is NonUrgent.digest
    )


def plan(
    event_id: str,
    request: NotificationRequested,
    *,
    audiences: list[Audience],
    cpias: CpiasEntry | None,
    ars_address: str | None,
    now: dt.datetime,
    digest: bool = True,
) -> Plan:
    """The messages of a request, one per audience of its kind. A message nobody can receive
    (no address in the book) is kept as `no_address`, so the gap shows; the CPias team's
    non-urgent new cases may wait for its digest instead."""
    addresses = {
        # The declaration's own field: used only if it is one plain mailbox.
        Audience.declarant: request.declarant_email
        if is_mailbox(request.declarant_email)
        else None,
        Audience.cpias: cpias.address if cpias else None,
        Audience.ars: ars_address,
    }
    awaits_digest = False
    messages = []
    for audience in audiences:
        if audience is Audience.cpias and digest and goes_to_digest(request, cpias):
            awaits_digest = True
            continue
        to = addresses[audience]
        messages.append(
            Message(
                message_id=message_id(event_id, audience),
                kind=request.kind.value,
                audience=audience,
                to=to,
                status=MessageStatus.pending if to else MessageStatus.no_address,
                created_at=now,
                next_attempt_at=now,
                declaration_id=request.declaration_id,
                request_event_id=event_id,
            )
        )
    return Plan(messages, awaits_digest)


def digest_message(cpias: str, day: dt.date, entry: CpiasEntry | None, now: dt.datetime) -> Message:
    to = entry.address if entry else None
    return Message(
        message_id=digest_id(cpias, day),
        kind=DIGEST,
        audience=Audience.cpias,
        to=to,
        status=MessageStatus.pending if to else MessageStatus.no_address,
        created_at=now,
        next_attempt_at=now,
    )


def cpias_time_zone(ref: ReferenceData, cpias: str) -> dt.tzinfo:
    """The CPias's own clock: that of the first of its départements (the CPias Océan Indien
    is in La Réunion)."""
    codes = sorted(d.code for d in ref.departements.values() if d.cpias_id == cpias)
    return time_zone_of(codes[0] if codes else "")


def digest_day(zone: dt.tzinfo, now: dt.datetime, hour: int) -> dt.date | None:
    """The day whose digest is due at `now` (its local hour has come), else None."""
    local = now.astimezone(zone)
    return local.date() if local.hour >= hour else None


def digest_day_of(zone: dt.tzinfo, opened_at: dt.datetime, hour: int) -> dt.date:
    """The day of the digest a case goes into: the first digest hour at or after it was
    opened (a case opened at 14:00 is in tomorrow's digest, not one of its own today)."""
    local = opened_at.astimezone(zone)
    return local.date() if local.hour < hour else local.date() + dt.timedelta(days=1)


def retry_delay(attempts: int, *, base: float, cap: float) -> dt.timedelta:
    """Exponential backoff after the `attempts`-th failure, capped."""
    return dt.timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


class SendFailed(Exception):
    """The mail server did not take the message."""


class TransientSendError(SendFailed):
    """Try again later. `unavailable`: the server cannot be reached at all, so the other
    messages of the pass would fail the same way."""

    def __init__(self, reason: str, *, unavailable: bool = False) -> None:
        super().__init__(reason)
        self.unavailable = unavailable


class PermanentSendError(SendFailed):
    """The server refused this message for good (an unknown mailbox): retrying is useless."""
